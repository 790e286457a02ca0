#include "clock.h"

#include <time.h>

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t clock_mono_ms(void) { return (int64_t)(clock_mono_ns() / 1000000u); }

int64_t clock_mono_us(void) { return (int64_t)(clock_mono_ns() / 1000u); }

double clock_mono_s(void) { return (double)clock_mono_ns() / 1e9; }
