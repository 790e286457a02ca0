/*
 * SQL Server's case-insensitive collation for SQLite: text columns are
 * declared COLLATE NOCASE (generate.c), and every tdslite connection
 * replaces SQLite's ASCII-only NOCASE by cwcache's own rule (src/collate.h:
 * Latin/Greek/Cyrillic case folding, accents significant, trailing spaces
 * ignored), and LIKE by the same folding; uniqueidentifier columns are
 * declared COLLATE GUID, SQL Server's GUID order. So a client (Prisma included)
 * sees the equality, order and LIKE matches cwcache computes from its
 * cache. Other SQLite users of the file (the tests' Python) keep the
 * built-in NOCASE: text columns carry no index, so nothing stored depends
 * on which one ran.
 */
#include "tdslite.h"

#include <errno.h>
#include <sqlite3.h>

#include "collate.h"

static int nocase_cmp(void *arg, int alen, const void *a, int blen, const void *b)
{
    (void)arg;
    return collate_cmp(a, (size_t)alen, b, (size_t)blen);
}

/* uniqueidentifier columns (declared COLLATE GUID) compare and sort as
 * SQL Server compares GUIDs, by byte groups, not as text (collate.h). */
static int guid_cmp(void *arg, int alen, const void *a, int blen, const void *b)
{
    (void)arg;
    return collate_guid_cmp(a, (size_t)alen, b, (size_t)blen);
}

struct like {
    const uint8_t *p, *s;
    size_t pn, sn;
    uint32_t esc; /* 0: none */
};

/* T-SQL LIKE without character classes: % any run, _ one code point,
 * the escape character makes the next one literal. */
static bool like_at(const struct like *l, size_t pi, size_t si)
{
    while (pi < l->pn) {
        size_t next = pi;
        uint32_t c = collate_next(l->p, l->pn, &next);
        bool literal = l->esc && c == l->esc && next < l->pn;
        if (literal)
            c = collate_next(l->p, l->pn, &next);
        if (!literal && c == '%') {
            for (size_t k = si;; collate_next(l->s, l->sn, &k)) {
                if (like_at(l, next, k))
                    return true;
                if (k >= l->sn)
                    return false;
            }
        }
        if (si >= l->sn)
            return false;
        uint32_t sc = collate_next(l->s, l->sn, &si);
        if ((literal || c != '_') && collate_fold(c) != collate_fold(sc))
            return false;
        pi = next;
    }
    return si == l->sn;
}

/* like(pattern, text[, escape]): SQLite's argument order for `text LIKE pattern`. */
static void fn_like(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return; /* NULL */
    struct like l = {sqlite3_value_text(argv[0]), sqlite3_value_text(argv[1]),
                     (size_t)sqlite3_value_bytes(argv[0]), (size_t)sqlite3_value_bytes(argv[1]), 0};
    if (argc == 3 && sqlite3_value_type(argv[2]) != SQLITE_NULL) {
        const uint8_t *e = sqlite3_value_text(argv[2]);
        size_t en = (size_t)sqlite3_value_bytes(argv[2]), i = 0;
        if (en)
            l.esc = collate_next(e, en, &i);
    }
    sqlite3_result_int(ctx, like_at(&l, 0, 0));
}

int tds_collation_register(sqlite3 *db)
{
    const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    int rc = sqlite3_create_collation_v2(db, "NOCASE", SQLITE_UTF8, NULL, nocase_cmp, NULL);
    rc |= sqlite3_create_collation_v2(db, "GUID", SQLITE_UTF8, NULL, guid_cmp, NULL);
    rc |= sqlite3_create_function(db, "like", 2, det, NULL, fn_like, NULL, NULL);
    rc |= sqlite3_create_function(db, "like", 3, det, NULL, fn_like, NULL, NULL);
    return rc == SQLITE_OK ? 0 : -EIO;
}
