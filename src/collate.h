#pragma once
/*
 * The string collation cwcache and tdslite share: the cache filters and
 * sorts with it, and tdslite registers it with SQLite, so both answer as
 * one SQL Server database with a case-insensitive, accent-sensitive
 * collation (ConnectWise: SQL_Latin1_General_CP1_CI_AS) would.
 *
 * The rule, exactly:
 *   - Text is UTF-8; a byte that does not start a valid sequence counts as
 *     the code point of its own value.
 *   - Each code point is folded to lower case by collate_fold(): ASCII,
 *     Latin-1 Supplement, Latin Extended-A, Greek and Cyrillic capitals.
 *     Accented letters stay distinct from their base letter ("é" != "e").
 *   - Equality and order compare the folded code points one by one; a
 *     proper prefix sorts first. Trailing spaces (U+0020) are ignored, as
 *     SQL Server's padded comparison ignores them ("a " = "a").
 *   - contains/startsWith/endsWith (LIKE) match folded code points and do
 *     not ignore trailing spaces.
 * Real SQL Server orders accented letters next to their base letter; this
 * rule orders them by code point (after every ASCII letter). Equality, and
 * the order of text without accents, are the same.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum collate_match { COLLATE_CONTAINS, COLLATE_STARTS, COLLATE_ENDS };

uint32_t collate_fold(uint32_t cp);
/* Decodes the code point at *i (advancing *i); n > *i. */
uint32_t collate_next(const uint8_t *s, size_t n, size_t *i);
/* <0, 0, >0 as a sorts before, equal to, after b. */
int collate_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/*
 * uniqueidentifier order, as SQL Server compares GUIDs (and .NET's SqlGuid):
 * by the bytes of its stored form in the order 10-15, 8-9, 6-7, 4-5, 0-3,
 * where the first three groups are stored little-endian. In the text form
 * "00112233-4455-6677-8899-aabbccddeeff" that is bytes aa bb cc dd ee ff,
 * 88 99, 77 66, 55 44, 33 22 11 00: not the text's order. Case is
 * ignored; text that is not a GUID falls back to collate_cmp().
 */
int collate_guid_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* Whether hay contains / starts with / ends with needle under the folding. */
bool collate_match(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen,
                   enum collate_match how);
