#pragma once
/*
 * A small JSON writer that appends to a buf: no DOM on the hot path
 * (STYLE R5). Output matches JSON.stringify byte for byte for the values
 * it writes, so cached and live answers can be compared as bytes.
 */
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* A JSON string literal with quotes; escapes as JSON.stringify does
 * (\" \\ \b \f \n \r \t, other controls as \u00XX, lone surrogates never
 * occur because input is UTF-8; invalid UTF-8 becomes U+FFFD, one per maximal
 * invalid subpart, exactly as Node decodes the same bytes). */
void json_put_str(struct buf *b, const char *s, size_t n);
void json_put_cstr(struct buf *b, const char *s);
void json_put_i64(struct buf *b, int64_t v);
void json_put_u64(struct buf *b, uint64_t v);
/* A double as JavaScript prints it: shortest round-trip digits, integers
 * without ".0", exponent form beyond 1e21; NaN and infinities as null. */
void json_put_double(struct buf *b, double v);
void json_put_bool(struct buf *b, bool v);
/* Milliseconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (quoted), as
 * Date#toJSON: years outside 0..9999 as "+YYYYYY"/"-YYYYYY"; beyond the
 * ECMAScript range (+-8.64e15 ms) null. */
void json_put_datetime_ms(struct buf *b, int64_t ms);
