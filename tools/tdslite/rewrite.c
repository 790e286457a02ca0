/*
 * T-SQL -> SQLite rewrite (see rewrite.h for the supported subset).
 *
 * Nothing here pastes a value into SQL text: parameters stay parameters
 * (SQLite's own @name syntax) and literals are copied token by token, so a
 * string can never escape its quotes. Errors carry SQL Server's numbers:
 * 102 (incorrect syntax), 105 (unclosed quote), 113 (missing end comment),
 * 137 (undeclared variable), 208 (invalid object), 2715 (unknown type).
 */
#include "rewrite.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- tokenizer ------------------------------------------------------------------------------- */

enum tk { T_WORD, T_QID, T_STR, T_NSTR, T_NUM, T_HEX, T_PARAM, T_SYSVAR, T_OP };

struct token {
    enum tk k;
    const char *p; /* raw text, quotes and brackets included */
    size_t len;
};

struct toks {
    struct token *t;
    size_t n, cap;
};

static void toks_push(struct toks *ts, enum tk k, const char *p, size_t len)
{
    if (ts->n == ts->cap) {
        ts->cap = ts->cap ? ts->cap * 2 : 64;
        ts->t = xrealloc(ts->t, ts->cap * sizeof *ts->t);
    }
    ts->t[ts->n++] = (struct token){k, p, len};
}

static bool id_start(unsigned char c) { return isalpha(c) || c == '_' || c == '#' || c >= 0x80; }
static bool id_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '#' || c == '$' || c == '@' || c >= 0x80;
}

/* Length of a quoted run starting at s[0] == open, with `close` doubled as its escape. */
static size_t quoted_len(const char *s, size_t n, char close)
{
    for (size_t i = 1; i < n; i++) {
        if (s[i] != close)
            continue;
        if (i + 1 < n && s[i + 1] == close) {
            i++;
            continue;
        }
        return i + 1;
    }
    return 0; /* unterminated */
}

static size_t number_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < n && isdigit((unsigned char)s[j])) {
            while (j < n && isdigit((unsigned char)s[j]))
                j++;
            i = j;
        }
    }
    return i;
}

static int unclosed(struct tds_error *e, const char *s, size_t n)
{
    tds_error_set(e, 105, 15, "Unclosed quotation mark after the character string '%.*s'.",
                  (int)(n > 60 ? 60 : n), s);
    return -EINVAL;
}

static int tokenize(struct toks *ts, const char *s, size_t n, struct tds_error *e)
{
    static const char *const ops2[] = {"<=", ">=", "<>", "!=", "!<", "!>", "||"};
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *p = s + i;
        size_t rest = n - i, len;
        if (isspace(c)) {
            i++;
        } else if (c == '-' && rest > 1 && p[1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
        } else if (c == '/' && rest > 1 && p[1] == '*') {
            int nest = 0; /* T-SQL block comments nest */
            size_t j = i;
            for (;;) {
                if (j + 1 >= n) {
                    tds_error_set(e, 113, 15, "Missing end comment mark '*/'.");
                    return -EINVAL;
                }
                if (s[j] == '/' && s[j + 1] == '*') {
                    nest++;
                    j += 2;
                } else if (s[j] == '*' && s[j + 1] == '/') {
                    j += 2;
                    if (--nest == 0)
                        break;
                } else {
                    j++;
                }
            }
            i = j;
        } else if (c == '\'' || ((c == 'N' || c == 'n') && rest > 1 && p[1] == '\'')) {
            size_t q = c == '\'' ? 0 : 1;
            if (!(len = quoted_len(p + q, rest - q, '\'')))
                return unclosed(e, p + q + 1, rest - q - 1);
            toks_push(ts, q ? T_NSTR : T_STR, p, len + q);
            i += len + q;
        } else if (c == '[' || c == '"') {
            if (!(len = quoted_len(p, rest, c == '[' ? ']' : '"')))
                return unclosed(e, p + 1, rest - 1);
            toks_push(ts, T_QID, p, len);
            i += len;
        } else if (c == '0' && rest > 1 && (p[1] == 'x' || p[1] == 'X')) {
            len = 2;
            while (len < rest && isxdigit((unsigned char)p[len]))
                len++;
            toks_push(ts, T_HEX, p, len);
            i += len;
        } else if (isdigit(c) || (c == '.' && rest > 1 && isdigit((unsigned char)p[1]))) {
            len = number_len(p, rest);
            toks_push(ts, T_NUM, p, len);
            i += len;
        } else if (c == '@') {
            bool sys = rest > 1 && p[1] == '@';
            len = sys ? 2 : 1;
            while (len < rest && id_char((unsigned char)p[len]))
                len++;
            if (len == (sys ? 2u : 1u)) {
                tds_error_set(e, 102, 15, "Incorrect syntax near '@'.");
                return -EINVAL;
            }
            toks_push(ts, sys ? T_SYSVAR : T_PARAM, p, len);
            i += len;
        } else if (id_start(c)) {
            len = 1;
            while (len < rest && id_char((unsigned char)p[len]))
                len++;
            toks_push(ts, T_WORD, p, len);
            i += len;
        } else {
            len = 1;
            for (size_t k = 0; k < sizeof ops2 / sizeof *ops2; k++)
                if (rest > 1 && p[0] == ops2[k][0] && p[1] == ops2[k][1])
                    len = 2;
            toks_push(ts, T_OP, p, len);
            i += len;
        }
    }
    return 0;
}

/* ---- token predicates ---------------------------------------------------------------------- */

static bool tok_is(const struct token *t, const char *word)
{
    size_t l = strlen(word);
    return t->k == T_WORD && t->len == l && strncasecmp(t->p, word, l) == 0;
}

static bool tok_op(const struct token *t, const char *op)
{
    size_t l = strlen(op);
    return t->k == T_OP && t->len == l && memcmp(t->p, op, l) == 0;
}

static bool tok_any(const struct token *t, const char *const *words)
{
    for (; *words; words++)
        if (tok_is(t, *words))
            return true;
    return false;
}

/* The name a WORD or QID token stands for, unescaped, into out (RW_NAME_MAX). */
static void tok_name(const struct token *t, char *out)
{
    size_t o = 0;
    if (t->k == T_QID) {
        char close = t->p[0] == '[' ? ']' : '"';
        for (size_t i = 1; i + 1 < t->len && o < RW_NAME_MAX - 1; i++) {
            out[o++] = t->p[i];
            if (t->p[i] == close)
                i++; /* doubled closing character */
        }
    } else {
        for (size_t i = 0; i < t->len && o < RW_NAME_MAX - 1; i++)
            out[o++] = t->p[i];
    }
    out[o] = '\0';
}

static int syntax_near(struct tds_error *e, const struct token *t)
{
    if (!t)
        tds_error_set(e, 102, 15, "Incorrect syntax near the end of the batch.");
    else
        tds_error_set(e, 102, 15, "Incorrect syntax near '%.*s'.", (int)(t->len > 60 ? 60 : t->len),
                      t->p);
    return -EINVAL;
}

