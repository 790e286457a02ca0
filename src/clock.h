#pragma once
/*
 * The process's clocks, in one place. Wall time is for what is stored or
 * shown (run records, the change log's age); the monotonic clock is for
 * every interval, timeout and measurement, because the wall clock jumps.
 */
#include <stdint.h>

int64_t clock_wall_ms(void);  /* ms since the Unix epoch (CLOCK_REALTIME) */
uint64_t clock_mono_ns(void); /* CLOCK_MONOTONIC; the others are this, scaled */
int64_t clock_mono_us(void);
int64_t clock_mono_ms(void);
double clock_mono_s(void);
