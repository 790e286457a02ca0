#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

struct log_repeat_key {
    char last[LOG_REPEAT_TEXT];
    int64_t at_ms;
    bool said;
};

enum log_level log_level = LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_emit(enum log_level l, const char *group, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000,
                  level_names[l], group);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line keeps lines from different threads whole. */
    size_t len = strlen(line);
    if (len < sizeof line - 1) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
}

int log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_repeat_init(struct log_repeat *r, size_t n_keys, int64_t repeat_ms)
{
    r->keys = xcalloc(n_keys ? n_keys : 1, sizeof *r->keys);
    r->n = n_keys;
    r->repeat_ms = repeat_ms;
}

void log_repeat_fini(struct log_repeat *r)
{
    free(r->keys);
    *r = (struct log_repeat){0};
}

bool log_repeat_due(struct log_repeat *r, size_t key, const char *msg, int64_t now_ms)
{
    struct log_repeat_key *k = &r->keys[key];
    if (k->said && strncmp(k->last, msg, sizeof k->last - 1) == 0 &&
        now_ms - k->at_ms < r->repeat_ms)
        return false;
    /* Only a prefix is kept for the comparison above: copy without snprintf,
     * whose truncation warning (-Wformat-truncation) fails release builds. */
    size_t n = strnlen(msg, sizeof k->last - 1);
    memcpy(k->last, msg, n);
    k->last[n] = '\0';
    k->at_ms = now_ms;
    k->said = true;
    return true;
}
