#pragma once
/*
 * Level-checked logging (STYLE R8): arguments are not evaluated when the
 * level is off. Lines go to stderr as "<time> <LEVEL> <group>: message".
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Log groups: the module that speaks. */
#define LOG_MAIN   "main"
#define LOG_CACHE  "cache"
#define LOG_POLLER "poller"
#define LOG_SIO    "sio"
#define LOG_LIVE   "live"
#define LOG_TOOL   "tool"

extern enum log_level log_level;

void log_emit(enum log_level l, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int log_level_parse(const char *s);

#define log_at(l, g, ...)                                                                          \
    do {                                                                                           \
        if ((l) <= log_level)                                                                      \
            log_emit((l), (g), __VA_ARGS__);                                                       \
    } while (0)
#define log_error(g, ...) log_at(LOG_ERROR, g, __VA_ARGS__)
#define log_warn(g, ...)  log_at(LOG_WARN, g, __VA_ARGS__)
#define log_info(g, ...)  log_at(LOG_INFO, g, __VA_ARGS__)
#define log_debug(g, ...) log_at(LOG_DEBUG, g, __VA_ARGS__)

/* Repeated failures are logged once (STYLE R8): a message passes when its
 * key (a model, the connection) last said something else, or said it more
 * than repeat_ms ago. One key's noise never hides another's news. Owned
 * by one thread; _fini accepts a zeroed struct. */
#define LOG_REPEAT_TEXT 256 /* compared prefix of a message */
struct log_repeat {
    struct log_repeat_key *keys;
    size_t n;
    int64_t repeat_ms;
};
void log_repeat_init(struct log_repeat *r, size_t n_keys, int64_t repeat_ms);
void log_repeat_fini(struct log_repeat *r);
/* true: log msg now (and remember it for key at now_ms). */
bool log_repeat_due(struct log_repeat *r, size_t key, const char *msg, int64_t now_ms);