static int unsupported(struct tds_error *e, const char *what)
{
    tds_error_set(e, 50000, 16, "tdslite does not support %s.", what);
    return -EINVAL;
}

/* ---- output helpers -------------------------------------------------------------------------- */

static void out_word(struct buf *o, const char *s, size_t n)
{
    if (o->len && buf_data(o)[o->len - 1] != ' ' && buf_data(o)[o->len - 1] != '(' &&
        !(n == 1 && (s[0] == ')' || s[0] == ',' || s[0] == '.')) &&
        buf_data(o)[o->len - 1] != '.')
        buf_putc(o, ' ');
    buf_append(o, s, n);
}

static void out_str(struct buf *o, const char *s) { out_word(o, s, strlen(s)); }

void rw_ident_put(struct buf *b, const char *name)
{
    buf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            buf_putc(b, '"');
        buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

static void out_ident(struct buf *o, const char *name)
{
    struct buf q;
    buf_init(&q, 0);
    rw_ident_put(&q, name);
    out_word(o, (const char *)buf_data(&q), q.len);
    buf_fini(&q);
}

/* ---- statement rewriting --------------------------------------------------------------------- */

#define MAX_DEPTH 64

struct rw {
    const struct token *t;
    size_t n;             /* tokens of this statement */
    struct rw_stmt *st;
    const char *dbname;
    struct tds_error *e;
    int depth;
    char *limit[MAX_DEPTH]; /* pending LIMIT text of the SELECT open at each depth */
    bool items_done;
};

static int rw_one(struct rw *r, size_t i, struct buf *o, size_t *next);

static const struct token *tok_at(const struct rw *r, size_t i) { return i < r->n ? &r->t[i] : NULL; }

/* Index of the token matching the '(' at i, or r->n. */
static size_t match_paren(const struct rw *r, size_t i)
{
    int d = 0;
    for (size_t k = i; k < r->n; k++) {
        if (tok_op(&r->t[k], "("))
            d++;
        else if (tok_op(&r->t[k], ")") && --d == 0)
            return k;
    }
    return r->n;
}

static int rw_range(struct rw *r, size_t i, size_t end, struct buf *o)
{
    while (i < end) {
        size_t next;
        if (rw_one(r, i, o, &next) < 0)
            return -EINVAL;
        i = next;
    }
    return 0;
}

static void from_add(struct rw_stmt *st, const char *name)
{
    st->from = xrealloc(st->from, (st->n_from + 1) * sizeof *st->from);
    snprintf(st->from[st->n_from++], RW_NAME_MAX, "%s", name);
}

static const char *const info_views[][2] = {
    {"TABLES", "__tdslite_is_tables"},
    {"COLUMNS", "__tdslite_is_columns"},
    {"KEY_COLUMN_USAGE", "__tdslite_is_key_column_usage"},
    {"TABLE_CONSTRAINTS", "__tdslite_is_table_constraints"},
    {"REFERENTIAL_CONSTRAINTS", "__tdslite_is_referential_constraints"},
    {NULL, NULL},
};

/* A possibly multi-part name at i: db.schema.object, schema.object, object.column, t.* */
static int rw_name(struct rw *r, size_t i, struct buf *o, size_t *next, char *last)
{
    char parts[4][RW_NAME_MAX];
    int np = 0;
    bool star = false;
    for (;;) {
        const struct token *t = tok_at(r, i);
        if (np == 4)
            return syntax_near(r->e, t);
        if (t && (t->k == T_WORD || t->k == T_QID)) {
            tok_name(t, parts[np++]);
            i++;
        } else if (t && tok_op(t, "*") && np > 0) {
            star = true;
            i++;
            break;
        } else if (t && tok_op(t, ".")) {
            parts[np++][0] = '\0'; /* db..table */
        } else {
            return syntax_near(r->e, t);
        }
        if (!tok_at(r, i) || !tok_op(tok_at(r, i), "."))
            break;
        i++;
    }
    *next = i;
    int first = 0;
    /* INFORMATION_SCHEMA.X (optionally db.INFORMATION_SCHEMA.X) */
    int is = np >= 2 && strcasecmp(parts[0], "INFORMATION_SCHEMA") == 0   ? 0
             : np >= 3 && strcasecmp(parts[1], "INFORMATION_SCHEMA") == 0 ? 1
                                                                          : -1;
    if (is >= 0) {
        const char *view = NULL;
        for (int k = 0; info_views[k][0]; k++)
            if (strcasecmp(parts[is + 1], info_views[k][0]) == 0)
                view = info_views[k][1];
        if (!view) {
            tds_error_set(r->e, 208, 16, "Invalid object name 'INFORMATION_SCHEMA.%s'.",
                          parts[is + 1]);
            return -EINVAL;
        }
        r->st->info_schema = true;
        out_str(o, "temp.");
        out_ident(o, view);
        if (last)
            snprintf(last, RW_NAME_MAX, "%s", view);
        for (int k = is + 2; k < np; k++) {
            out_word(o, ".", 1);
            out_ident(o, parts[k]);
        }
        if (star)
            out_word(o, ".*", 2);
        return 0;
    }
    if (np >= 2 && strcasecmp(parts[0], "sys") == 0) {
        tds_error_set(r->e, 208, 16, "Invalid object name 'sys.%s'.", parts[1]);
        return -EINVAL;
    }
    if (np >= 3 && (parts[1][0] == '\0' || strcasecmp(parts[1], "dbo") == 0))
        first = 2; /* db.dbo.object, db..object */
    else if (np >= 2 && (parts[0][0] == '\0' || strcasecmp(parts[0], "dbo") == 0))
        first = 1; /* dbo.object */
    for (int k = first; k < np; k++) {
        if (parts[k][0] == '\0')
            return syntax_near(r->e, tok_at(r, *next - 1));
        if (k > first)
            out_word(o, ".", 1);
        out_ident(o, parts[k]);
    }
    if (star)
        out_word(o, ".*", 2);
    if (last)
        snprintf(last, RW_NAME_MAX, "%s", parts[np - 1]);
    return 0;
}

static const char *const table_hints[] = {
    "NOLOCK",      "READUNCOMMITTED", "READCOMMITTED", "REPEATABLEREAD", "SERIALIZABLE",
    "ROWLOCK",     "PAGLOCK",         "TABLOCK",       "TABLOCKX",       "UPDLOCK",
    "XLOCK",       "HOLDLOCK",        "NOWAIT",        "READPAST",       "INDEX",
    "FORCESEEK",   "FORCESCAN",       "SNAPSHOT",      "FILLFACTOR",     "PAD_INDEX",
    "DATA_COMPRESSION", "IGNORE_DUP_KEY", "STATISTICS_NORECOMPUTE", "ALLOW_ROW_LOCKS",
    "ALLOW_PAGE_LOCKS", "ONLINE",     "SORT_IN_TEMPDB", "DROP_EXISTING", NULL,
};

static const char *const func_map[][2] = {
    {"SYSUTCDATETIME", "tdslite_sysutcdatetime"},
    {"SYSDATETIME", "tdslite_sysdatetime"},
    {"GETUTCDATE", "tdslite_getutcdate"},
    {"GETDATE", "tdslite_getdate"},
    {"DB_NAME", "tdslite_db_name"},
    {"COUNT_BIG", "count"},
    {"ISNULL", "ifnull"},
    {"LEN", "length"},
    {"DATALENGTH", "tdslite_datalength"},
    {"NEWID", "tdslite_newid"},
    {"SUBSTRING", "substr"},
    {"CHARINDEX", "tdslite_charindex"},
    {"CONCAT", "tdslite_concat"},
    {"SCOPE_IDENTITY", "last_insert_rowid"},
    {NULL, NULL},
};

static const char *const sysvar_map[][2] = {
    {"@@VERSION", "tdslite_version()"},
    {"@@SPID", "tdslite_spid()"},
    {"@@ROWCOUNT", "changes()"},
    {"@@IDENTITY", "last_insert_rowid()"},
    {"@@TRANCOUNT", "tdslite_trancount()"},
    {"@@SERVERNAME", "'" TDS_SERVER_NAME "'"},
    {"@@SERVICENAME", "'MSSQLSERVER'"},
    {"@@LANGUAGE", "'us_english'"},
    {"@@MAX_PRECISION", "38"},
    {"@@DATEFIRST", "7"},
    {"@@TEXTSIZE", "2147483647"},
    {"@@ERROR", "0"},
    {"@@OPTIONS", "0"},
    {NULL, NULL},
};

/* Renders tokens [a, b) into a fresh string (the caller frees). */
static char *rw_sub(struct rw *r, size_t a, size_t b)
{
    struct buf o;
    buf_init(&o, 0);
    if (rw_range(r, a, b, &o) < 0) {
        buf_fini(&o);
        return NULL;
    }
    buf_putc(&o, '\0');
    return (char *)buf_data(&o);
}

/* TOP n | TOP (expr) right after SELECT [DISTINCT|ALL]: remembered as LIMIT. */
static int rw_top(struct rw *r, size_t i, size_t *next)
{
    const struct token *t = tok_at(r, i + 1);
    size_t a, b;
    if (t && tok_op(t, "(")) {
        a = i + 1;
        b = match_paren(r, a) + 1;
        if (b > r->n)
            return syntax_near(r->e, NULL);
    } else if (t && (t->k == T_NUM || t->k == T_PARAM)) {
        a = i + 1;
        b = i + 2;
    } else {
        return syntax_near(r->e, t);
    }
    if (tok_at(r, b) && tok_is(tok_at(r, b), "PERCENT"))
        return unsupported(r->e, "TOP ... PERCENT");
    if (tok_at(r, b + 1) && tok_is(tok_at(r, b), "WITH") && tok_is(tok_at(r, b + 1), "TIES"))
        return unsupported(r->e, "TOP ... WITH TIES");
    if (r->limit[r->depth])
        return unsupported(r->e, "TOP in more than one SELECT of one query level");
    if (!(r->limit[r->depth] = rw_sub(r, a, b)))
        return -EINVAL;
    *next = b;
    return 0;
}

/* OFFSET n ROW[S] [FETCH FIRST|NEXT m ROW[S] ONLY] */
static int rw_offset(struct rw *r, size_t i, struct buf *o, size_t *next)
{
    static const char *const rows[] = {"ROW", "ROWS", NULL};
    size_t k = i + 1;
    while (k < r->n && !tok_any(&r->t[k], rows))
        k++;
    if (k >= r->n || k == i + 1)
        return syntax_near(r->e, tok_at(r, k));
    char *off = rw_sub(r, i + 1, k), *lim = NULL;
    if (!off)
        return -EINVAL;
    k++;
    const struct token *t = tok_at(r, k);
    if (t && tok_is(t, "FETCH")) {
        const struct token *fn = tok_at(r, k + 1);
        if (!fn || !(tok_is(fn, "NEXT") || tok_is(fn, "FIRST"))) {
            free(off);
            return syntax_near(r->e, fn);
        }
        size_t a = k + 2, m = a;
        while (m < r->n && !tok_any(&r->t[m], rows))
            m++;
        if (m >= r->n || m == a || !tok_at(r, m + 1) || !tok_is(tok_at(r, m + 1), "ONLY")) {
            free(off);
            return syntax_near(r->e, tok_at(r, m));
        }
        if (!(lim = rw_sub(r, a, m))) {
            free(off);
            return -EINVAL;
        }
        k = m + 2;
    }
    if (r->limit[r->depth]) {
        free(off);
        free(lim);
        tds_error_set(r->e, 10741, 15,
                      "A TOP can not be used in the same query or sub-query as a OFFSET.");
        return -EINVAL;
    }
    out_str(o, "LIMIT");
    out_str(o, lim ? lim : "-1");
    out_str(o, "OFFSET");
    out_str(o, off);
    free(off);
    free(lim);
    *next = k;
    return 0;
}

static void limit_flush(struct rw *r, struct buf *o)
{
    if (!r->limit[r->depth])
        return;
    out_str(o, "LIMIT");
    out_str(o, r->limit[r->depth]);
    free(r->limit[r->depth]);
    r->limit[r->depth] = NULL;
}

/* ---- select-list analysis (result column types and names) ------------------------------------ */

static void item_type(struct rw_item *it, const char *decl)
{
    it->hint = tds_type_parse(decl, strlen(decl), &it->type) == 0 ? RH_TYPE : RH_NONE;
}

/* True when [a, b) is one possibly multi-part name; its last part goes to name. */
static bool is_name(const struct rw *r, size_t a, size_t b, char *name)
{
    if (a >= b)
        return false;
    for (size_t k = a; k < b; k++) {
        bool want_name = (k - a) % 2 == 0;
        const struct token *t = &r->t[k];
        if (want_name ? !(t->k == T_WORD || t->k == T_QID) : !tok_op(t, "."))
            return false;
    }
    if ((b - a) % 2 == 0)
        return false;
    tok_name(&r->t[b - 1], name);
    return true;
}

static void item_literal(struct rw_item *it, const struct token *t)
{
    char decl[64];
    if (t->k == T_NUM) {
        bool frac = memchr(t->p, '.', t->len) != NULL, ex = false;
        for (size_t k = 0; k < t->len; k++)
            ex |= t->p[k] == 'e' || t->p[k] == 'E';
        if (ex) {
            item_type(it, "float");
        } else if (frac) {
            size_t dot = (size_t)((const char *)memchr(t->p, '.', t->len) - t->p);
            size_t scale = t->len - dot - 1, prec = t->len - 1;
            snprintf(decl, sizeof decl, "numeric(%zu,%zu)", prec > 38 ? 38 : prec < 1 ? 1 : prec,
                     scale > 38 ? 38 : scale);
            item_type(it, decl);
        } else {
            item_type(it, t->len < 10 || (t->len == 10 && memcmp(t->p, "2147483647", 10) <= 0)
                              ? "int"
                              : "bigint");
        }
    } else if (t->k == T_STR || t->k == T_NSTR) {
        size_t q = t->k == T_NSTR ? 1 : 0, n = t->len - q - 2;
        size_t units = utf8_utf16_units(t->p + q + 1, n);
        snprintf(decl, sizeof decl, "%s(%zu)", q ? "nvarchar" : "varchar",
                 units < 1 ? 1 : units > 4000 ? 4000 : units);
        item_type(it, decl);
    }
}

static void item_sysvar(struct rw_item *it, const struct token *t)
{
    static const char *const types[][2] = {
        {"@@VERSION", "nvarchar(300)"}, {"@@SPID", "smallint"},       {"@@ROWCOUNT", "int"},
        {"@@IDENTITY", "bigint"},       {"@@TRANCOUNT", "int"},       {"@@SERVERNAME", "nvarchar(128)"},
        {"@@SERVICENAME", "nvarchar(128)"}, {"@@LANGUAGE", "nvarchar(128)"},
        {"@@MAX_PRECISION", "tinyint"}, {"@@DATEFIRST", "tinyint"},   {"@@TEXTSIZE", "int"},
        {"@@ERROR", "int"},             {"@@OPTIONS", "int"},
    };
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        if (t->len == strlen(types[k][0]) && strncasecmp(t->p, types[k][0], t->len) == 0)
            item_type(it, types[k][1]);
}

/* CAST(expr AS type) with its '(' at open and tokens up to end: the type
 * follows the last AS at depth 1; 0 when there is none. */
static size_t cast_as(const struct rw *r, size_t open, size_t end)
{
    size_t as = 0;
    int d = 0;
    for (size_t k = open; k < end; k++) {
        if (tok_op(&r->t[k], "("))
            d++;
        else if (tok_op(&r->t[k], ")"))
            d--;
        else if (d == 1 && tok_is(&r->t[k], "AS"))
            as = k;
    }
    return as;
}

/* FUNC(...) spanning [a, b): the type it yields. */
static void item_func(struct rw *r, struct rw_item *it, size_t a, size_t b)
{
    static const char *const fixed[][2] = {
        {"COUNT_BIG", "bigint"},       {"COUNT", "int"},         {"SYSUTCDATETIME", "datetime2(7)"},
        {"SYSDATETIME", "datetime2(7)"}, {"GETDATE", "datetime"}, {"GETUTCDATE", "datetime"},
        {"DB_NAME", "nvarchar(128)"},  {"NEWID", "uniqueidentifier"}, {"LEN", "int"},
        {"DATALENGTH", "int"},         {"CHARINDEX", "int"},          {"CONCAT", "nvarchar(4000)"},
    };
    const struct token *f = &r->t[a];
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++)
        if (tok_is(f, fixed[k][0])) {
            item_type(it, fixed[k][1]);
            return;
        }
    if (tok_is(f, "CAST")) {
        size_t as = cast_as(r, a + 1, b);
        if (!as)
            return;
        char decl[128];
        size_t o = 0;
        for (size_t k = as + 1; k + 1 < b && o + r->t[k].len < sizeof decl; k++) {
            memcpy(decl + o, r->t[k].p, r->t[k].len);
            o += r->t[k].len;
        }
        decl[o] = '\0';
        item_type(it, decl);
        return;
    }
    char col[RW_NAME_MAX];
    size_t arg_end = a + 2;
    while (arg_end < b - 1 && !tok_op(&r->t[arg_end], ","))
        arg_end++;
    if (!is_name(r, a + 2, arg_end, col))
        return;
    if (tok_is(f, "MIN") || tok_is(f, "MAX") || tok_is(f, "ISNULL") || tok_is(f, "COALESCE"))
        it->hint = RH_COLUMN;
    else if (tok_is(f, "SUM"))
        it->hint = RH_SUM;
    else if (tok_is(f, "AVG"))
        it->hint = RH_AVG;
    else
        return;
    snprintf(it->name, sizeof it->name, "%s", col);
}

