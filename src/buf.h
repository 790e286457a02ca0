#pragma once
/*
 * Growable byte buffers and non-owning views (STYLE R5).
 *
 * A buf owns its memory and keeps its capacity across buf_reset(), so a
 * session or a poller reuses one buffer for every request or batch. The
 * optional headroom in front of the payload lets libwebsockets write in
 * place (it needs LWS_PRE bytes before the data).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MUST_CHECK __attribute__((warn_unused_result))

struct buf {
    uint8_t *mem;  /* owned; NULL until the first append */
    size_t head;   /* headroom in front of the payload */
    size_t len;    /* payload bytes at mem + head */
    size_t cap;    /* payload capacity (excludes head) */
};

struct slice {
    const uint8_t *p; /* not owned; lifetime stated where it is produced */
    size_t len;
};

void buf_init(struct buf *b, size_t headroom);
void buf_fini(struct buf *b);                     /* accepts a zeroed buf */
void buf_reset(struct buf *b);                    /* len = 0, keeps capacity */
void buf_grow(struct buf *b, size_t extra); /* buf_reserve when the room is short */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ensures cap >= len + extra; aborts on OOM. Inline with buf_append: a
 * row's encoding calls them for every value, and the calls cost more than
 * the copies (the fetch thread's CPU in a warm-up). */
static inline void buf_reserve(struct buf *b, size_t extra)
{
    if (!b->mem || b->cap - b->len < extra)
        buf_grow(b, extra);
}

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    buf_reserve(b, n);
    memcpy(b->mem + b->head + b->len, p, n);
    b->len += n;
}

static inline uint8_t *buf_data(const struct buf *b) { return b->mem ? b->mem + b->head : NULL; }
static inline void buf_putc(struct buf *b, char c)
{
    if (b->len == b->cap)
        buf_reserve(b, 1);
    b->mem[b->head + b->len++] = (uint8_t)c;
}
static inline void buf_puts(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }
static inline struct slice buf_slice(const struct buf *b) { return (struct slice){buf_data(b), b->len}; }
static inline struct slice slice_str(const char *s) { return (struct slice){(const uint8_t *)s, strlen(s)}; }
static inline int slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
/* Byte order (memcmp), a proper prefix first. */
static inline int slice_cmp(struct slice a, struct slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* Allocation that aborts on OOM, as h2o and redis do (STYLE R3). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Big-endian integer keys: byte order is numeric order (STYLE R6). */
static inline void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
/* Reads are one load (and a byte swap on little-endian hosts): every
 * rendered row reads its header through these, and GCC keeps a byte loop
 * as eight loads and shifts. */
static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline uint16_t get_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    return v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static inline uint32_t get_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}
