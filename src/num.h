#pragma once
/*
 * The one integer parser for text from outside (config values, URL parts,
 * HTTP headers, command arguments): strict, so "12 ", "+1", "-0", "0x10"
 * and "" are refused rather than read as something else.
 */
#include <stdint.h>

/* An unsigned decimal that is the whole of s, at most max. 0, -EINVAL (not
 * one: empty, a sign, a space, any non-digit) or -ERANGE (above max). */
int num_parse_u64(const char *s, uint64_t max, uint64_t *out);
