#pragma once
/*
 * Server configuration. Sources, lowest to highest precedence: built-in
 * defaults, a `key = value` file (--config FILE), the environment
 * variables the original service reads (DATABASE_URL, PSK, PORT), and
 * command-line flags (--key value or --key=value, '_' written as '-').
 * Immutable once loaded (STYLE R7).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

struct conf {
    char *config;             /* the file read, or NULL */
    char *database_url;       /* DATABASE_URL */
    char *psk;                /* PSK */
    unsigned port;            /* PORT; 3000; 0 lets the kernel choose */
    char *bind;               /* NULL: every interface */
    char *data_dir;           /* ./data */
    char *schema;             /* schema/ */
    char *collectors;         /* collectors/ */
    char *tls_cert, *tls_key; /* both: https/wss */
    unsigned ping_interval;   /* ms, 25000 */
    unsigned ping_timeout;    /* ms, 20000 */
    unsigned connect_timeout; /* ms without a CONNECT before the session closes, 45000; 0: none */
    uint64_t max_payload;     /* bytes, 1000000 */
    unsigned workers;         /* query threads, 2 */
    unsigned live_pool;       /* live fallback connections, 2 */
    unsigned answer_cache_mb; /* rendered answers kept for reuse, 256; 0: off */
    unsigned poll_interval_ms;/* 5000 */
    bool poller;              /* run the poller thread (true) */
    char *log_level;          /* "info" */
    char *cors_origins;       /* comma-separated allow-list; empty: echo any */
    unsigned auth_delay_ms;   /* 250 */
    unsigned auth_delay_max_ms; /* 8000 */
    unsigned shutdown_timeout_ms; /* 5000 */
    char *port_file;          /* write the bound port there once listening */
    bool insecure_no_psk;     /* start without a PSK */
};

/* Sets the defaults (owned strings). */
void conf_init(struct conf *c);
void conf_fini(struct conf *c);
/* Applies one key (as named in the file) from text. -EINVAL with a
 * message in err ("unknown key", "bad value ..."). */
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen) MUST_CHECK;
/* Reads a key = value file ('#' comments, blank lines); errors as
 * "file:line: message". */
int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen) MUST_CHECK;
/* DATABASE_URL, PSK, PORT when set and non-empty. */
int conf_load_env(struct conf *c, char *err, size_t errlen) MUST_CHECK;
/* Flags only. Returns 1 when --help was given (nothing else applied). */
int conf_load_args(struct conf *c, int argc, char **argv, char *err, size_t errlen) MUST_CHECK;
/* Everything in precedence order: defaults, --config file, environment,
 * flags. 1: --help; 0: loaded and checked; -EINVAL with err. */
int conf_load(struct conf *c, int argc, char **argv, char *err, size_t errlen) MUST_CHECK;
void conf_usage(FILE *f, const char *prog);
