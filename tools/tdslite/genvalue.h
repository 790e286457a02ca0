#pragma once
/*
 * Invented but plausible ConnectWise values, chosen by column name and
 * type (genvalue.c). Shared by the generator (rows 1..N of a fresh data set)
 * and the churn simulator (new rows and updates "now").
 */
#include <stdbool.h>
#include <stdint.h>

#include "tdslite.h"

struct sqlite3_stmt;

/* xoshiro256** seeded through splitmix64: fast, and the same on every machine. */
struct rng {
    uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed, const char *salt);
uint64_t rng_next(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n); /* 0..n-1; n > 0 */
bool rng_chance(struct rng *r, unsigned percent);

enum gv_role {
    GV_PLAIN,        /* decided by name heuristics and type */
    GV_PK,           /* the row's id */
    GV_FK,           /* 1..fk_max of another table */
    GV_SELF_FK,      /* parent row: a lower id of the same table, often NULL */
    GV_LAST_UPDATE,  /* the cursor column, local time */
    GV_LAST_UPDATE_UTC,
    GV_DATE_ENTERED, /* some time before the last update */
};

struct gv_col {
    char name[129];      /* SQL column name */
    struct tds_type type;
    bool nullable;
    enum gv_role role;
    uint64_t fk_max;     /* GV_FK: target rows 1..fk_max */
};

struct gv_table {
    char name[129];
    struct gv_col *cols;
    size_t n_cols;
    uint64_t rows;       /* rows to generate / rows believed present */
    uint64_t seed;       /* per table: keeps a row's timestamps consistent across columns */
};

/* Sets c->role from the column name (Last_Update, Date_Entered, ...); PK and
 * FK roles are set by the caller, who knows the keys. */
void gv_col_classify(struct gv_col *c);

/* Timestamps: generation spreads rows 1..rows over ten years with bulk-import
 * groups of identical Last_Update values; churn uses "now" (minus late_s). */
struct gv_clock {
    bool churn;
    int64_t now_s;   /* churn: UTC seconds since the Unix epoch */
    unsigned late_s; /* churn: this update commits late, dated this many seconds ago */
};

/* Binds row `id` of t to parameters 1..n_cols of st. */
void gv_row_bind(struct sqlite3_stmt *st, const struct gv_table *t, uint64_t id, struct rng *r,
                 const struct gv_clock *clk);
/* Binds one column's value to parameter idx. */
void gv_value_bind(struct sqlite3_stmt *st, int idx, const struct gv_table *t,
                   const struct gv_col *c, uint64_t id, struct rng *r, const struct gv_clock *clk);
