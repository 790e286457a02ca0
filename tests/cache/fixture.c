#include "fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char fx_schema_text[] =
    "model Category {\n"
    "  id            Int           @id\n"
    "  name          String\n"
    "  subcategories Subcategory[]\n"
    "}\n"
    "model Subcategory {\n"
    "  id         Int       @id\n"
    "  categoryId Int?\n"
    "  name       String?\n"
    "  category   Category? @relation(fields: [categoryId], references: [id], onDelete: NoAction, onUpdate: NoAction)\n"
    "  products   Product[]\n"
    "}\n"
    "model Product {\n"
    "  id            Int          @id\n"
    "  subcategoryId Int?\n"
    "  name          String\n"
    "  price         Decimal?\n"
    "  subcategory   Subcategory? @relation(fields: [subcategoryId], references: [id], onDelete: NoAction, onUpdate: NoAction)\n"
    "}\n"
    "model Company {\n"
    "  id       Int       @id\n"
    "  name     String    @db.NVarChar(50)\n"
    "  deleted  Boolean\n"
    "  parentId Int?\n"
    "  parent   Company?  @relation(\"CompanyParent\", fields: [parentId], references: [id], onDelete: NoAction, onUpdate: NoAction)\n"
    "  children Company[] @relation(\"CompanyParent\")\n"
    "  @@index([name])\n"
    "}\n"
    "model AllTypes {\n"
    "  id  BigInt    @id\n"
    "  i   Int?\n"
    "  b   BigInt?\n"
    "  s   String?   @db.NVarChar(40)\n"
    "  t   Boolean?\n"
    "  d   DateTime?\n"
    "  dec Decimal?\n"
    "  f   Float?\n"
    "  by  Bytes?\n"
    "  @@index([i])\n"
    "  @@index([s, i])\n"
    "  @@index([t])\n"
    "  @@index(fields: [d], map: \"ix_d\")\n"
    "  @@index([f])\n"
    "}\n";

struct schema *fx_schema;
struct cache *fx_cache;
char fx_dir[64];

struct schema *fx_schema_parse(const char *text)
{
    struct schema *s = NULL;
    char err[256] = "";
    int rc = schema_parse(&s, "test.prisma", text, strlen(text), err, sizeof err);
    cr_assert_eq(rc, 0, "schema: %s", err);
    return s;
}

