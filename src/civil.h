#pragma once
/*
 * The proleptic Gregorian calendar (Howard Hinnant's days_from_civil and
 * its inverse): day numbers since 1970-01-01, exact for negative days.
 * One implementation for parsing ISO dates (cache/where.c) and printing
 * them (json.c).
 */
#include <stdbool.h>
#include <stdint.h>

/* Whether y-m-d is a date: 1 <= m <= 12 and 1 <= d <= the month's length. */
bool civil_valid(int64_t y, unsigned m, unsigned d);
/* Days from 1970-01-01 to y-m-d; the date must be valid. */
int64_t civil_to_days(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
