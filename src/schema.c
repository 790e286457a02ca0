#include "schema.h"

#include "dirlist.h"

/*
 * DESIGN
 *
 * The Prisma subset is read in two passes. Pass one lexes and parses every
 * source into plain declarations (struct pmodel/pfield) whose types are still
 * names: a field may name a model declared later or in another file. Pass two
 * ("resolve") sizes the final arrays exactly, classifies each field as a
 * scalar or a relation, checks @id and @cursor, resolves fields:/references:
 * and pairs every relation with its opposite side. Only pass two creates
 * pointers between models, fields and relations, so nothing points into an
 * array that may still grow.
 *
 * The first error wins: it is written to err as "file:line:col: message" and
 * every later step is skipped. All memory lives either in the parser (freed
 * by parser_fini) or in the struct schema (freed by schema_free), so every
 * error path releases everything with those two calls.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- Declarations produced by pass one ------------------------------------ */

struct pos {
    const char *file;
    int line, col;
};

struct pfield {
    char *name;
    char *type_name;
    struct pos at, type_at;
    bool optional, list;
    bool is_id, is_unique;
    struct pos id_at;
    char *column;      /* @map */
    char *db_type;     /* text after @db. */
    bool has_relation; /* @relation(...) present */
    struct pos rel_at;
    char *rel_name;
    char *rel_fields; /* the single name in fields: [...] */
    char *rel_refs;   /* the single name in references: [...] */
    struct pos fields_at, refs_at;
    size_t out_index; /* index in the final fields or relations array */
};

struct pmodel {
    char *name;
    char *table; /* @@map */
    struct pos at;
    struct pfield *fields;
    size_t n_fields, cap_fields;
    char *cursor; /* /// @cursor name */
    struct pos cursor_at;
    char **index_lead; /* the leading field of each @@index([...]) */
    struct pos *index_at;
    size_t n_index, cap_index;
};

enum tok_kind { T_EOF, T_IDENT, T_STRING, T_NUMBER, T_PUNCT, T_AT, T_ATAT };

struct doc {
    const char *p;
    size_t len;
    int line, col;
};

struct tok {
    enum tok_kind kind;
    const char *p; /* source text; for strings the raw text between the quotes */
    size_t len;
    int line, col;
    size_t doc_first, n_doc; /* doc comments (///) since the previous token */
};

