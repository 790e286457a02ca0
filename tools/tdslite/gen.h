#pragma once
/*
 * The ConnectWise-like data set: tables derived from the Prisma schema
 * (generate.c), rows invented by field-name heuristics (genvalue.c), and a
 * churn simulator that keeps changing them (churn.c).
 */
#include <stdbool.h>
#include <stdint.h>

#include "tdslite.h"

struct gen_opts {
    const char *db_path;
    const char *schema_path;  /* a .prisma file or a directory of them */
    uint64_t companies;       /* SIZE: the number of Company rows; others scale with it */
    uint64_t seed;
    bool quiet;
};

/* Creates db_path from scratch (an existing file is replaced) and fills it.
 * Skips the work when db_path already holds a data set generated with the
 * same size, seed and schema. 0, or -errno with the reason logged. */
int gen_run(const struct gen_opts *o) MUST_CHECK;

/* Applies n random changes (inserts, updates with Last_Update bumped,
 * late commits, hard deletes of leaf rows) in one transaction. */
int churn_once(const char *db_path, uint64_t n, uint64_t seed) MUST_CHECK;

/* Background churn at `rate` changes per second, until churn_stop(). */
struct churn;
int churn_start(struct churn **out, const char *db_path, double rate, uint64_t seed) MUST_CHECK;
void churn_stop(struct churn *c); /* accepts NULL */
