#pragma once
/*
 * Session and socket ids, the PSK comparison and the per-address delay
 * after failed authentication (auth.c). No libwebsockets types: the ids'
 * base64 comes from libwebsockets inside auth.c only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- Ids and auth (auth.c) ------------------------------------------------- */

#define SIO_ID_LEN 20 /* base64url characters, as engine.io's base64id */

/* 20 url-safe characters from 15 bytes; the first 4 bytes carry `slot`
 * big-endian so a sid finds its session without a hash table. */
void sio_id_make(char out[SIO_ID_LEN + 1], uint32_t slot);
/* -EINVAL unless s is a well-formed id; *slot decoded from it. */
int sio_id_slot(const char *s, size_t len, uint32_t *slot) MUST_CHECK;

/* A session's slot word names its service loop in the top bits and its
 * slot in that loop's table in the rest (loops.c, session.c). */
#define SIO_LOOPS_MAX 64
#define SIO_LOOP_SHIFT 24
#define SIO_SLOT_MASK ((1u << SIO_LOOP_SHIFT) - 1)
/* 20 url-safe characters, all random (socket ids). */
void sio_id_random(char out[SIO_ID_LEN + 1]);
/* Constant-time in the expected key's length. */
bool sio_psk_equal(const char *expected, const char *given, size_t given_len);

/* Failed-auth delays per client address: a bounded table, oldest entry
 * evicted. Each failure doubles the delay from `base_ms` (the first two
 * failures are free), up to `max_ms`; an address forgiven after
 * SIO_AUTH_FORGET_MS without failures. */
#define SIO_AUTH_SLOTS 256
#define SIO_AUTH_FORGET_MS 600000
struct sio_auth_entry {
    char addr[48];
    uint32_t failures;
    int64_t last_ms;
};
struct sio_auth_table {
    struct sio_auth_entry e[SIO_AUTH_SLOTS];
    unsigned base_ms, max_ms;
};
/* Records a failure from addr at now_ms; returns the delay to apply. */
unsigned sio_auth_fail(struct sio_auth_table *t, const char *addr, int64_t now_ms);