static void item_analyze(struct rw *r, struct rw_item *it, size_t a, size_t b)
{
    static const char *const not_alias[] = {"END", "NULL", "ASC", "DESC", NULL};
    memset(it, 0, sizeof *it);
    char name[RW_NAME_MAX];
    bool alias = false;
    if (b - a >= 3 && tok_is(&r->t[b - 2], "AS")) {
        alias = true;
        b -= 2;
    } else if (b - a >= 2) {
        const struct token *last = &r->t[b - 1], *prev = &r->t[b - 2];
        bool prev_ok = prev->k != T_OP || tok_op(prev, ")"); /* not `a + b`, not `t.c` */
        if (prev_ok && (((last->k == T_WORD || last->k == T_QID) && !tok_any(last, not_alias)) ||
                        last->k == T_STR)) {
            alias = true; /* SELECT COUNT(*) n, SELECT 1 'label' */
            b -= 1;
        }
    }
    if (is_name(r, a, b, name))
        return; /* a column: its table decides */
    it->anon = !alias;
    const struct token *t = &r->t[a];
    if (b - a == 1) {
        if (t->k == T_NUM || t->k == T_STR || t->k == T_NSTR)
            item_literal(it, t);
        else if (t->k == T_SYSVAR)
            item_sysvar(it, t);
        else if (t->k == T_PARAM) {
            it->hint = RH_PARAM;
            size_t k = 0;
            for (; k < t->len && k < RW_NAME_MAX - 1; k++)
                it->name[k] = (char)tolower((unsigned char)t->p[k]);
            it->name[k] = '\0';
        } else if (tok_is(t, "CURRENT_TIMESTAMP"))
            item_type(it, "datetime");
        return;
    }
    if (b - a == 2 && tok_op(t, "-") && r->t[a + 1].k == T_NUM) {
        item_literal(it, &r->t[a + 1]);
        return;
    }
    if (t->k == T_WORD && tok_op(&r->t[a + 1], "(") && match_paren(r, a + 1) == b - 1)
        item_func(r, it, a, b);
}