void fx_open(void)
{
    fx_schema = fx_schema_parse(fx_schema_text);
    snprintf(fx_dir, sizeof fx_dir, "/tmp/cwcache-test-XXXXXX");
    cr_assert_not_null(mkdtemp(fx_dir));
    struct cache_opts o = {.path = fx_dir, .map_size = 64u << 20, .schema = fx_schema};
    cr_assert_eq(cache_open(&fx_cache, &o), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

void fx_dir_remove(const char *dir) { nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

void fx_close(void)
{
    cache_close(fx_cache);
    fx_cache = NULL;
    if (fx_dir[0])
        fx_dir_remove(fx_dir);
    schema_free(fx_schema);
    fx_schema = NULL;
}

const struct schema_model *fx_model(const char *name)
{
    const struct schema_model *m = schema_model_find(fx_schema, name);
    cr_assert_not_null(m, "model %s", name);
    return m;
}

const struct schema_field *fx_field(const char *model, const char *field)
{
    const struct schema_field *f = schema_field_find(fx_model(model), field, strlen(field));
    cr_assert_not_null(f, "field %s.%s", model, field);
    return f;
}

const struct schema_relation *fx_rel(const char *model, const char *rel)
{
    const struct schema_relation *r = schema_relation_find(fx_model(model), rel, strlen(rel));
    cr_assert_not_null(r, "relation %s.%s", model, rel);
    return r;
}

void fx_put(const char *model, const struct cache_value *vals)
{
    struct cache_wtxn *w;
    char err[256] = "";
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    int rc = cache_row_put(w, fx_model(model), vals, NULL, err, sizeof err);
    cr_assert_eq(rc, 0, "put %s: %s", model, err);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

void fx_category(int64_t id, const char *name)
{
    struct cache_value v[] = {cv_int(id), cv_text(name)};
    fx_put("Category", v);
}

void fx_subcategory(int64_t id, const struct cache_value *category, const char *name)
{
    struct cache_value v[] = {cv_int(id), *category, name ? cv_text(name) : cv_null()};
    fx_put("Subcategory", v);
}

void fx_product(int64_t id, const struct cache_value *subcategory, const char *name, const char *price)
{
    struct cache_value v[] = {cv_int(id), *subcategory, cv_text(name), price ? cv_dec(price) : cv_null()};
    fx_put("Product", v);
}

void fx_company(int64_t id, const char *name, bool deleted, const struct cache_value *parent)
{
    struct cache_value v[] = {cv_int(id), cv_text(name), cv_bool(deleted), *parent};
    fx_put("Company", v);
}

void fx_delete(const char *model, uint64_t pk)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_row_delete(w, fx_model(model), pk), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

void fx_delete_maybe(const char *model, uint64_t pk)
{
    struct cache_wtxn *w;
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    int rc = cache_row_delete(w, fx_model(model), pk);
    cr_assert(rc == 0 || rc == -ENOENT, "delete %s %llu: %d", model, (unsigned long long)pk, rc);
    if (rc == 0)
        cr_assert_eq(cache_wtxn_commit(w), 0);
    else
        cache_wtxn_abort(w);
}

/* Marks model warm (as a finished first load does): the cache then answers for it. */
void fx_warm(const char *model)
{
    struct cache_wtxn *w;
    struct cache_meta m = {.state = CACHE_WARM};
    cr_assert_eq(cache_wtxn_begin(fx_cache, &w), 0);
    cr_assert_eq(cache_meta_put(w, fx_model(model), &m), 0);
    cr_assert_eq(cache_wtxn_commit(w), 0);
}

char *fx_row_json(struct slice row, const struct schema_model *m)
{
    struct cache_row_view v;
    cr_assert_eq(cache_row_view(row, m, &v), 0);
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '{');
    cache_row_members(&v, m, &b);
    buf_putc(&b, '}');
    char *s = fx_strdup_slice(buf_slice(&b));
    buf_fini(&b);
    return s;
}

char *fx_strdup_slice(struct slice s)
{
    char *p = malloc(s.len + 1);
    if (s.len)
        memcpy(p, s.p, s.len);
    p[s.len] = '\0';
    return p;
}

int fx_render(const char *model, const char *opts, size_t max_bytes, char **out, char *err, size_t errlen)
{
    static struct collector c;
    c = (struct collector){.event = "fetchX", .model = fx_model(model)};
    struct cache_plan p;
    json_t *j = opts ? json_loads(opts, 0, NULL) : NULL;
    cr_assert(!opts || j, "bad test JSON %s", opts);
    int rc = cache_plan_parse(&p, &c, j, err, errlen);
    json_decref(j);
    *out = NULL;
    if (rc < 0)
        return rc;
    struct cache_rd *rd;
    struct buf b;
    buf_init(&b, 0);
    cr_assert_eq(cache_rd_new(fx_cache, &rd), 0);
    cr_assert_eq(cache_rd_begin(rd), 0);
    struct cache_source src = cache_source_lmdb(rd);
    size_t size = 0;
    rc = cache_query_render(&p, &src, &b, max_bytes, &size);
    if (rc == -EFBIG)
        snprintf(err, errlen, "%zu", size);
    cache_rd_end(rd);
    cache_rd_free(rd);
    cache_plan_fini(&p);
    if (rc == 0)
        *out = fx_strdup_slice(buf_slice(&b));
    buf_fini(&b);
    return rc;
}

void fx_expect(const char *model, const char *opts, const char *want)
{
    char err[256] = "", *got;
    int rc = fx_render(model, opts, 0, &got, err, sizeof err);
    cr_assert_eq(rc, 0, "opts %s: %s", opts ? opts : "(none)", err);
    cr_assert_str_eq(got, want, "opts %s", opts ? opts : "(none)");
    free(got);
}

void fx_expect_error(const char *model, const char *opts, const char *want)
{
    char err[256] = "", *got;
    cr_assert_eq(fx_render(model, opts, 0, &got, err, sizeof err), -EINVAL, "%s accepted", opts);
    cr_assert_str_eq(err, want, "for %s", opts);
}
