/*
 * Evaluates a `where` tree on one row. Scalar conditions use SQL's
 * three-valued logic, as the SQL Prisma sends does: a comparison with a
 * null column is unknown, NOT keeps unknown unknown, and only true keeps a
 * row. Relation conditions read the related rows through the source (the
 * store or the live fallback's rows); as in Prisma's SQL (EXISTS
 * subqueries for to-many, a LEFT JOIN for to-one):
 *   some   a child for which the condition is true
 *   none   no such child
 *   every  no child for which it is false (unknown does not count)
 *   is     the condition on the related row, unknown kept; false without one
 *   isNot  NOT the condition on the related row; true without one
 *   is: null / isNot: null   the foreign key is / is not null
 */
#include "cache/cache_int.h"

#include <errno.h>

#include "collate.h"

#define FOUND 1 /* a children callback's "stop: found one" (not an error) */

static bool is_null_json(struct slice v) { return v.len == 4 && memcmp(v.p, "null", 4) == 0; }

static int tri(bool b) { return b ? CACHE_TRI_T : CACHE_TRI_F; }

static int like_eval(struct cache_eval *e, const struct cache_filter *f, struct slice val)
{
    static const enum collate_match how[] = {COLLATE_CONTAINS, COLLATE_STARTS, COLLATE_ENDS};
    size_t mark = e->tmp.len;
    struct slice t = cache_json_text(val, &e->tmp);
    const struct cache_fvalue *fv = &f->vals[0];
    bool m = collate_match(t.p, t.len, fv->text.p, fv->text.len, how[f->op - CACHE_F_CONTAINS]);
    e->tmp.len = mark;
    return tri(m);
}

/* IN / NOT IN: true on a match; an empty list is false (IN) or true (NOT IN),
 * as Prisma renders it; a null in the list makes a non-match unknown. */
static int in_eval(struct cache_eval *e, const struct cache_filter *f, struct slice val)
{
    bool in = f->op == CACHE_F_IN, has_null = false;
    for (size_t i = 0; i < f->n_vals; i++) {
        if (is_null_json(f->vals[i].json)) {
            has_null = true;
            continue;
        }
        if (cache_value_cmp(f->field, val, f->vals[i].json, &e->tmp) == 0)
            return tri(in);
    }
    return has_null ? CACHE_TRI_U : tri(!in);
}

static int scalar_eval(struct cache_eval *e, const struct cache_filter *f, const struct cache_row_view *v)
{
    struct slice val = cache_row_member_value(v, f->field);
    bool null = is_null_json(val);
    if ((f->op == CACHE_F_EQ || f->op == CACHE_F_NE) && is_null_json(f->vals[0].json))
        return tri(null == (f->op == CACHE_F_EQ)); /* IS [NOT] NULL */
    if ((f->op == CACHE_F_IN || f->op == CACHE_F_NOTIN) && f->n_vals == 0)
        return tri(f->op == CACHE_F_NOTIN);
    if (null)
        return CACHE_TRI_U;
    if (f->op == CACHE_F_IN || f->op == CACHE_F_NOTIN)
        return in_eval(e, f, val);
    if (f->op >= CACHE_F_CONTAINS)
        return like_eval(e, f, val);
    int c = cache_value_cmp(f->field, val, f->vals[0].json, &e->tmp);
    switch (f->op) {
    case CACHE_F_EQ: return tri(c == 0);
    case CACHE_F_NE: return tri(c != 0);
    case CACHE_F_LT: return tri(c < 0);
    case CACHE_F_LTE: return tri(c <= 0);
    case CACHE_F_GT: return tri(c > 0);
    default: return tri(c >= 0);
    }
}

struct child_ctx {
    struct cache_eval *e;
    const struct schema_model *model;
    const struct cache_filter *sub;
    int want; /* stop at the first child whose result is this */
};

static int child_cb(void *arg, struct slice row)
{
    struct child_ctx *c = arg;
    struct cache_row_view v;
    int rc = cache_row_view(row, c->model, &v);
    if (rc == 0)
        rc = cache_filter_eval(c->e, c->sub, &v);
    if (rc < 0)
        return rc;
    return rc == c->want ? FOUND : 0;
}

static int to_many_eval(struct cache_eval *e, const struct cache_filter *f, const struct cache_row_view *v)
{
    struct child_ctx c = {e, f->rel->target, &f->sub[0], f->op == CACHE_F_EVERY ? CACHE_TRI_F : CACHE_TRI_T};
    int rc = e->src->ops->children(e->src->ctx, f->rel, (int64_t)v->pk, child_cb, &c);
    if (rc < 0)
        return rc;
    bool found = rc == FOUND;
    return tri(f->op == CACHE_F_SOME ? found : !found);
}

/* As Prisma's SQL: `is: null` / `isNot: null` test the foreign key itself
 * (a key naming no row is not null); `is: W` is W on the joined row
 * (unknown stays unknown) and false without one; `isNot: W` is NOT W, and
 * true without a row. */
static int to_one_eval(struct cache_eval *e, const struct cache_filter *f, const struct cache_row_view *v)
{
    int64_t fk;
    struct slice row;
    bool is = f->op == CACHE_F_IS;
    struct slice key = cache_row_member_value(v, f->rel->fk);
    if (f->n_sub == 0)
        return tri(is_null_json(key) == is);
    int rc = cache_json_int(key, &fk);
    if (rc == 0)
        rc = e->src->ops->get(e->src->ctx, f->rel->target, (uint64_t)fk, &row);
    if (rc == -ENOENT)
        return tri(!is);
    if (rc < 0)
        return rc;
    struct cache_row_view t;
    if ((rc = cache_row_view(row, f->rel->target, &t)) < 0 ||
        (rc = cache_filter_eval(e, &f->sub[0], &t)) < 0)
        return rc;
    if (is || rc == CACHE_TRI_U)
        return rc;
    return rc == CACHE_TRI_T ? CACHE_TRI_F : CACHE_TRI_T;
}

/* AND: false wins, then unknown; OR: true wins, then unknown. */
static int junction_eval(struct cache_eval *e, const struct cache_filter *f, const struct cache_row_view *v)
{
    int wins = f->op == CACHE_F_AND ? CACHE_TRI_F : CACHE_TRI_T, res = tri(f->op == CACHE_F_AND);
    for (size_t i = 0; i < f->n_sub; i++) {
        int rc = cache_filter_eval(e, &f->sub[i], v);
        if (rc < 0 || rc == wins)
            return rc;
        if (rc == CACHE_TRI_U)
            res = CACHE_TRI_U;
    }
    return res;
}

int cache_filter_eval(struct cache_eval *e, const struct cache_filter *f, const struct cache_row_view *v)
{
    int rc;
    switch (f->op) {
    case CACHE_F_AND:
    case CACHE_F_OR:
        return junction_eval(e, f, v);
    case CACHE_F_NOT: /* NOT (a AND b ...), as Prisma's NOT: [..] */
        rc = cache_filter_eval(e, &f->sub[0], v);
        return rc == CACHE_TRI_T ? CACHE_TRI_F : rc == CACHE_TRI_F ? CACHE_TRI_T : rc;
    case CACHE_F_SOME:
    case CACHE_F_EVERY:
    case CACHE_F_NONE:
        return to_many_eval(e, f, v);
    case CACHE_F_IS:
    case CACHE_F_ISNOT:
        return to_one_eval(e, f, v);
    default:
        return scalar_eval(e, f, v);
    }
}