/* Records the select list starting at i (after SELECT [DISTINCT] [TOP ...]). */
static void items_collect(struct rw *r, size_t i)
{
    static const char *const stop[] = {"FROM",  "INTO",   "WHERE",     "GROUP",  "ORDER",
                                       "UNION", "EXCEPT", "INTERSECT", "HAVING", "OPTION",
                                       NULL};
    struct rw_stmt *st = r->st;
    r->items_done = true;
    st->items_valid = true;
    size_t a = i;
    int d = 0;
    for (size_t k = i;; k++) {
        bool end = k >= r->n || (d == 0 && (tok_any(&r->t[k], stop) || tok_op(&r->t[k], ")") ||
                                            tok_op(&r->t[k], ";")));
        if (end || (d == 0 && tok_op(&r->t[k], ","))) {
            if (k == a) {
                st->items_valid = false;
                return;
            }
            for (size_t m = a; m < k; m++)
                if (tok_op(&r->t[m], "*") &&
                    (m == a || tok_op(&r->t[m - 1], ".") || tok_op(&r->t[m - 1], ",")) &&
                    (m + 1 == k))
                    st->items_valid = false; /* '*' or t.*: positions unknown */
            st->items = xrealloc(st->items, (st->n_items + 1) * sizeof *st->items);
            item_analyze(r, &st->items[st->n_items++], a, k);
            a = k + 1;
            if (end)
                return;
            continue;
        }
        if (tok_op(&r->t[k], "("))
            d++;
        else if (tok_op(&r->t[k], ")"))
            d--;
    }
}

