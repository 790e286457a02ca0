#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void buf_init(struct buf *b, size_t headroom) { *b = (struct buf){.head = headroom}; }

void buf_fini(struct buf *b)
{
    free(b->mem);
    b->mem = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b) { b->len = 0; }

/* A buffer of 1 MiB or more (an answer) is its own mapping (main.c's mmap
 * threshold) whose pages would fault in one by one as it is written: 14k
 * faults for the 57 MB of 50k full records, each a trap that costs tens of
 * microseconds on a paravirtualized machine. The pages it grows by are
 * made present in one call instead (MADV_POPULATE_WRITE, Linux 5.14; on
 * older kernels the call fails and pages fault as before). */
#define BUF_POPULATE_MIN (1u << 20)
static void populate(uint8_t *mem, size_t from, size_t to)
{
    uintptr_t page = 4096, lo = ((uintptr_t)mem + from + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)mem + to) & ~(page - 1);
    if (to >= BUF_POPULATE_MIN && hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

void buf_grow(struct buf *b, size_t extra)
{
    /* A request that cannot fit in memory is an OOM: doubling would wrap. */
    if (extra > SIZE_MAX / 4 - b->len - b->head)
        abort();
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    size_t old = b->mem ? b->head + b->cap : 0;
    b->mem = xrealloc(b->mem, b->head + cap);
    b->cap = cap;
    populate(b->mem, old, b->head + cap);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->mem + b->head + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
