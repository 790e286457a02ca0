#pragma once
/*
 * Configuration of the server and the tools (cwcachectl reads the same
 * file). Sources, lowest to highest precedence: built-in defaults, a
 * `key = value` file (--config FILE, else $CWCACHE_CONFIG, else
 * ./cwcache.conf or the installed CONF_SYSTEM_FILE when present), the
 * environment variables the original service reads (DATABASE_URL, PSK,
 * PORT), and command-line flags (--key value or --key=value, '_' written
 * as '-'). Immutable once loaded (STYLE R7).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

/* Defaults and ranges live in the key table in conf.c, nowhere else. */
struct conf {
    char *config;             /* the file read, or NULL */
    char *database_url;       /* DATABASE_URL */
    char *psk;                /* PSK */
    unsigned port;            /* 0 lets the kernel choose */
    char *bind;               /* NULL: every interface */
    char *data_dir;
    unsigned map_size_mb;     /* LMDB map size */
    char *schema;
    char *collectors;
    char *tls_cert, *tls_key; /* both: https/wss */
    unsigned ping_interval;   /* ms */
    unsigned ping_timeout;    /* ms */
    unsigned connect_timeout; /* ms without a CONNECT before the session closes; 0: none */
    unsigned upgrade_timeout; /* ms an upgrade may take before its websocket is closed */
    uint64_t max_payload;     /* bytes */
    unsigned loops;           /* service loops (0: one per online core) */
    unsigned workers;         /* query threads */
    unsigned live_pool;       /* live fallback connections */
    unsigned live_timeout_ms; /* bound of one live-fallback request */
    unsigned answer_cache_mb; /* rendered answers kept for reuse; 0: off */
    unsigned answer_buffers_mb; /* freed answer buffers kept for the next answers */
    unsigned max_answer_mb;   /* largest answer sent; larger ones are refused */
    unsigned max_session_buffer_mb;   /* a session's unwritten bytes past its current answer */
    unsigned inline_render_rows;    /* smaller answers render on the loop, not a worker */
    unsigned max_inflight_per_session;/* a session's events being rendered */
    unsigned poll_interval_ms;
    unsigned overlap_s;       /* late-commit window re-read before each cursor */
    unsigned reconcile_s;     /* delete reconciliation interval */
    unsigned batch_rows;      /* keyset page size */
    unsigned write_txn_mb;    /* bulk passes: row bytes per write transaction */
    unsigned page_mb;         /* bulk passes: bytes of rows per fetched page */
    unsigned index_build_mb;  /* index build after a first load: sort memory */
    unsigned warm_retry_s;    /* cwcachectl warm: outage tolerated before giving up */
    bool poll_summary;        /* one count/newest query per poll (docs/poller.md) */
    unsigned change_log_max_entries; /* change log bounds (cache/changes.c) */
    unsigned change_log_max_age_s;
    unsigned max_staleness_s; /* readiness: how long ago a model may have matched the source */
    bool poller;              /* run the poller thread */
    char *log_level;
    char *cors_origins;       /* comma-separated allow-list; empty: echo any */
    bool http_compression;    /* gzip/deflate polling answers (engine.io's httpCompression) */
    unsigned http_compression_threshold; /* bytes: smaller answers are sent as they are */
    bool ws_permessage_deflate; /* offer permessage-deflate on websockets */
    unsigned auth_delay_ms;
    unsigned auth_delay_max_ms;
    unsigned shutdown_timeout_ms;
    char *port_file;          /* write the bound port there once listening */
    bool insecure_no_psk;     /* start without a PSK */
};

/* Sets every key to its table default (owned strings). */
void conf_init(struct conf *c);
void conf_fini(struct conf *c);
/* Applies one key (as named in the file) from text. -EINVAL with a
 * message in err ("unknown key", "bad value ..."). */
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen) MUST_CHECK;
/* Applies one flag ("--batch-rows") as the command line would, for tools
 * that share the server's keys; errors name the flag. */
int conf_set_flag(struct conf *c, const char *flag, const char *value, char *err,
                  size_t errlen) MUST_CHECK;
/* Reads a key = value file ('#' comments, blank lines); errors as
 * "file:line: message". */
int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen) MUST_CHECK;
/* DATABASE_URL, PSK, PORT when set and non-empty. */
int conf_load_env(struct conf *c, char *err, size_t errlen) MUST_CHECK;
/* Flags only. Returns 1 when --help was given, 2 for --help-markdown
 * (nothing else applied). */
int conf_load_args(struct conf *c, int argc, char **argv, char *err, size_t errlen) MUST_CHECK;
/* The configuration file to read: --config FILE (or --config=FILE), else
 * $CWCACHE_CONFIG, else CONF_LOCAL_FILE or CONF_SYSTEM_FILE (paths.h) when
 * present; *out NULL: none. *out points into argv, the environment or a
 * constant. -EINVAL with err when --config has no value. */
int conf_file_find(int argc, char **argv, const char **out, char *err, size_t errlen) MUST_CHECK;
/* The file conf_file_find() names, then the environment, on top of what c
 * holds: what a tool reads before its own options. */
int conf_load_shared(struct conf *c, int argc, char **argv, char *err, size_t errlen) MUST_CHECK;
/* Everything in precedence order: defaults, --config file, environment,
 * flags. 1: --help; 2: --help-markdown; 0: loaded and checked; -EINVAL
 * with err. */
int conf_load(struct conf *c, int argc, char **argv, char *err, size_t errlen) MUST_CHECK;
/* --help, generated from the key table. */
void conf_usage(FILE *f, const char *prog);
/* The key table as the Markdown table of docs/server.md (between its
 * conf-table markers); a unit test keeps the two equal. */
void conf_markdown(FILE *f);
/* The default of a key as text, or NULL (unknown key or no default). */
const char *conf_default(const char *key);