/* SELECT [DISTINCT|ALL] [TOP ...] */
static int rw_select(struct rw *r, size_t i, struct buf *o, size_t *next)
{
    out_str(o, "SELECT");
    i++;
    const struct token *t = tok_at(r, i);
    if (t && (tok_is(t, "DISTINCT") || tok_is(t, "ALL"))) {
        out_word(o, t->p, t->len);
        t = tok_at(r, ++i);
    }
    if (t && tok_is(t, "TOP") && rw_top(r, i, &i) < 0)
        return -EINVAL;
    if (r->depth == 0 && !r->items_done)
        items_collect(r, i);
    *next = i;
    return 0;
}

/* A literal with more digits than a double keeps becomes text, so that
 * decimal(38,x) and money extremes are stored exactly. */
static bool num_needs_text(const struct token *t)
{
    size_t sig = 0;
    bool lead = true;
    for (size_t k = 0; k < t->len; k++) {
        char c = t->p[k];
        if (c == 'e' || c == 'E')
            return false;
        if (!isdigit((unsigned char)c))
            continue;
        if (c != '0')
            lead = false;
        if (!lead)
            sig++;
    }
    bool frac = memchr(t->p, '.', t->len) != NULL;
    return (frac && sig > 15) || (!frac && sig > 18);
}

static void rw_number(const struct token *t, bool neg, struct buf *o)
{
    if (num_needs_text(t)) {
        out_str(o, neg ? "'-" : "'");
        buf_append(o, t->p, t->len);
        buf_putc(o, '\'');
        return;
    }
    if (neg)
        out_str(o, "-");
    out_word(o, t->p, t->len);
}

/* Is the '-' at i a sign (not a subtraction)? */
static bool unary_minus(const struct rw *r, size_t i)
{
    static const char *const kw[] = {"SELECT", "VALUES", "WHERE", "AND",  "OR",   "NOT", "THEN",
                                     "ELSE",   "WHEN",   "SET",   "ON",   "BY",   "IN",  "IS",
                                     "LIKE",   "BETWEEN", "CASE", "RETURN", NULL};
    if (i == 0)
        return true;
    const struct token *p = &r->t[i - 1];
    if (p->k == T_OP)
        return !tok_op(p, ")");
    return p->k == T_WORD && tok_any(p, kw);
}

/* CAST(expr AS <date type>) keeps the stored text: SQLite would give a
 * type name it does not know NUMERIC affinity and turn '2026-01-02 ...'
 * into 2026. The column's type still comes from the CAST (item_func).
 * Any other CAST is SQLite's own. */
static int rw_cast(struct rw *r, size_t i, struct buf *o, size_t *next)
{
    static const char *const dates[] = {"datetime",       "datetime2", "date", "smalldatetime",
                                        "datetimeoffset", "time",      NULL};
    size_t close = match_paren(r, i + 1), as = cast_as(r, i + 1, close);
    if (close >= r->n || !as || as + 1 >= close || !tok_any(&r->t[as + 1], dates)) {
        out_word(o, r->t[i].p, r->t[i].len);
        return 0;
    }
    out_str(o, "CAST(");
    if (rw_range(r, i + 2, as, o) < 0)
        return -EINVAL;
    out_str(o, " AS TEXT)");
    *next = close + 1;
    return 0;
}

static int rw_word(struct rw *r, size_t i, struct buf *o, size_t *next)
{
    const struct token *t = &r->t[i], *nt = tok_at(r, i + 1);
    *next = i + 1;
    if (nt && tok_op(nt, "."))
        return rw_name(r, i, o, next, NULL);
    if (tok_is(t, "SELECT"))
        return rw_select(r, i, o, next);
    if (tok_is(t, "TOP"))
        return syntax_near(r->e, t);
    if (tok_is(t, "OFFSET") && r->depth < MAX_DEPTH)
        return rw_offset(r, i, o, next);
    if ((tok_is(t, "WITH") && nt && tok_op(nt, "(") && tok_at(r, i + 2) &&
         tok_any(tok_at(r, i + 2), table_hints)) ||
        (tok_is(t, "OPTION") && nt && tok_op(nt, "("))) {
        *next = match_paren(r, i + 1) + 1; /* table hints and query options change nothing here */
        return *next > r->n ? syntax_near(r->e, NULL) : 0;
    }
    if (tok_is(t, "CLUSTERED") || tok_is(t, "NONCLUSTERED"))
        return 0;
    if (tok_is(t, "CURRENT_TIMESTAMP")) {
        out_str(o, "tdslite_getdate()");
        return 0;
    }
    if (tok_is(t, "CAST") && nt && tok_op(nt, "("))
        return rw_cast(r, i, o, next);
    if (nt && tok_op(nt, "("))
        for (int k = 0; func_map[k][0]; k++)
            if (tok_is(t, func_map[k][0])) {
                out_str(o, func_map[k][1]);
                return 0;
            }
    bool after_on = i > 0 && tok_is(&r->t[i - 1], "ON"); /* ON UPDATE CASCADE */
    if (!after_on &&
        (tok_is(t, "FROM") || tok_is(t, "JOIN") || tok_is(t, "INTO") || tok_is(t, "UPDATE"))) {
        out_word(o, t->p, t->len);
        const struct token *x = tok_at(r, i + 1);
        if (x && (x->k == T_QID || (x->k == T_WORD && !tok_is(x, "SELECT")))) {
            char last[RW_NAME_MAX];
            if (tok_is(t, "INTO") && x->k == T_WORD && tok_is(x, "VALUES"))
                return 0;
            if (rw_name(r, i + 1, o, next, last) < 0)
                return -EINVAL;
            from_add(r->st, last);
        }
        return 0;
    }
    out_word(o, t->p, t->len);
    return 0;
}