struct parser {
    /* current source */
    const char *file;
    const char *s;
    size_t len, pos;
    int line, col;
    struct tok cur;
    const char *tok_end; /* end of the token before cur */
    /* output of pass one, over all sources */
    struct doc *docs;
    size_t n_docs, cap_docs;
    struct pmodel *models;
    size_t n_models, cap_models;
    char **enums;
    size_t n_enums, cap_enums;
    char **files; /* owned copies of source names; positions point at them */
    size_t n_files;
    char *err;
    size_t errlen;
    bool failed;
};

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 8;                                                           \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                                        \
        }                                                                                          \
    } while (0)

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, struct pos at,
                                                      const char *fmt, ...)
{
    if (p->failed)
        return -EINVAL;
    p->failed = true;
    if (p->err && p->errlen) {
        int n = snprintf(p->err, p->errlen, "%s:%d:%d: ", at.file, at.line, at.col);
        if (n >= 0 && (size_t)n < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static struct pos tok_pos(const struct parser *p, const struct tok *t)
{
    return (struct pos){p->file, t->line, t->col};
}

static bool name_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- Lexer ------------------------------------------------------------------ */

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static void lex_step(struct parser *p, size_t n)
{
    for (size_t i = 0; i < n && p->pos < p->len; i++) {
        if (p->s[p->pos++] == '\n')
            p->line++, p->col = 1;
        else
            p->col++;
    }
}

static void lex_comment(struct parser *p)
{
    bool doc = p->pos + 2 < p->len && p->s[p->pos + 2] == '/';
    int line = p->line, col = p->col;
    size_t start = p->pos + (doc ? 3 : 2);
    size_t end = start;
    while (end < p->len && p->s[end] != '\n')
        end++;
    lex_step(p, end - p->pos);
    if (!doc)
        return;
    while (start < end && (p->s[start] == ' ' || p->s[start] == '\t'))
        start++;
    while (end > start && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t' || p->s[end - 1] == '\r'))
        end--;
    GROW(p->docs, p->n_docs, p->cap_docs);
    p->docs[p->n_docs++] = (struct doc){p->s + start, end - start, line, col};
}

/* Skips whitespace and comments, recording doc comments for the next token. */
static void lex_space(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            lex_step(p, 1);
        else if (c == '/' && p->pos + 1 < p->len && p->s[p->pos + 1] == '/')
            lex_comment(p);
        else
            break;
    }
}

static int lex_string(struct parser *p, struct tok *t)
{
    size_t i = p->pos + 1;
    while (i < p->len && p->s[i] != '"' && p->s[i] != '\n')
        i += p->s[i] == '\\' && i + 1 < p->len ? 2 : 1;
    if (i >= p->len || p->s[i] != '"')
        return fail(p, tok_pos(p, t), "unterminated string");
    t->kind = T_STRING;
    t->p = p->s + p->pos + 1;
    t->len = i - p->pos - 1;
    lex_step(p, i + 1 - p->pos);
    return 0;
}

/* Reads the next token into p->cur. */
static int lex(struct parser *p)
{
    size_t doc_mark = p->n_docs;
    p->tok_end = p->s + p->pos;
    lex_space(p);
    struct tok *t = &p->cur;
    *t = (struct tok){.line = p->line,
                      .col = p->col,
                      .doc_first = doc_mark,
                      .n_doc = p->n_docs - doc_mark,
                      .p = p->s + p->pos};
    if (p->pos >= p->len)
        return 0; /* T_EOF */
    char c = p->s[p->pos];
    size_t i = p->pos;
    if (is_ident_start(c)) {
        while (i < p->len && is_ident_char(p->s[i]))
            i++;
        t->kind = T_IDENT;
    } else if ((c >= '0' && c <= '9') || c == '-') {
        i++;
        while (i < p->len && ((p->s[i] >= '0' && p->s[i] <= '9') || p->s[i] == '.'))
            i++;
        t->kind = T_NUMBER;
    } else if (c == '"') {
        return lex_string(p, t);
    } else if (c == '@') {
        i += i + 1 < p->len && p->s[i + 1] == '@' ? 2 : 1;
        t->kind = i - p->pos == 2 ? T_ATAT : T_AT;
    } else if (strchr("{}()[],:?=.", c)) {
        i++;
        t->kind = T_PUNCT;
    } else {
        return fail(p, tok_pos(p, t), "unexpected character '%c'", c);
    }
    t->len = i - p->pos;
    lex_step(p, t->len);
    return 0;
}

static bool tok_punct(const struct tok *t, char c)
{
    return t->kind == T_PUNCT && t->p[0] == c;
}

static bool tok_word(const struct tok *t, const char *w)
{
    return t->kind == T_IDENT && t->len == strlen(w) && memcmp(t->p, w, t->len) == 0;
}

/* A short description of a token for "expected X, found Y" messages. */
static void tok_describe(const struct tok *t, char *out, size_t n)
{
    if (t->kind == T_EOF)
        snprintf(out, n, "end of file");
    else if (t->kind == T_STRING)
        snprintf(out, n, "string \"%.*s\"", (int)(t->len > 24 ? 24 : t->len), t->p);
    else
        snprintf(out, n, "'%.*s'", (int)(t->len > 24 ? 24 : t->len), t->p);
}

static int expected(struct parser *p, const char *what)
{
    char d[48];
    tok_describe(&p->cur, d, sizeof d);
    return fail(p, tok_pos(p, &p->cur), "expected %s, found %s", what, d);
}

static int expect_punct(struct parser *p, char c)
{
    if (!tok_punct(&p->cur, c)) {
        char what[8] = {'\'', c, '\'', 0};
        return expected(p, what);
    }
    return lex(p);
}

/* Takes the current identifier as a new string and advances. On error
 * nothing is taken: the caller may not own a place for the name yet. */
static int take_ident(struct parser *p, char **out, const char *what)
{
    if (p->cur.kind != T_IDENT)
        return expected(p, what);
    char *s = xstrndup(p->cur.p, p->cur.len);
    int rc = lex(p);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Takes the current string literal (escapes decoded) and advances. */
static int take_string(struct parser *p, char **out, const char *what)
{
    if (p->cur.kind != T_STRING)
        return expected(p, what);
    char *d = xmalloc(p->cur.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < p->cur.len; i++) {
        char c = p->cur.p[i];
        if (c == '\\' && i + 1 < p->cur.len) {
            c = p->cur.p[++i];
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        d[n++] = c;
    }
    d[n] = '\0';
    free(*out); /* a repeated @map keeps the last value */
    *out = d;
    return lex(p);
}

/* ---- Pass one: blocks, fields, attributes ----------------------------------- */

/* Skips a bracketed group, nesting included; cur is the opening bracket. */
static int skip_nested(struct parser *p, char open_c, char close_c)
{
    struct tok open = p->cur;
    int depth = 0, rc;
    do {
        if (p->cur.kind == T_EOF)
            return fail(p, tok_pos(p, &open), open_c == '(' ? "unterminated '('" : "unterminated '{'");
        if (tok_punct(&p->cur, open_c))
            depth++;
        else if (tok_punct(&p->cur, close_c))
            depth--;
        if ((rc = lex(p)) < 0)
            return rc;
    } while (depth > 0);
    return 0;
}

static int skip_parens(struct parser *p) { return skip_nested(p, '(', ')'); }
static int skip_block(struct parser *p) { return skip_nested(p, '{', '}'); }

/* @map("x") and @@map("x"), also with the named form @map(name: "x"). */
static int parse_map_args(struct parser *p, char **out)
{
    int rc;
    if ((rc = expect_punct(p, '(')) < 0)
        return rc;
    if (tok_word(&p->cur, "name")) {
        if ((rc = lex(p)) < 0 || (rc = expect_punct(p, ':')) < 0)
            return rc;
    }
    if ((rc = take_string(p, out, "a quoted name")) < 0)
        return rc;
    return expect_punct(p, ')');
}

/* `[a]` in fields:/references:; composite keys are not supported. */
static int parse_key_list(struct parser *p, char **out, struct pos *at)
{
    int rc;
    *at = tok_pos(p, &p->cur);
    if ((rc = expect_punct(p, '[')) < 0)
        return rc;
    if (*out)
        return fail(p, *at, "repeated relation argument");
    if ((rc = take_ident(p, out, "a field name")) < 0)
        return rc;
    if (tok_punct(&p->cur, ','))
        return fail(p, *at, "composite relation keys are not supported");
    return expect_punct(p, ']');
}

static int parse_relation_arg(struct parser *p, struct pfield *f)
{
    int rc;
    if (p->cur.kind == T_STRING) /* the positional relation name */
        return take_string(p, &f->rel_name, "a relation name");
    struct tok key = p->cur;
    if (key.kind != T_IDENT)
        return expected(p, "a relation argument");
    if ((rc = lex(p)) < 0 || (rc = expect_punct(p, ':')) < 0)
        return rc;
    if (tok_word(&key, "name"))
        return take_string(p, &f->rel_name, "a relation name");
    if (tok_word(&key, "fields"))
        return parse_key_list(p, &f->rel_fields, &f->fields_at);
    if (tok_word(&key, "references"))
        return parse_key_list(p, &f->rel_refs, &f->refs_at);
    if (tok_word(&key, "onDelete") || tok_word(&key, "onUpdate")) {
        if (p->cur.kind != T_IDENT)
            return expected(p, "a referential action");
        return lex(p);
    }
    if (tok_word(&key, "map")) {
        if (p->cur.kind != T_STRING)
            return expected(p, "a quoted constraint name");
        return lex(p);
    }
    return fail(p, tok_pos(p, &key), "unknown @relation argument '%.*s'", (int)key.len, key.p);
}

static int parse_relation_args(struct parser *p, struct pfield *f)
{
    int rc;
    if ((rc = expect_punct(p, '(')) < 0)
        return rc;
    while (!tok_punct(&p->cur, ')')) {
        if ((rc = parse_relation_arg(p, f)) < 0)
            return rc;
        if (tok_punct(&p->cur, ','))
            rc = lex(p);
        else if (!tok_punct(&p->cur, ')'))
            rc = expected(p, "',' or ')'");
        if (rc < 0)
            return rc;
    }
    return lex(p);
}

/* @db.X or @db.X(args): stores "X(args)" with the whitespace removed. */
static int parse_db_attr(struct parser *p, struct pfield *f)
{
    int rc;
    if (p->cur.kind != T_IDENT)
        return expected(p, "a native type after '@db.'");
    const char *start = p->cur.p;
    const char *end = p->cur.p + p->cur.len;
    if ((rc = lex(p)) < 0)
        return rc;
    if (tok_punct(&p->cur, '(')) {
        if ((rc = skip_parens(p)) < 0)
            return rc;
        end = p->tok_end; /* just past the ')' */
    }
    char *d = xmalloc((size_t)(end - start) + 1);
    size_t n = 0;
    for (const char *c = start; c < end; c++)
        if (!strchr(" \t\r\n", *c))
            d[n++] = *c;
    d[n] = '\0';
    free(f->db_type);
    f->db_type = d;
    return 0;
}

/* The current token is '@' or '@@': reads the attribute name after it into
 * *name (its position into *at) and moves past the name. */
static int attr_name(struct parser *p, const char *what, struct tok *name, struct pos *at)
{
    *at = tok_pos(p, &p->cur);
    int rc;
    if ((rc = lex(p)) < 0)
        return rc;
    *name = p->cur;
    if (name->kind != T_IDENT)
        return expected(p, what);
    return lex(p);
}

static int parse_field_attr(struct parser *p, struct pfield *f)
{
    struct pos at;
    struct tok name;
    int rc;
    if ((rc = attr_name(p, "an attribute name after '@'", &name, &at)) < 0)
        return rc;
    if (tok_word(&name, "db")) {
        if ((rc = expect_punct(p, '.')) < 0)
            return rc;
        return parse_db_attr(p, f);
    }
    if (tok_word(&name, "id")) {
        f->is_id = true;
        f->id_at = at;
    } else if (tok_word(&name, "map")) {
        return parse_map_args(p, &f->column);
    } else if (tok_word(&name, "relation")) {
        if (f->has_relation)
            return fail(p, at, "repeated @relation");
        f->has_relation = true;
        f->rel_at = at;
        return parse_relation_args(p, f);
    } else if (tok_word(&name, "unique")) {
        f->is_unique = true;
    } else if (!tok_word(&name, "default") && !tok_word(&name, "updatedAt")) {
        return fail(p, at, "unknown attribute '@%.*s'", (int)name.len, name.p);
    }
    /* Arguments of @id, @unique, @default: accepted and not needed. */
    return tok_punct(&p->cur, '(') ? skip_parens(p) : 0;
}

/* [a, b(sort: Desc), ...]: the first name into *lead; the others are
 * checked in pass two only as far as the index is concerned (it keys on the
 * leading field alone). */
static int parse_index_fields(struct parser *p, char **lead)
{
    int rc;
    if ((rc = expect_punct(p, '[')) < 0)
        return rc;
    for (bool first = true;; first = false) {
        char *name = NULL;
        if ((rc = take_ident(p, &name, "a field name")) < 0)
            return rc;
        if (first)
            *lead = name;
        else
            free(name);
        if (tok_punct(&p->cur, '(') && (rc = skip_parens(p)) < 0)
            return rc;
        if (!tok_punct(&p->cur, ','))
            return expect_punct(p, ']');
        if ((rc = lex(p)) < 0)
            return rc;
    }
}

/* @@index([a, b], map: "x") or @@index(fields: [a, b], ...): the leading
 * field gets a secondary index; the other arguments are Prisma's business. */
static int parse_index(struct parser *p, struct pmodel *m, struct pos at)
{
    int rc;
    if ((rc = expect_punct(p, '(')) < 0)
        return rc;
    if (tok_word(&p->cur, "fields") && ((rc = lex(p)) < 0 || (rc = expect_punct(p, ':')) < 0))
        return rc;
    char *lead = NULL;
    if ((rc = parse_index_fields(p, &lead)) < 0) {
        free(lead);
        return rc;
    }
    GROW(m->index_lead, m->n_index, m->cap_index);
    m->index_at = xrealloc(m->index_at, m->cap_index * sizeof *m->index_at);
    m->index_lead[m->n_index] = lead;
    m->index_at[m->n_index++] = at;
    while (!tok_punct(&p->cur, ')')) { /* map:, type:, clustered: ... */
        if (p->cur.kind == T_EOF)
            return expected(p, "')'");
        rc = tok_punct(&p->cur, '(') ? skip_parens(p) : lex(p);
        if (rc < 0)
            return rc;
    }
    return lex(p);
}

static int parse_block_attr(struct parser *p, struct pmodel *m)
{
    struct pos at;
    struct tok name;
    int rc;
    if ((rc = attr_name(p, "an attribute name after '@@'", &name, &at)) < 0)
        return rc;
    if (tok_word(&name, "map"))
        return parse_map_args(p, &m->table);
    if (tok_word(&name, "id"))
        return fail(p, at, "composite primary keys (@@id) are not supported");
    if (tok_word(&name, "index"))
        return parse_index(p, m, at);
    if (!tok_word(&name, "unique"))
        return fail(p, at, "unknown attribute '@@%.*s'", (int)name.len, name.p);
    return tok_punct(&p->cur, '(') ? skip_parens(p) : 0;
}

static struct pfield *model_field_find(struct pmodel *m, const char *name)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (strcmp(m->fields[i].name, name) == 0)
            return &m->fields[i];
    return NULL;
}

static void pfield_fini(struct pfield *f)
{
    free(f->name);
    free(f->type_name);
    free(f->column);
    free(f->db_type);
    free(f->rel_name);
    free(f->rel_fields);
    free(f->rel_refs);
}

/* name Type[?|[]] @attr... : a field ends where the next one starts, since
 * every attribute begins with '@'. The type must be on the name's line. */
static int parse_field(struct parser *p, struct pmodel *m)
{
    struct pfield f = {.at = tok_pos(p, &p->cur)};
    int rc;
    if ((rc = take_ident(p, &f.name, "a field name")) < 0)
        goto out;
    if (model_field_find(m, f.name)) {
        rc = fail(p, f.at, "duplicate field '%s' in model '%s'", f.name, m->name);
        goto out;
    }
    f.type_at = tok_pos(p, &p->cur);
    if (p->cur.kind != T_IDENT || p->cur.line != f.at.line) {
        rc = expected(p, "a field type");
        goto out;
    }
    if ((rc = take_ident(p, &f.type_name, "a field type")) < 0)
        goto out;
    if (tok_punct(&p->cur, '[')) {
        f.list = true;
        if ((rc = lex(p)) < 0 || (rc = expect_punct(p, ']')) < 0)
            goto out;
    }
    if (tok_punct(&p->cur, '?')) {
        if (f.list) {
            rc = fail(p, tok_pos(p, &p->cur), "a list field cannot be optional");
            goto out;
        }
        f.optional = true;
        if ((rc = lex(p)) < 0)
            goto out;
    }
    while (p->cur.kind == T_AT)
        if ((rc = parse_field_attr(p, &f)) < 0)
            goto out;
    GROW(m->fields, m->n_fields, m->cap_fields);
    m->fields[m->n_fields++] = f;
    return 0;
out:
    pfield_fini(&f);
    return rc;
}

/* Reads "/// @cursor name" among the doc comments attached to `model`. */
static int parse_cursor_doc(struct parser *p, const struct tok *kw, struct pmodel *m)
{
    for (size_t i = kw->doc_first; i < kw->doc_first + kw->n_doc; i++) {
        const struct doc *d = &p->docs[i];
        if (d->len < 7 || memcmp(d->p, "@cursor", 7) != 0 ||
            (d->len > 7 && d->p[7] != ' ' && d->p[7] != '\t'))
            continue;
        struct pos at = {p->file, d->line, d->col};
        if (m->cursor)
            return fail(p, at, "bad @cursor: model '%s' already has one", m->name);
        const char *s = d->p + 7, *e = d->p + d->len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        const char *n = s;
        while (n < e && is_ident_char(*n))
            n++;
        if (n == s || n != e || !is_ident_start(*s))
            return fail(p, at, "bad @cursor: expected one field name");
        m->cursor = xstrndup(s, (size_t)(n - s));
        m->cursor_at = at;
    }
    return 0;
}

static bool name_declared(const struct parser *p, const char *name)
{
    for (size_t i = 0; i < p->n_models; i++)
        if (strcmp(p->models[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < p->n_enums; i++)
        if (strcmp(p->enums[i], name) == 0)
            return true;
    return false;
}

static int parse_model(struct parser *p, const struct tok *kw)
{
    int rc;
    struct pos at = tok_pos(p, &p->cur);
    char *name = NULL;
    if ((rc = take_ident(p, &name, "a model name")) < 0)
        return rc;
    if (name_declared(p, name)) {
        rc = fail(p, at, "duplicate model '%s'", name);
        free(name);
        return rc;
    }
    GROW(p->models, p->n_models, p->cap_models);
    struct pmodel *m = &p->models[p->n_models++];
    *m = (struct pmodel){.name = name, .at = at};
    if ((rc = parse_cursor_doc(p, kw, m)) < 0 || (rc = expect_punct(p, '{')) < 0)
        return rc;
    while (!tok_punct(&p->cur, '}')) {
        if (p->cur.kind == T_ATAT)
            rc = parse_block_attr(p, m);
        else if (p->cur.kind == T_IDENT)
            rc = parse_field(p, m);
        else
            rc = expected(p, "a field or '}'");
        if (rc < 0)
            return rc;
    }
    return lex(p);
}

/* enum X { A B @map("b") }: only the name matters, its fields read as String. */
static int parse_enum(struct parser *p)
{
    int rc;
    struct pos at = tok_pos(p, &p->cur);
    char *name = NULL;
    if ((rc = take_ident(p, &name, "an enum name")) < 0)
        return rc;
    if (name_declared(p, name)) {
        rc = fail(p, at, "duplicate name '%s'", name);
        free(name);
        return rc;
    }
    GROW(p->enums, p->n_enums, p->cap_enums);
    p->enums[p->n_enums++] = name;
    if (!tok_punct(&p->cur, '{'))
        return expected(p, "'{'");
    return skip_block(p);
}

static int parse_top(struct parser *p)
{
    int rc;
    struct tok kw = p->cur;
    if (tok_word(&kw, "model")) {
        if ((rc = lex(p)) < 0)
            return rc;
        return parse_model(p, &kw);
    }
    if (tok_word(&kw, "enum")) {
        if ((rc = lex(p)) < 0)
            return rc;
        return parse_enum(p);
    }
    if (tok_word(&kw, "datasource") || tok_word(&kw, "generator")) {
        if ((rc = lex(p)) < 0)
            return rc;
        if (p->cur.kind != T_IDENT)
            return expected(p, "a block name");
        if ((rc = lex(p)) < 0)
            return rc;
        if (!tok_punct(&p->cur, '{'))
            return expected(p, "'{'");
        return skip_block(p);
    }
    if (tok_word(&kw, "type") || tok_word(&kw, "view"))
        return fail(p, tok_pos(p, &kw), "'%.*s' blocks are not supported", (int)kw.len, kw.p);
    return expected(p, "'model', 'enum', 'datasource' or 'generator'");
}

static int parse_source(struct parser *p, const char *name, const char *text, size_t len)
{
    char **files = xrealloc(p->files, (p->n_files + 1) * sizeof *files);
    p->files = files;
    p->files[p->n_files] = xstrdup(name);
    p->file = p->files[p->n_files++];
    p->s = text;
    p->len = len;
    p->pos = 0;
    p->line = p->col = 1;
    int rc = lex(p);
    while (rc == 0 && p->cur.kind != T_EOF)
        rc = parse_top(p);
    return rc;
}

static void parser_fini(struct parser *p)
{
    for (size_t i = 0; i < p->n_models; i++) {
        struct pmodel *m = &p->models[i];
        for (size_t j = 0; j < m->n_fields; j++)
            pfield_fini(&m->fields[j]);
        free(m->fields);
        free(m->name);
        free(m->table);
        free(m->cursor);
        for (size_t j = 0; j < m->n_index; j++)
            free(m->index_lead[j]);
        free(m->index_lead);
        free(m->index_at);
    }
    free(p->models);
    for (size_t i = 0; i < p->n_enums; i++)
        free(p->enums[i]);
    free(p->enums);
    for (size_t i = 0; i < p->n_files; i++)
        free(p->files[i]);
    free(p->files);
    free(p->docs);
}

/* ---- Pass two: resolve types, keys and relations ---------------------------- */

static const struct {
    const char *name;
    enum schema_type type;
} scalar_types[] = {
    {"Int", SCHEMA_INT},         {"BigInt", SCHEMA_BIGINT},     {"String", SCHEMA_STRING},
    {"Boolean", SCHEMA_BOOLEAN}, {"DateTime", SCHEMA_DATETIME}, {"Decimal", SCHEMA_DECIMAL},
    {"Float", SCHEMA_FLOAT},     {"Bytes", SCHEMA_BYTES},
};

const char *schema_type_name(enum schema_type t)
{
    for (size_t i = 0; i < sizeof scalar_types / sizeof scalar_types[0]; i++)
        if (scalar_types[i].type == t)
            return scalar_types[i].name;
    return "?";
}

static int scalar_type_find(const char *name, enum schema_type *out)
{
    for (size_t i = 0; i < sizeof scalar_types / sizeof scalar_types[0]; i++)
        if (strcmp(scalar_types[i].name, name) == 0) {
            *out = scalar_types[i].type;
            return 0;
        }
    return -ENOENT;
}

static bool is_enum(const struct parser *p, const char *name)
{
    for (size_t i = 0; i < p->n_enums; i++)
        if (strcmp(p->enums[i], name) == 0)
            return true;
    return false;
}

static struct schema_model *target_find(struct schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0)
            return &s->models[i];
    return NULL;
}

static bool is_key_type(enum schema_type t)
{
    return t == SCHEMA_INT || t == SCHEMA_BIGINT;
}

static int scalar_make(struct parser *p, struct schema_model *m, struct pfield *pf)
{
    struct schema_field *f = &m->fields[m->n_fields];
    if (scalar_type_find(pf->type_name, &f->type) < 0) {
        if (!is_enum(p, pf->type_name))
            return fail(p, pf->type_at, "unknown type '%s'", pf->type_name);
        f->type = SCHEMA_STRING; /* enums arrive as their text */
    }
    if (pf->list)
        return fail(p, pf->type_at, "scalar lists are not supported ('%s[]')", pf->type_name);
    if (pf->has_relation)
        return fail(p, pf->rel_at, "@relation on scalar field '%s'", pf->name);
    if (pf->is_id) {
        if (m->pk)
            return fail(p, pf->id_at, "model '%s' has more than one @id", m->name);
        if (!is_key_type(f->type))
            return fail(p, pf->id_at, "@id field '%s' must be Int or BigInt", pf->name);
        if (pf->optional)
            return fail(p, pf->id_at, "@id field '%s' cannot be optional", pf->name);
        m->pk = f;
    }
    f->name = xstrdup(pf->name);
    f->key_len = strlen(f->name) + 4;
    f->key = xcalloc(f->key_len + SCHEMA_KEY_PAD, 1);
    snprintf(f->key, f->key_len + 1, ",\"%s\":", f->name);
    f->column = xstrdup(pf->column ? pf->column : pf->name);
    f->db_type = pf->db_type ? xstrdup(pf->db_type) : NULL;
    f->optional = pf->optional;
    f->is_id = pf->is_id;
    f->is_unique = pf->is_id || pf->is_unique;
    f->guid = f->db_type && strcasecmp(f->db_type, "UniqueIdentifier") == 0;
    f->index = (uint16_t)m->n_fields;
    pf->out_index = m->n_fields++;
    return 0;
}

static int relation_make(struct parser *p, struct schema *s, struct schema_model *m,
                         struct pfield *pf, struct schema_model *target)
{
    if (pf->is_id)
        return fail(p, pf->id_at, "@id on relation field '%s'", pf->name);
    if (pf->column || pf->db_type)
        return fail(p, pf->at, "relation field '%s' cannot have @map or @db", pf->name);
    if (pf->list && (pf->rel_fields || pf->rel_refs))
        return fail(p, pf->rel_at,
                    "fields:/references: belong on the to-one side, not on list '%s'", pf->name);
    if (!pf->rel_fields != !pf->rel_refs)
        return fail(p, pf->rel_at,
                    "@relation on '%s' needs both fields: and references:", pf->name);
    struct schema_relation *r = &m->relations[m->n_relations];
    r->name = xstrdup(pf->name);
    r->relation_name = pf->rel_name ? xstrdup(pf->rel_name) : NULL;
    r->model = m;
    r->target = target;
    r->to_many = pf->list;
    r->index = (uint16_t)m->n_relations;
    r->to_many_id = UINT16_MAX;
    if (r->to_many)
        r->to_many_id = s->n_to_many++;
    pf->out_index = m->n_relations++;
    return 0;
}

static int model_cursor_resolve(struct parser *p, struct schema_model *m, const struct pmodel *pm)
{
    if (!pm->cursor)
        return 0;
    const struct schema_field *f = schema_field_find(m, pm->cursor, strlen(pm->cursor));
    if (!f)
        return fail(p, pm->cursor_at, "bad @cursor: model '%s' has no scalar field '%s'", m->name,
                    pm->cursor);
    if (f->type != SCHEMA_DATETIME)
        return fail(p, pm->cursor_at, "bad @cursor: field '%s' is %s, not DateTime", f->name,
                    schema_type_name(f->type));
    m->cursor = f;
    return 0;
}

static int model_build(struct parser *p, struct schema *s, struct pmodel *pm,
                       struct schema_model *m)
{
    int rc;
    size_t n_rel = 0;
    for (size_t i = 0; i < pm->n_fields; i++)
        n_rel += target_find(s, pm->fields[i].type_name) != NULL;
    if (pm->n_fields - n_rel >= UINT16_MAX || n_rel >= UINT16_MAX)
        return fail(p, pm->at, "model '%s' has too many fields", pm->name);
    m->fields = xcalloc(pm->n_fields - n_rel, sizeof *m->fields);
    m->relations = xcalloc(n_rel, sizeof *m->relations);
    for (size_t i = 0; i < pm->n_fields; i++) {
        struct pfield *pf = &pm->fields[i];
        struct schema_model *target = target_find(s, pf->type_name);
        rc = target ? relation_make(p, s, m, pf, target) : scalar_make(p, m, pf);
        if (rc < 0)
            return rc;
    }
    if (!m->pk)
        return fail(p, pm->at, "model '%s' has no @id field", m->name);
    return model_cursor_resolve(p, m, pm);
}

/* fields: [x] references: [y] of a to-one relation: x is a key-typed field of
 * this model, y the target's @id. */
static int relation_keys_resolve(struct parser *p, struct schema_relation *r,
                                 const struct pfield *pf)
{
    const struct schema_field *fk =
        schema_field_find(r->model, pf->rel_fields, strlen(pf->rel_fields));
    if (!fk)
        return fail(p, pf->fields_at, "unknown field '%s' in fields: of '%s'", pf->rel_fields,
                    pf->name);
    if (!is_key_type(fk->type))
        return fail(p, pf->fields_at, "fields: '%s' must be Int or BigInt", pf->rel_fields);
    const struct schema_field *ref =
        schema_field_find(r->target, pf->rel_refs, strlen(pf->rel_refs));
    if (!ref)
        return fail(p, pf->refs_at, "unknown field '%s' in references: (model '%s')", pf->rel_refs,
                    r->target->name);
    if (ref != r->target->pk)
        return fail(p, pf->refs_at, "references: must name the @id field of '%s' ('%s')",
                    r->target->name, r->target->pk->name);
    r->fk = fk;
    return 0;
}

/* The opposite side of r: the one other relation between the same two models
 * with the same relation name (both unnamed counts as the same name). */
static int relation_partner(struct parser *p, struct schema_relation *r, const struct pfield *pf,
                            struct schema_relation **out)
{
    *out = NULL;
    size_t group = 0;
    const struct schema_model *sides[2] = {r->model, r->target};
    for (int k = 0; k < (r->model == r->target ? 1 : 2); k++) {
        const struct schema_model *m = sides[k];
        for (size_t i = 0; i < m->n_relations; i++) {
            struct schema_relation *c = &m->relations[i];
            if (c->target != sides[1 - k] || !name_eq(c->relation_name, r->relation_name))
                continue;
            group++;
            if (c != r)
                *out = c;
        }
    }
    if (group > 2) {
        if (r->relation_name)
            return fail(p, pf->at, "ambiguous relation '%s': name \"%s\" is used by %zu fields",
                        r->name, r->relation_name, group);
        return fail(p, pf->at,
                    "ambiguous relation '%s': %zu fields relate '%s' and '%s'; name them with "
                    "@relation(\"Name\")",
                    r->name, group, r->model->name, r->target->name);
    }
    return 0;
}

static int relation_pair(struct parser *p, struct schema_relation *r, const struct pfield *pf)
{
    struct schema_relation *o;
    int rc;
    if ((rc = relation_partner(p, r, pf, &o)) < 0)
        return rc;
    if (r->to_many) {
        if (!o || o->to_many || !o->fk)
            return fail(p, pf->at,
                        "relation '%s' has no opposite to-one field with fields: on '%s'", r->name,
                        r->target->name);
        r->fk = o->fk;
        r->inverse = o;
        o->inverse = r;
        return 0;
    }
    if (!r->fk) {
        if (o && !o->to_many)
            return fail(p, pf->at,
                        "one-to-one relation '%s': the side without fields: is not "
                        "supported",
                        r->name);
        return fail(p, pf->at,
                    "to-one relation '%s' needs @relation(fields: [...], references: "
                    "[...])",
                    r->name);
    }
    if (o && !o->to_many)
        return fail(p, pf->at, "one-to-one relation '%s' is not supported: make '%s.%s' a list",
                    r->name, o->model->name, o->name);
    return 0;
}

static int relations_resolve(struct parser *p, struct schema *s)
{
    int rc;
    /* Keys first: pairing a to-many needs its opposite's fk. */
    for (size_t i = 0; i < p->n_models; i++)
        for (size_t j = 0; j < p->models[i].n_fields; j++) {
            struct pfield *pf = &p->models[i].fields[j];
            if (pf->rel_fields && target_find(s, pf->type_name)) {
                struct schema_relation *r = &s->models[i].relations[pf->out_index];
                if ((rc = relation_keys_resolve(p, r, pf)) < 0)
                    return rc;
            }
        }
    for (size_t i = 0; i < p->n_models; i++)
        for (size_t j = 0; j < p->models[i].n_fields; j++) {
            struct pfield *pf = &p->models[i].fields[j];
            if (!target_find(s, pf->type_name))
                continue;
            if ((rc = relation_pair(p, &s->models[i].relations[pf->out_index], pf)) < 0)
                return rc;
        }
    return 0;
}

/* The declared length of a String field (@db.NVarChar(50) -> 50); 0 when none or max. */
static unsigned long text_length(const struct schema_field *f)
{
    const char *open = f->db_type ? strchr(f->db_type, '(') : NULL;
    if (!open)
        return 0;
    char *end;
    unsigned long n = strtoul(open + 1, &end, 10);
    return *end == ')' ? n : 0;
}

/* The key a secondary index keeps must order exactly as the field does:
 * Decimal and Bytes have no such key here, and a String must be short
 * enough to be kept whole in an LMDB key. */
static int index_field_check(struct parser *p, const struct schema_field *f, struct pos at)
{
    if (f->type == SCHEMA_DECIMAL || f->type == SCHEMA_BYTES)
        return fail(p, at, "@@index on '%s': %s fields cannot be indexed (index an Int, BigInt, "
                           "String, DateTime, Boolean or Float field)", f->name,
                    schema_type_name(f->type));
    unsigned long n = f->type == SCHEMA_STRING ? text_length(f) : 1;
    if (n == 0 || n > SCHEMA_INDEX_TEXT_MAX)
        return fail(p, at, "@@index on '%s': an indexed String needs a declared length of at most "
                           "%d characters (such as @db.NVarChar(50))", f->name, SCHEMA_INDEX_TEXT_MAX);
    return 0;
}

/* Numbers each field that leads an @@index (once, however many name it). */
static int indexes_resolve(struct parser *p, struct schema *s)
{
    for (size_t i = 0; i < p->n_models; i++) {
        const struct pmodel *pm = &p->models[i];
        struct schema_model *m = &s->models[i];
        for (size_t j = 0; j < pm->n_index; j++) {
            struct schema_field *f = (struct schema_field *)schema_field_find(
                m, pm->index_lead[j], strlen(pm->index_lead[j]));
            if (!f)
                return fail(p, pm->index_at[j], "@@index: model '%s' has no scalar field '%s'",
                            m->name, pm->index_lead[j]);
            int rc = index_field_check(p, f, pm->index_at[j]);
            if (rc < 0)
                return rc;
            if (f->sindex || f->is_id) /* the key is its own index */
                continue;
            if (s->n_indexes == UINT16_MAX - 1)
                return fail(p, pm->index_at[j], "too many @@index declarations");
            s->indexed = xrealloc(s->indexed, (s->n_indexes + 1u) * sizeof *s->indexed);
            s->indexed[s->n_indexes++] = f;
            f->sindex = s->n_indexes;
        }
    }
    return 0;
}

static int resolve(struct parser *p, struct schema **out)
{
    int rc = 0;
    if (p->n_models == 0)
        return fail(p, (struct pos){p->n_files ? p->files[0] : "schema", 1, 1}, "no models");
    if (p->n_models >= UINT16_MAX)
        return fail(p, p->models[0].at, "too many models");
    struct schema *s = xcalloc(1, sizeof *s);
    s->models = xcalloc(p->n_models, sizeof *s->models);
    s->n_models = p->n_models;
    for (size_t i = 0; i < p->n_models; i++) {
        s->models[i].name = xstrdup(p->models[i].name);
        s->models[i].table = xstrdup(p->models[i].table ? p->models[i].table : p->models[i].name);
        s->models[i].id = (uint16_t)i;
    }
    for (size_t i = 0; i < p->n_models && rc == 0; i++)
        rc = model_build(p, s, &p->models[i], &s->models[i]);
    if (rc == 0)
        rc = relations_resolve(p, s);
    if (rc == 0)
        rc = indexes_resolve(p, s);
    if (rc < 0) {
        schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- Entry points ----------------------------------------------------------- */

int schema_parse(struct schema **out, const char *name, const char *text, size_t len, char *err,
                 size_t errlen)
{
    struct parser p = {.err = err, .errlen = errlen};
    *out = NULL;
    int rc = parse_source(&p, name, text, len);
    if (rc == 0)
        rc = resolve(&p, out);
    parser_fini(&p);
    return rc;
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    struct buf b;
    buf_init(&b, 0);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "%s: read error", path);
        buf_fini(&b);
        return rc;
    }
    *len = b.len;
    *out = b.mem ? (char *)b.mem : xstrdup("");
    return 0;
}

static int load_one(struct parser *p, const char *path)
{
    char *text;
    size_t len;
    int rc = read_file(path, &text, &len, p->err, p->errlen);
    if (rc < 0) {
        p->failed = true;
        return rc;
    }
    rc = parse_source(p, path, text, len);
    free(text);
    return rc;
}

static int load_dir(struct parser *p, const char *dir)
{
    struct dirlist files;
    int rc = dirlist_read(&files, dir, ".prisma", p->err, p->errlen);
    if (rc < 0)
        return rc;
    if (files.n == 0) {
        snprintf(p->err, p->errlen, "%s: no *.prisma files", dir);
        rc = -ENOENT;
    }
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        char *path = dirlist_path(dir, files.names[i]);
        rc = load_one(p, path);
        free(path);
    }
    dirlist_fini(&files);
    return rc;
}

int schema_load(struct schema **out, const char *path, char *err, size_t errlen)
{
    struct parser p = {.err = err, .errlen = errlen};
    *out = NULL;
    struct stat st;
    int rc = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? load_dir(&p, path) : load_one(&p, path);
    if (rc == 0)
        rc = resolve(&p, out);
    parser_fini(&p);
    return rc;
}

void schema_free(struct schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_models; i++) {
        struct schema_model *m = &s->models[i];
        for (size_t j = 0; j < m->n_fields; j++) {
            free(m->fields[j].name);
            free(m->fields[j].key);
            free(m->fields[j].column);
            free(m->fields[j].db_type);
        }
        for (size_t j = 0; j < m->n_relations; j++) {
            free(m->relations[j].name);
            free(m->relations[j].relation_name);
        }
        free(m->fields);
        free(m->relations);
        free(m->name);
        free(m->table);
    }
    free(s->models);
    free(s->indexed);
    free(s);
}

const struct schema_model *schema_model_find(const struct schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0)
            return &s->models[i];
    return NULL;
}

static bool str_is(const char *s, const char *name, size_t len)
{
    return strncmp(s, name, len) == 0 && s[len] == '\0';
}

const struct schema_field *schema_field_find(const struct schema_model *m, const char *name,
                                             size_t len)
{
    if (memchr(name, '\0', len))
        return NULL;
    for (size_t i = 0; i < m->n_fields; i++)
        if (str_is(m->fields[i].name, name, len))
            return &m->fields[i];
    return NULL;
}

const struct schema_relation *schema_relation_find(const struct schema_model *m, const char *name,
                                                   size_t len)
{
    if (memchr(name, '\0', len))
        return NULL;
    for (size_t i = 0; i < m->n_relations; i++)
        if (str_is(m->relations[i].name, name, len))
            return &m->relations[i];
    return NULL;
}
