/*
 * Session and socket ids, the PSK comparison and the per-address delay
 * that slows down key guessing.
 */
#include "sio/auth.h"

#include <assert.h>
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#define ID_RAW 15 /* bytes behind the 20 base64url characters */

static void random_bytes(uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no entropy at all: ids would be guessable */
        }
        p += r;
        n -= (size_t)r;
    }
}

/* The slot is masked with a per-process random word so that ids do not
 * show how many sessions the server has had. */
static uint32_t slot_mask;
static pthread_once_t mask_once = PTHREAD_ONCE_INIT;

static void mask_init(void)
{
    uint8_t r[4];
    random_bytes(r, sizeof r);
    slot_mask = get_be32(r);
}

void sio_id_make(char out[SIO_ID_LEN + 1], uint32_t slot)
{
    uint8_t raw[ID_RAW];
    char enc[SIO_ID_LEN + 8]; /* lws wants room beyond the last group */
    pthread_once(&mask_once, mask_init);
    put_be32(raw, slot ^ slot_mask);
    random_bytes(raw + 4, sizeof raw - 4);
    int n = lws_b64_encode_string_url((const char *)raw, ID_RAW, enc, sizeof enc);
    assert(n == SIO_ID_LEN);
    memcpy(out, enc, SIO_ID_LEN);
    out[SIO_ID_LEN] = '\0';
}

void sio_id_random(char out[SIO_ID_LEN + 1])
{
    uint8_t r[4];
    random_bytes(r, sizeof r);
    sio_id_make(out, get_be32(r));
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

int sio_id_slot(const char *s, size_t len, uint32_t *slot)
{
    if (len != SIO_ID_LEN)
        return -EINVAL;
    /* lws' decoder skips characters outside the alphabet and accepts
     * padding: an id is exactly 20 alphabet characters. */
    for (size_t i = 0; i < len; i++)
        if (!b64url_char(s[i]))
            return -EINVAL;
    char raw[ID_RAW + 8];
    if (lws_b64_decode_string_len(s, SIO_ID_LEN, raw, sizeof raw) != ID_RAW)
        return -EINVAL;
    pthread_once(&mask_once, mask_init);
    *slot = get_be32((const uint8_t *)raw) ^ slot_mask;
    return 0;
}

bool sio_psk_equal(const char *expected, const char *given, size_t given_len)
{
    /* Every byte of the expected key is compared whatever the input, so
     * the time depends only on the key's length, never on how much of a
     * guess is right. */
    size_t n = strlen(expected);
    unsigned diff = (unsigned)(n != given_len);
    for (size_t i = 0; i < n; i++) {
        uint8_t g = i < given_len ? (uint8_t)given[i] : 0;
        diff |= (unsigned)((uint8_t)expected[i] ^ g);
    }
    return diff == 0;
}

static struct sio_auth_entry *entry_find(struct sio_auth_table *t, const char *addr, int64_t now)
{
    struct sio_auth_entry *victim = NULL;
    for (size_t i = 0; i < SIO_AUTH_SLOTS; i++) {
        struct sio_auth_entry *e = &t->e[i];
        if (e->addr[0] && strcmp(e->addr, addr) == 0) {
            if (now - e->last_ms > SIO_AUTH_FORGET_MS)
                e->failures = 0;
            return e;
        }
        if (!e->addr[0]) {
            if (!victim || victim->addr[0])
                victim = e;
        } else if (!victim || (victim->addr[0] && e->last_ms < victim->last_ms)) {
            victim = e;
        }
    }
    /* A full table forgets the address that failed longest ago: the
     * table stays bounded under a flood of source addresses. */
    snprintf(victim->addr, sizeof victim->addr, "%s", addr);
    victim->failures = 0;
    return victim;
}

unsigned sio_auth_fail(struct sio_auth_table *t, const char *addr, int64_t now_ms)
{
    struct sio_auth_entry *e = entry_find(t, addr, now_ms);
    e->last_ms = now_ms;
    if (e->failures < 64)
        e->failures++;
    if (e->failures <= 2 || t->base_ms == 0)
        return 0;
    uint64_t d = t->base_ms;
    for (uint32_t k = 3; k < e->failures && d < t->max_ms; k++)
        d *= 2;
    return (unsigned)(d < t->max_ms ? d : t->max_ms);
}