static int rw_sysvar(struct rw *r, const struct token *t, struct buf *o)
{
    for (int k = 0; sysvar_map[k][0]; k++)
        if (t->len == strlen(sysvar_map[k][0]) && strncasecmp(t->p, sysvar_map[k][0], t->len) == 0) {
            out_str(o, sysvar_map[k][1]);
            return 0;
        }
    tds_error_set(r->e, 137, 15, "Must declare the scalar variable \"%.*s\".", (int)t->len, t->p);
    return -EINVAL;
}

/* The column a parameter at i is compared with, as Prisma and the live
 * fallback write it: `col op @p` or `col [NOT] IN (@p1, @p2, ...)`; NULL
 * when it is anything else. */
static const struct token *compared_column(const struct rw *r, size_t i)
{
    static const char *const cmp[] = {"=", "<>", "!=", "<", "<=", ">", ">=", "!<", "!>"};
    const struct token *t = r->t;
    const struct token *col = NULL;
    for (size_t k = 0; i >= 2 && k < sizeof cmp / sizeof *cmp; k++)
        if (tok_op(&t[i - 1], cmp[k]))
            col = &t[i - 2];
    size_t k = i;
    while (!col && k >= 2 && tok_op(&t[k - 1], ",") && t[k - 2].k == T_PARAM)
        k -= 2;
    if (!col && k >= 3 && tok_op(&t[k - 1], "(") && tok_is(&t[k - 2], "IN"))
        col = k >= 4 && tok_is(&t[k - 3], "NOT") ? &t[k - 4] : &t[k - 3];
    return col && (col->k == T_QID || col->k == T_WORD) ? col : NULL;
}

static void pcol_note(struct rw *r, size_t i)
{
    const struct token *col = compared_column(r, i);
    if (!col)
        return;
    struct rw_stmt *st = r->st;
    st->pcols = xrealloc(st->pcols, (st->n_pcols + 1) * sizeof *st->pcols);
    struct rw_pcol *pc = &st->pcols[st->n_pcols++];
    const struct token *t = &r->t[i];
    size_t n = t->len < RW_NAME_MAX - 1 ? t->len : RW_NAME_MAX - 1;
    for (size_t k = 0; k < n; k++)
        pc->param[k] = (char)tolower((unsigned char)t->p[k]);
    pc->param[n] = '\0';
    tok_name(col, pc->column);
}

static int rw_one(struct rw *r, size_t i, struct buf *o, size_t *next)
{
    const struct token *t = &r->t[i];
    *next = i + 1;
    switch (t->k) {
    case T_WORD:
        return rw_word(r, i, o, next);
    case T_QID:
        return rw_name(r, i, o, next, NULL);
    case T_STR:
        out_word(o, t->p, t->len);
        return 0;
    case T_NSTR:
        out_word(o, t->p + 1, t->len - 1);
        return 0;
    case T_NUM:
        rw_number(t, false, o);
        return 0;
    case T_HEX: {
        out_str(o, "X'");
        if ((t->len - 2) % 2)
            buf_putc(o, '0');
        buf_append(o, t->p + 2, t->len - 2);
        buf_putc(o, '\'');
        return 0;
    }
    case T_PARAM: {
        pcol_note(r, i);
        buf_putc(o, ' ');
        for (size_t k = 0; k < t->len; k++)
            buf_putc(o, (char)tolower((unsigned char)t->p[k]));
        return 0;
    }
    case T_SYSVAR:
        return rw_sysvar(r, t, o);
    case T_OP:
        if (tok_op(t, "(")) {
            if (r->depth + 1 >= MAX_DEPTH)
                return unsupported(r->e, "expressions nested this deeply");
            r->depth++;
            /* old-style hint: FROM t (NOLOCK) */
            if (tok_at(r, i + 1) && tok_is(tok_at(r, i + 1), "NOLOCK") && tok_at(r, i + 2) &&
                tok_op(tok_at(r, i + 2), ")")) {
                r->depth--;
                *next = i + 3;
                return 0;
            }
        } else if (tok_op(t, ")")) {
            if (r->depth == 0)
                return syntax_near(r->e, t);
            limit_flush(r, o);
            r->depth--;
        } else if (tok_op(t, ";")) {
            return 0;
        } else if (tok_op(t, "-") && tok_at(r, i + 1) && r->t[i + 1].k == T_NUM &&
                   num_needs_text(&r->t[i + 1]) && unary_minus(r, i)) {
            rw_number(&r->t[i + 1], true, o);
            *next = i + 2;
            return 0;
        }
        out_word(o, t->p, t->len);
        return 0;
    }
    return 0;
}

/* ---- CREATE TABLE ---------------------------------------------------------------------------- */

static void coldef_add(struct rw_stmt *st, const struct rw_coldef *cd)
{
    st->cols = xrealloc(st->cols, (st->n_cols + 1) * sizeof *st->cols);
    st->cols[st->n_cols++] = *cd;
}

/* One column definition [a, b) inside CREATE TABLE. */
static int rw_coldef(struct rw *r, size_t a, size_t b, struct buf *o)
{
    struct rw_coldef cd = {.nullable = true};
    const struct token *nt = &r->t[a];
    if (nt->k != T_WORD && nt->k != T_QID)
        return syntax_near(r->e, nt);
    tok_name(nt, cd.name);
    /* the type: WORD [ '(' args ')' ] */
    size_t k = a + 1;
    if (k >= b || r->t[k].k != T_WORD)
        return syntax_near(r->e, k < b ? &r->t[k] : NULL);
    size_t te = k + 1;
    if (te < b && tok_op(&r->t[te], "("))
        te = match_paren(r, te) + 1;
    char decl[128];
    size_t dl = 0;
    for (size_t m = k; m < te && m < b; m++)
        if (dl + r->t[m].len < sizeof decl) {
            memcpy(decl + dl, r->t[m].p, r->t[m].len);
            dl += r->t[m].len;
        }
    decl[dl] = '\0';
    if (tds_type_parse(decl, dl, &cd.type) < 0) {
        tds_error_set(r->e, 2715, 16, "Column, parameter, or variable #%zu: Cannot find data type %s.",
                      r->st->n_cols + 1, decl);
        return -EINVAL;
    }
    out_ident(o, cd.name);
    out_str(o, tds_type_sqlite_decl(&cd.type));
    bool collate = false;
    for (k = te; k < b;) {
        const struct token *t = &r->t[k];
        if (tok_is(t, "IDENTITY")) {
            cd.identity = true;
            k = k + 1 < b && tok_op(&r->t[k + 1], "(") ? match_paren(r, k + 1) + 1 : k + 1;
            continue;
        }
        if (tok_is(t, "COLLATE") && k + 1 < b) {
            collate = true;
            out_str(o, "COLLATE NOCASE"); /* SQL Server's default collations ignore case */
            k += 2;
            continue;
        }
        if (tok_is(t, "ROWGUIDCOL") || tok_is(t, "SPARSE")) {
            k++;
            continue;
        }
        if (tok_is(t, "NOT") && k + 1 < b && tok_is(&r->t[k + 1], "NULL"))
            cd.nullable = false;
        if (tok_is(t, "PRIMARY"))
            cd.nullable = false;
        size_t next;
        if (rw_one(r, k, o, &next) < 0)
            return -EINVAL;
        k = next;
    }
    if (cd.type.kind == TK_GUID)
        out_str(o, "COLLATE GUID"); /* SQL Server's GUID order (collation.c) */
    else if (tds_type_is_text(&cd.type) && !collate)
        out_str(o, "COLLATE NOCASE");
    coldef_add(r->st, &cd);
    return 0;
}

