#pragma once
/*
 * Timing helpers shared by the benchmarks in tools/bench/ (their clock is
 * src/clock.h's clock_mono_s). Header only: each benchmark is one
 * executable, and some (tds_stream) do not link the core library.
 */
#include <stddef.h>
#include <stdlib.h>

#include "clock.h"

static inline int bench_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) in place and returns its median (the mean of the two middle
 * values when n is even); n must be at least 1. A median, not a mean, so
 * one run disturbed by another process does not move the figure. */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_double_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
