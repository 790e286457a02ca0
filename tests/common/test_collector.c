#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "common/test_paths.h"

/* A small schema: Parent 1-n Child, Child n-1 Tag, and an unrelated Lone. */
static const char small_schema[] =
    "model Parent {\n  parentRecId Int @id\n  name String?\n  children Child[]\n}\n"
    "model Child {\n"
    "  childRecId  Int @id\n"
    "  parentRecId Int?\n"
    "  tagRecId    Int?\n"
    "  big         BigInt?\n"
    "  label       String\n"
    "  flag        Boolean\n"
    "  price       Float?\n"
    "  qty         Decimal?\n"
    "  changed     DateTime?\n"
    "  parent Parent? @relation(fields: [parentRecId], references: [parentRecId])\n"
    "  tag    Tag?    @relation(fields: [tagRecId], references: [tagRecId])\n"
    "}\n"
    "model Tag {\n  tagRecId Int @id\n  children Child[]\n}\n"
    "model Lone {\n  id Int @id\n}\n";

static struct schema *sch;
static char dir[64];
static char err[512];

static void setup(void)
{
    int rc =
        schema_parse(&sch, "small.prisma", small_schema, strlen(small_schema), err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    strcpy(dir, "/tmp/cwcache-coll-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[320];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    schema_free(sch);
}

TestSuite(common_collector, .init = setup, .fini = teardown);

static void put(const char *name, const char *json)
{
    char p[320];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
}

/* Loads dir expecting failure; the message must be "<dir>/<file>: <msg>". */
static void load_fails(const char *file, const char *msg)
{
    struct collector_set cs;
    char want[600];
    int rc = collector_set_load(&cs, dir, sch, err, sizeof err);
    cr_assert_eq(rc, -EINVAL, "rc %d (%s)", rc, err);
    cr_assert_eq(cs.n, 0);
    cr_assert_null(cs.items);
    snprintf(want, sizeof want, "%s/%s: %s", dir, file, msg);
    cr_assert_str_eq(err, want);
}

static void one_fails(const char *json, const char *msg)
{
    put("fetchChildren.json", json);
    load_fails("fetchChildren.json", msg);
}

Test(common_collector, loads_sorted_and_finds_by_length)
{
    put("fetchParents.json", "{\"model\": \"Parent\", \"description\": \"all parents\"}");
    put("fetchChildren.json", "{\"model\": \"Child\", \"maxRows\": 500}");
    put("fetchChild.json", "{\"model\": \"Child\"}");
    put("README.txt", "not a collector");
    struct collector_set cs;
    cr_assert_eq(collector_set_load(&cs, dir, sch, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cs.n, 3);
    cr_assert_str_eq(cs.items[0].event, "fetchChild");
    cr_assert_str_eq(cs.items[1].event, "fetchChildren");
    cr_assert_str_eq(cs.items[2].event, "fetchParents");
    const struct collector *c = collector_find(&cs, "fetchChildrenXYZ", 13);
    cr_assert_not_null(c);
    cr_assert_str_eq(c->event, "fetchChildren");
    cr_assert_eq(c->model, schema_model_find(sch, "Child"));
    cr_assert_eq(c->max_rows, 500);
    cr_assert_eq(c->n_where, 0);
    cr_assert_eq(collector_find(&cs, "fetchChild", 10), &cs.items[0]);
    cr_assert_eq(collector_find(&cs, "fetchParents", 12)->max_rows, 0);
    cr_assert_null(collector_find(&cs, "fetchChil", 9));
    cr_assert_null(collector_find(&cs, "fetchParentsX", 13));
    cr_assert_null(collector_find(&cs, "fetchChild\0ren", 14));
    cr_assert_null(collector_find(&cs, "", 0));
    collector_set_fini(&cs);
    cr_assert_eq(cs.n, 0);
    collector_set_fini(&cs); /* twice is harmless */
}

Test(common_collector, where_values_kept_as_compact_json)
{
    put("fetchChildren.json",
        "{\"model\": \"Child\", \"where\": {\"flag\": false, \"label\": \"a \\\"b\\\"\", "
        "\"parentRecId\": 3, \"big\": 9007199254740993, \"price\": 1.5, \"qty\": \"12.3400\", "
        "\"changed\": \"2024-03-01T12:00:00.000Z\", \"tagRecId\": null}}");
    struct collector_set cs;
    cr_assert_eq(collector_set_load(&cs, dir, sch, err, sizeof err), 0, "%s", err);
    const struct collector *c = &cs.items[0];
    cr_assert_eq(c->n_where, 8);
    static const char *const want[][2] = {
        {"flag", "false"},
        {"label", "\"a \\\"b\\\"\""},
        {"parentRecId", "3"},
        {"big", "9007199254740993"},
        {"price", "1.5"},
        {"qty", "\"12.3400\""},
        {"changed", "\"2024-03-01T12:00:00.000Z\""},
        {"tagRecId", "null"},
    };
    for (size_t i = 0; i < 8; i++) {
        const struct collector_filter *f = NULL;
        for (size_t j = 0; j < c->n_where; j++)
            if (strcmp(c->where[j].field->name, want[i][0]) == 0)
                f = &c->where[j];
        cr_assert_not_null(f, "%s", want[i][0]);
        cr_assert_str_eq(f->json_value, want[i][1]);
    }
    collector_set_fini(&cs);
}

Test(common_collector, unknown_keys_models_and_fields)
{
    one_fails("{\"model\": \"Child\", \"selects\": []}",
              "unknown key \"selects\" (expected model, where, maxRows, description)");
    one_fails("{\"model\": \"Kid\"}", "unknown model \"Kid\"");
    one_fails("{\"description\": \"x\"}", "\"model\" is required and must be a string");
    one_fails("{\"model\": 3}", "\"model\" is required and must be a string");
    one_fails("{\"model\": \"Child\", \"where\": {\"nope\": 1}}",
              "where: unknown field \"nope\" in model Child");
    one_fails("{\"model\": \"Child\", \"where\": {\"parent\": 1}}",
              "where: \"parent\" is a relation; only scalar fields can be filtered");
    one_fails("{\"model\": \"Child\", \"where\": []}", "\"where\" must be an object");
    one_fails("{\"model\": \"Child\", \"description\": 1}", "\"description\" must be a string");
}

Test(common_collector, wrong_value_types)
{
    one_fails("{\"model\": \"Child\", \"where\": {\"flag\": 0}}",
              "where.flag (Boolean): expected true or false");
    one_fails("{\"model\": \"Child\", \"where\": {\"parentRecId\": \"3\"}}",
              "where.parentRecId (Int): expected a 32-bit integer");
    one_fails("{\"model\": \"Child\", \"where\": {\"parentRecId\": 4294967296}}",
              "where.parentRecId (Int): expected a 32-bit integer");
    one_fails("{\"model\": \"Child\", \"where\": {\"parentRecId\": 1.5}}",
              "where.parentRecId (Int): expected a 32-bit integer");
    one_fails("{\"model\": \"Child\", \"where\": {\"big\": true}}",
              "where.big (BigInt): expected an integer");
    one_fails("{\"model\": \"Child\", \"where\": {\"label\": 1}}",
              "where.label (String): expected a string");
    one_fails("{\"model\": \"Child\", \"where\": {\"label\": null}}",
              "where.label (String): null on a required field");
    one_fails("{\"model\": \"Child\", \"where\": {\"price\": \"1.5\"}}",
              "where.price (Float): expected a number");
    one_fails("{\"model\": \"Child\", \"where\": {\"qty\": \"1.2.3\"}}",
              "where.qty (Decimal): expected a number or a decimal string");
    one_fails(
        "{\"model\": \"Child\", \"where\": {\"changed\": \"yesterday\"}}",
        "where.changed (DateTime): expected an ISO-8601 string (\"2024-03-01T12:00:00.000Z\")");
    one_fails(
        "{\"model\": \"Child\", \"where\": {\"changed\": \"2024-03-01T12:00:00.Z\"}}",
        "where.changed (DateTime): expected an ISO-8601 string (\"2024-03-01T12:00:00.000Z\")");
    one_fails("{\"model\": \"Child\", \"maxRows\": -1}",
              "\"maxRows\" must be a non-negative integer");
    one_fails("{\"model\": \"Child\", \"maxRows\": \"10\"}",
              "\"maxRows\" must be a non-negative integer");
}

Test(common_collector, malformed_files)
{
    one_fails("{\"model\": \"Child\",}", "line 1 column 19: string or '}' expected near '}'");
    one_fails("[\"Child\"]", "expected a JSON object");
    one_fails("{\"model\": \"Child\", \"model\": \"Tag\"}",
              "line 1 column 26: duplicate object key near '\"model\"'");
    put("fetch kids.json", "{\"model\": \"Child\"}");
    char p[320];
    snprintf(p, sizeof p, "%s/fetchChildren.json", dir);
    unlink(p);
    load_fails("fetch kids.json", "event name must be letters, digits, '_' or '-'");
}

Test(common_collector, missing_or_empty_directory)
{
    struct collector_set cs;
    cr_assert_eq(collector_set_load(&cs, dir, sch, err, sizeof err), -ENOENT);
    cr_assert(strstr(err, "no *.json collector files"), "%s", err);
    cr_assert_eq(collector_set_load(&cs, "/nonexistent/collectors", sch, err, sizeof err), -ENOENT);
    cr_assert_str_eq(err, "/nonexistent/collectors: No such file or directory");
}

Test(common_collector, model_closure_follows_relations_transitively)
{
    put("fetchTags.json", "{\"model\": \"Tag\"}");
    struct collector_set cs;
    cr_assert_eq(collector_set_load(&cs, dir, sch, err, sizeof err), 0, "%s", err);
    bool need[4];
    memset(need, 1, sizeof need);
    collector_set_models(&cs, sch, need);
    /* Tag -> Child (children) -> Parent (parent); Lone is unreachable. */
    cr_assert(need[schema_model_find(sch, "Tag")->id]);
    cr_assert(need[schema_model_find(sch, "Child")->id]);
    cr_assert(need[schema_model_find(sch, "Parent")->id]);
    cr_assert_not(need[schema_model_find(sch, "Lone")->id]);
    collector_set_fini(&cs);

    struct collector_set none = {0};
    collector_set_models(&none, sch, need);
    for (size_t i = 0; i < 4; i++)
        cr_assert_not(need[i]);
}

/* ---- The shipped collectors against the shipped schema ---------------------- */

Test(common_collector, repository_collectors_load)
{
    struct schema *cw;
    int rc = schema_load(&cw, TEST_SRC_ROOT "/schema", err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    struct collector_set cs;
    rc = collector_set_load(&cs, TEST_SRC_ROOT "/collectors", cw, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    static const char *const want[][2] = {
        {"fetchCompanies", "Company"},
        {"fetchContacts", "Contact"},
        {"fetchInventory", "ProductInventory"},
        {"fetchItemVendors", "ItemVendor"},
        {"fetchManufacturers", "ProductManufacturer"},
        {"fetchMembers", "Member"},
        {"fetchOpportunities", "SoOpportunity"},
        {"fetchProductCategories", "ProductCategory"},
        {"fetchProductSubcategories", "ProductSubcategory"},
        {"fetchProducts", "ProductCatalog"},
    };
    cr_assert_eq(cs.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < cs.n; i++) {
        const struct collector *c = collector_find(&cs, want[i][0], strlen(want[i][0]));
        cr_assert_not_null(c, "%s", want[i][0]);
        cr_assert_str_eq(c->model->name, want[i][1]);
        cr_assert_eq(c->n_where, 0); /* the original filters nothing */
    }
    bool *need = calloc(cw->n_models, 1);
    collector_set_models(&cs, cw, need);
    cr_assert(need[schema_model_find(cw, "ProductCategory")->id]);
    cr_assert(need[schema_model_find(cw, "TimeZone")->id]);
    cr_assert(need[schema_model_find(cw, "DirectionalSync")->id]);
    free(need);
    collector_set_fini(&cs);
    schema_free(cw);
}