static int rw_create_table(struct rw *r, struct buf *o)
{
    size_t i = 2;
    out_str(o, "CREATE TABLE");
    if (r->n > 5 && tok_is(&r->t[2], "IF") && tok_is(&r->t[3], "NOT") &&
        tok_is(&r->t[4], "EXISTS")) {
        out_str(o, "IF NOT EXISTS");
        i = 5;
    }
    if (i >= r->n)
        return syntax_near(r->e, NULL);
    if (rw_name(r, i, o, &i, r->st->target) < 0)
        return -EINVAL;
    if (i >= r->n || !tok_op(&r->t[i], "("))
        return syntax_near(r->e, tok_at(r, i));
    size_t close = match_paren(r, i);
    if (close >= r->n)
        return syntax_near(r->e, NULL);
    out_word(o, "(", 1);
    static const char *const tcons[] = {"CONSTRAINT", "PRIMARY", "FOREIGN", "UNIQUE", "CHECK",
                                        NULL};
    size_t a = i + 1;
    bool first = true;
    while (a < close) {
        size_t b = a;
        int d = 0;
        while (b < close && !(d == 0 && tok_op(&r->t[b], ","))) {
            d += tok_op(&r->t[b], "(") - tok_op(&r->t[b], ")");
            b++;
        }
        if (b == a)
            return syntax_near(r->e, &r->t[a]);
        if (!tok_is(&r->t[a], "INDEX")) { /* inline indexes are a hint here */
            if (!first)
                out_word(o, ",", 1);
            first = false;
            int rc = tok_any(&r->t[a], tcons) ? rw_range(r, a, b, o) : rw_coldef(r, a, b, o);
            if (rc < 0)
                return -EINVAL;
        }
        a = b + 1;
    }
    out_word(o, ")", 1);
    return 0; /* ON [PRIMARY], TEXTIMAGE_ON ...: storage options, ignored */
}

/* ---- statements ------------------------------------------------------------------------------ */

static int rw_stmt_kind(struct rw *r, struct buf *o)
{
    const struct token *t0 = &r->t[0], *t1 = tok_at(r, 1);
    struct rw_stmt *st = r->st;
    if (tok_is(t0, "SET")) {
        st->kind = RW_IGNORE;
        return 0;
    }
    if (tok_is(t0, "USE")) {
        if (!t1 || (t1->k != T_WORD && t1->k != T_QID) || r->n > 2)
            return syntax_near(r->e, t1 ? tok_at(r, 2) : NULL);
        st->kind = RW_USE;
        tok_name(t1, st->target);
        return 0;
    }
    static const char *const tran[] = {"TRAN", "TRANSACTION", "WORK", NULL};
    if (tok_is(t0, "BEGIN") && t1 && tok_any(t1, tran)) {
        st->kind = RW_BEGIN;
        return 0;
    }
    if (tok_is(t0, "COMMIT") || tok_is(t0, "ROLLBACK")) {
        st->kind = tok_is(t0, "COMMIT") ? RW_COMMIT : RW_ROLLBACK;
        return 0;
    }
    if (tok_is(t0, "CREATE") && t1 && tok_is(t1, "TABLE")) {
        st->kind = RW_CREATE_TABLE;
        return rw_create_table(r, o);
    }
    if (tok_is(t0, "DROP") && t1 && tok_is(t1, "TABLE")) {
        st->kind = RW_DROP_TABLE;
        size_t i = 2;
        out_str(o, "DROP TABLE");
        if (r->n > 4 && tok_is(&r->t[2], "IF") && tok_is(&r->t[3], "EXISTS")) {
            out_str(o, "IF EXISTS");
            i = 4;
        }
        if (i >= r->n)
            return syntax_near(r->e, NULL);
        if (rw_name(r, i, o, &i, st->target) < 0)
            return -EINVAL;
        return i < r->n ? unsupported(r->e, "dropping several tables in one statement") : 0;
    }
    if (tok_is(t0, "TRUNCATE") && t1 && tok_is(t1, "TABLE")) {
        st->kind = RW_DML;
        out_str(o, "DELETE FROM");
        return rw_range(r, 2, r->n, o);
    }
    if (tok_is(t0, "SELECT") || tok_is(t0, "WITH")) {
        st->kind = RW_QUERY;
        return rw_range(r, 0, r->n, o);
    }
    if (tok_is(t0, "INSERT") || tok_is(t0, "UPDATE") || tok_is(t0, "DELETE")) {
        st->kind = RW_DML;
        if (t1 && !tok_is(t1, "INTO") && !tok_is(t1, "FROM") && !tok_is(t0, "UPDATE")) {
            /* T-SQL allows INSERT t ... and DELETE t ...; SQLite wants the keyword */
            out_str(o, tok_is(t0, "INSERT") ? "INSERT INTO" : "DELETE FROM");
            size_t i;
            char last[RW_NAME_MAX];
            if (rw_name(r, 1, o, &i, last) < 0)
                return -EINVAL;
            from_add(st, last);
            return rw_range(r, i, r->n, o);
        }
        return rw_range(r, 0, r->n, o);
    }
    if (tok_is(t0, "CREATE") || tok_is(t0, "DROP")) {
        static const char *const idx[] = {"INDEX", "UNIQUE", "CLUSTERED", "NONCLUSTERED", NULL};
        if (t1 && tok_any(t1, idx)) {
            st->kind = RW_DDL;
            /* CREATE INDEX ... ON t (cols) [INCLUDE (...)] [WITH (...)] [ON [PRIMARY]] */
            size_t end = r->n;
            for (size_t k = 2; k < r->n; k++)
                if (tok_is(&r->t[k], "INCLUDE") || (k > 3 && tok_is(&r->t[k], "ON") &&
                                                    tok_op(&r->t[k - 1], ")"))) {
                    end = k;
                    break;
                }
            return rw_range(r, 0, end, o);
        }
    }
    static const char *const known[] = {"EXEC",   "EXECUTE", "DECLARE", "IF",    "WHILE",
                                        "BEGIN",  "ALTER",   "MERGE",   "PRINT", "RETURN",
                                        "GRANT",  "DENY",    "REVOKE",  "CREATE", "DROP",
                                        "BACKUP", "RESTORE", "DBCC",    "KILL",  NULL};
    if (tok_any(t0, known)) {
        char what[80];
        snprintf(what, sizeof what, "%.*s statements", (int)t0->len, t0->p);
        for (char *p = what; *p && *p != ' '; p++)
            *p = (char)toupper((unsigned char)*p);
        return unsupported(r->e, what);
    }
    return syntax_near(r->e, t0);
}

static int stmt_build(struct rw_stmt *st, const struct token *t, size_t n, const char *dbname,
                      struct tds_error *e)
{
    struct rw r = {.t = t, .n = n, .st = st, .dbname = dbname, .e = e};
    buf_init(&st->sql, 0);
    int rc = rw_stmt_kind(&r, &st->sql);
    if (rc == 0 && st->kind != RW_CREATE_TABLE) {
        limit_flush(&r, &st->sql);
        if (r.depth != 0)
            rc = syntax_near(e, NULL);
    }
    for (int k = 0; k < MAX_DEPTH; k++)
        free(r.limit[k]);
    buf_putc(&st->sql, '\0');
    st->sql.len--;
    return rc;
}

/* ---- batch splitting ------------------------------------------------------------------------- */

static const char *const stmt_starts[] = {
    "SELECT",  "INSERT",   "UPDATE",  "DELETE", "SET",    "USE",   "CREATE", "DROP",
    "ALTER",   "TRUNCATE", "DECLARE", "EXEC",   "EXECUTE", "BEGIN", "COMMIT", "ROLLBACK",
    "PRINT",   "IF",       "WHILE",   "RETURN", "GRANT",  "MERGE", NULL,
};

/* Does the keyword at k start a new statement, given the current one began at s? */
static bool starts_stmt(const struct token *t, size_t s, size_t k, bool seen_values,
                        bool seen_set, bool seen_main, size_t main_k)
{
    if (!tok_any(&t[k], stmt_starts))
        return false;
    /* After WITH ... AS (...), the statement is the one the CTEs feed. */
    const struct token *prev = &t[k - 1], *first = &t[seen_main ? main_k : s];
    if ((tok_is(first, "CREATE") || tok_is(first, "ALTER")) &&
        (tok_is(prev, "ON") || tok_is(prev, "DELETE") || tok_is(prev, "UPDATE")))
        return false; /* ON DELETE CASCADE, ON DELETE SET NULL */
    if (tok_is(&t[k], "IF") && (tok_is(prev, "TABLE") || tok_is(prev, "INDEX")))
        return false; /* DROP TABLE IF EXISTS, CREATE TABLE IF NOT EXISTS */
    if (tok_is(&t[k], "SELECT")) {
        static const char *const setops[] = {"UNION", "ALL", "EXCEPT", "INTERSECT", "AS", NULL};
        if (tok_any(prev, setops))
            return false;
        if (tok_is(first, "INSERT") && !seen_values)
            return false;
    }
    if (tok_is(first, "WITH") && !seen_main)
        return false;
    if (tok_is(&t[k], "SET") && tok_is(first, "UPDATE") && !seen_set)
        return false;
    if (tok_is(first, "BEGIN") && k == s + 1)
        return false;
    return true;
}

static void batch_push(struct rw_batch *b, struct rw_stmt *st)
{
    b->stmts = xrealloc(b->stmts, (b->n + 1) * sizeof *b->stmts);
    b->stmts[b->n++] = *st;
}

static void stmt_fini(struct rw_stmt *st)
{
    buf_fini(&st->sql);
    free(st->items);
    free(st->from);
    free(st->cols);
    free(st->pcols);
}

void rw_batch_fini(struct rw_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        stmt_fini(&b->stmts[i]);
    free(b->stmts);
    b->stmts = NULL;
    b->n = 0;
}

int rw_batch_parse(struct rw_batch *out, const char *sql, size_t len, const char *dbname,
                   struct tds_error *e)
{
    memset(out, 0, sizeof *out);
    struct toks ts = {0};
    if (tokenize(&ts, sql, len, e) < 0) {
        free(ts.t);
        return -EINVAL;
    }
    int rc = 0;
    size_t s = 0;
    int d = 0;
    bool seen_values = false, seen_set = false, seen_main = false;
    size_t main_k = 0;
    for (size_t k = 0; k <= ts.n && rc == 0; k++) {
        bool end = k == ts.n || (d == 0 && tok_op(&ts.t[k], ";")) ||
                   (d == 0 && k > s &&
                    starts_stmt(ts.t, s, k, seen_values, seen_set, seen_main, main_k));
        if (end) {
            if (k > s) {
                struct rw_stmt st = {0};
                rc = stmt_build(&st, ts.t + s, k - s, dbname, e);
                if (rc == 0)
                    batch_push(out, &st);
                else
                    stmt_fini(&st);
            }
            s = k < ts.n && tok_op(&ts.t[k], ";") ? k + 1 : k;
            seen_values = seen_set = seen_main = false;
            d = 0;
            continue;
        }
        if (tok_op(&ts.t[k], "("))
            d++;
        else if (tok_op(&ts.t[k], ")"))
            d--;
        else if (d == 0 && tok_is(&ts.t[k], "VALUES"))
            seen_values = true;
        else if (d == 0 && tok_is(&ts.t[k], "SET"))
            seen_set = true;
        else if (d == 0 && k > s && !seen_main && tok_is(&ts.t[s], "WITH") &&
                 tok_any(&ts.t[k], stmt_starts)) {
            seen_main = true;
            main_k = k;
        }
    }
    free(ts.t);
    if (rc < 0)
        rw_batch_fini(out);
    return rc;
}

/* ---- sp_executesql @params ------------------------------------------------------------------- */

int rw_params_decl(const char *decl, size_t len, char (**names)[RW_NAME_MAX], size_t *n,
                   struct tds_error *e)
{
    *names = NULL;
    *n = 0;
    struct toks ts = {0};
    if (tokenize(&ts, decl, len, e) < 0) {
        free(ts.t);
        return -EINVAL;
    }
    int d = 0;
    bool want = true;
    for (size_t k = 0; k < ts.n; k++) {
        const struct token *t = &ts.t[k];
        if (want) {
            if (t->k != T_PARAM) {
                syntax_near(e, t);
                free(ts.t);
                free(*names);
                *names = NULL;
                *n = 0;
                return -EINVAL;
            }
            *names = xrealloc(*names, (*n + 1) * sizeof **names);
            size_t m = 0;
            for (; m < t->len && m < RW_NAME_MAX - 1; m++)
                (*names)[*n][m] = (char)tolower((unsigned char)t->p[m]);
            (*names)[*n][m] = '\0';
            (*n)++;
            want = false;
        } else if (tok_op(t, "(")) {
            d++;
        } else if (tok_op(t, ")")) {
            d--;
        } else if (d == 0 && tok_op(t, ",")) {
            want = true;
        }
    }
    free(ts.t);
    return 0;
}
