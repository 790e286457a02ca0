#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/test_paths.h"
#include "schema.h"

TestSuite(common_schema);

static char err[512];

static struct schema *parse_ok(const char *text)
{
    struct schema *s = NULL;
    err[0] = '\0';
    int rc = schema_parse(&s, "t.prisma", text, strlen(text), err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed: %s", err);
    cr_assert_not_null(s);
    return s;
}

/* Parses text that must fail and checks the full "file:line:col: message". */
static void parse_fails(const char *text, const char *want)
{
    struct schema *s = (struct schema *)1;
    err[0] = '\0';
    int rc = schema_parse(&s, "t.prisma", text, strlen(text), err, sizeof err);
    cr_assert_eq(rc, -EINVAL, "rc %d for: %s", rc, text);
    cr_assert_null(s);
    cr_assert_str_eq(err, want);
}

static const struct schema_model *model(const struct schema *s, const char *name)
{
    const struct schema_model *m = schema_model_find(s, name);
    cr_assert_not_null(m, "model %s", name);
    return m;
}

static const struct schema_field *field(const struct schema_model *m, const char *name)
{
    const struct schema_field *f = schema_field_find(m, name, strlen(name));
    cr_assert_not_null(f, "field %s.%s", m->name, name);
    return f;
}

static const struct schema_relation *rel(const struct schema_model *m, const char *name)
{
    const struct schema_relation *r = schema_relation_find(m, name, strlen(name));
    cr_assert_not_null(r, "relation %s.%s", m->name, name);
    return r;
}

/* ---- Good input ------------------------------------------------------------- */

Test(common_schema, scalar_fields_columns_and_native_types)
{
    struct schema *s = parse_ok(
        "// a comment\n"
        "datasource db {\n  provider = \"sqlserver\"\n  url = env(\"DATABASE_URL\")\n}\n"
        "generator client { provider = \"prisma-client-js\" }\n"
        "/// Companies.\n"
        "/// @cursor lastUpdateUtc\n"
        "model Company {\n"
        "  companyRecId  Int      @id @default(autoincrement()) @map(\"Company_RecID\")\n"
        "  companyName   String   @map(\"Company_Name\") @db.NVarChar(50) // trailing comment\n"
        "  revenue       Float?   @map(\"Annual_Revenue\") @db.Money\n"
        "  qty           Decimal? @db.Decimal(18, 4)\n"
        "  guid          String?  @unique @db.UniqueIdentifier\n"
        "  big           BigInt\n"
        "  deleteFlag    Boolean  @default(false) @map(name: \"Delete_Flag\")\n"
        "  photo         Bytes?\n"
        "  lastUpdateUtc DateTime @map(\"Last_Update_UTC\") @db.DateTime\n"
        "\n"
        "  @@unique([companyName, big])\n"
        "  @@index([lastUpdateUtc])\n"
        "  @@map(\"Company\")\n"
        "}\n");
    cr_assert_eq(s->n_models, 1);
    const struct schema_model *m = model(s, "Company");
    cr_assert_str_eq(m->table, "Company");
    cr_assert_eq(m->n_fields, 9);
    cr_assert_eq(m->id, 0);
    cr_assert_eq(m->pk, field(m, "companyRecId"));
    cr_assert_eq(m->cursor, field(m, "lastUpdateUtc"));

    const struct schema_field *f = field(m, "companyRecId");
    cr_assert_eq(f->type, SCHEMA_INT);
    cr_assert(f->is_id && !f->optional);
    cr_assert_str_eq(f->column, "Company_RecID");
    cr_assert_null(f->db_type);
    f = field(m, "companyName");
    cr_assert_str_eq(f->db_type, "NVarChar(50)");
    cr_assert_eq(f->index, 1);
    f = field(m, "revenue");
    cr_assert_eq(f->type, SCHEMA_FLOAT);
    cr_assert(f->optional);
    cr_assert_str_eq(f->db_type, "Money");
    cr_assert_str_eq(field(m, "qty")->db_type, "Decimal(18,4)");
    cr_assert_str_eq(field(m, "qty")->column, "qty"); /* no @map: the name */
    cr_assert_eq(field(m, "qty")->type, SCHEMA_DECIMAL);
    cr_assert_str_eq(field(m, "guid")->db_type, "UniqueIdentifier");
    cr_assert_eq(field(m, "big")->type, SCHEMA_BIGINT);
    cr_assert_eq(field(m, "deleteFlag")->type, SCHEMA_BOOLEAN);
    cr_assert_str_eq(field(m, "deleteFlag")->column, "Delete_Flag");
    cr_assert_eq(field(m, "photo")->type, SCHEMA_BYTES);
    cr_assert_eq(field(m, "lastUpdateUtc")->type, SCHEMA_DATETIME);
    schema_free(s);
}

Test(common_schema, enum_fields_read_as_string_and_table_defaults_to_name)
{
    struct schema *s = parse_ok("enum Level {\n  LOW\n  HIGH @map(\"high\")\n}\n"
                                "model T {\n  id Int @id\n  level Level?\n}\n");
    const struct schema_model *m = model(s, "T");
    cr_assert_str_eq(m->table, "T");
    cr_assert_null(m->cursor);
    cr_assert_eq(field(m, "level")->type, SCHEMA_STRING);
    cr_assert(field(m, "level")->optional);
    schema_free(s);
}

Test(common_schema, type_names)
{
    cr_assert_str_eq(schema_type_name(SCHEMA_INT), "Int");
    cr_assert_str_eq(schema_type_name(SCHEMA_BIGINT), "BigInt");
    cr_assert_str_eq(schema_type_name(SCHEMA_STRING), "String");
    cr_assert_str_eq(schema_type_name(SCHEMA_BOOLEAN), "Boolean");
    cr_assert_str_eq(schema_type_name(SCHEMA_DATETIME), "DateTime");
    cr_assert_str_eq(schema_type_name(SCHEMA_DECIMAL), "Decimal");
    cr_assert_str_eq(schema_type_name(SCHEMA_FLOAT), "Float");
    cr_assert_str_eq(schema_type_name(SCHEMA_BYTES), "Bytes");
}

Test(common_schema, find_uses_length_not_nul)
{
    struct schema *s = parse_ok("model T {\n  id Int @id\n  name String\n  nameX String\n}\n");
    const struct schema_model *m = model(s, "T");
    cr_assert_eq(schema_field_find(m, "nameXYZ", 4), field(m, "name"));
    cr_assert_eq(schema_field_find(m, "nameXYZ", 5), field(m, "nameX"));
    cr_assert_null(schema_field_find(m, "nam", 3));
    cr_assert_null(schema_field_find(m, "name\0", 5));
    cr_assert_null(schema_relation_find(m, "name", 4));
    cr_assert_null(schema_model_find(s, "t"));
    schema_free(s);
}

static const char one_to_many[] =
    "model Parent {\n"
    "  parentRecId Int     @id\n"
    "  children    Child[]\n"
    "}\n"
    "model Child {\n"
    "  childRecId  Int     @id\n"
    "  parentRecId Int?    @map(\"Parent_RecID\")\n"
    "  parent      Parent? @relation(fields: [parentRecId], references: [parentRecId], "
    "onDelete: NoAction, onUpdate: NoAction)\n"
    "}\n";

Test(common_schema, one_to_many_pairs_both_sides)
{
    struct schema *s = parse_ok(one_to_many);
    const struct schema_model *p = model(s, "Parent"), *c = model(s, "Child");
    cr_assert_eq(p->n_fields, 1);
    cr_assert_eq(p->n_relations, 1);
    const struct schema_relation *kids = rel(p, "children"), *up = rel(c, "parent");
    cr_assert(kids->to_many);
    cr_assert_eq(kids->model, p);
    cr_assert_eq(kids->target, c);
    cr_assert_eq(kids->fk, field(c, "parentRecId")); /* the child's column */
    cr_assert_eq(kids->inverse, up);
    cr_assert_eq(kids->to_many_id, 0);
    cr_assert_null(kids->relation_name);
    cr_assert_not(up->to_many);
    cr_assert_eq(up->fk, field(c, "parentRecId"));
    cr_assert_eq(up->inverse, kids);
    cr_assert_eq(up->to_many_id, UINT16_MAX);
    cr_assert_eq(s->n_to_many, 1);
    schema_free(s);
}

Test(common_schema, self_relation_and_named_pairs_between_same_models)
{
    struct schema *s = parse_ok(
        "model Company {\n"
        "  companyRecId Int  @id\n"
        "  parentRecId  Int?\n"
        "  parent   Company?  @relation(\"Tree\", fields: [parentRecId], references: "
        "[companyRecId])\n"
        "  children Company[] @relation(\"Tree\")\n"
        "  billed   Opp[]     @relation(name: \"Bill\")\n"
        "  shipped  Opp[]     @relation(\"Ship\")\n"
        "}\n"
        "model Opp {\n"
        "  oppRecId Int @id\n"
        "  billToRecId BigInt\n"
        "  shipToRecId Int?\n"
        "  shipTo Company? @relation(\"Ship\", fields: [shipToRecId], references: [companyRecId])\n"
        "  billTo Company  @relation(\"Bill\", fields: [billToRecId], references: [companyRecId])\n"
        "}\n");
    const struct schema_model *c = model(s, "Company"), *o = model(s, "Opp");
    const struct schema_relation *parent = rel(c, "parent"), *children = rel(c, "children");
    cr_assert_eq(parent->target, c);
    cr_assert_eq(children->inverse, parent);
    cr_assert_eq(parent->inverse, children);
    cr_assert_eq(children->fk, field(c, "parentRecId"));
    cr_assert_str_eq(children->relation_name, "Tree");
    cr_assert_eq(rel(c, "billed")->fk, field(o, "billToRecId"));
    cr_assert_eq(rel(c, "billed")->inverse, rel(o, "billTo"));
    cr_assert_str_eq(rel(c, "billed")->relation_name, "Bill");
    cr_assert_eq(rel(c, "shipped")->fk, field(o, "shipToRecId"));
    cr_assert_eq(rel(o, "shipTo")->inverse, rel(c, "shipped"));
    cr_assert_eq(s->n_to_many, 3);
    /* Dense to-many numbering in declaration order. */
    cr_assert_eq(children->to_many_id, 0);
    cr_assert_eq(rel(c, "billed")->to_many_id, 1);
    cr_assert_eq(rel(c, "shipped")->to_many_id, 2);
    cr_assert_eq(children->index, 1);
    schema_free(s);
}

Test(common_schema, crlf_line_endings)
{
    char crlf[sizeof one_to_many * 2 + 32];
    size_t n = 0;
    const char *text = "/// @cursor at\nmodel T {\n  id Int @id\n  at DateTime\n}\n";
    for (const char *p = one_to_many; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    crlf[n] = '\0';
    struct schema *s = parse_ok(crlf);
    cr_assert_eq(rel(model(s, "Parent"), "children")->fk, field(model(s, "Child"), "parentRecId"));
    schema_free(s);
    n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    crlf[n] = '\0';
    s = parse_ok(crlf);
    cr_assert_eq(model(s, "T")->cursor, field(model(s, "T"), "at"));
    schema_free(s);
}

Test(common_schema, to_one_without_declared_inverse_is_accepted)
{
    struct schema *s = parse_ok("model A {\n  aRecId Int @id\n}\n"
                                "model B {\n  id Int @id\n  aRecId Int?\n"
                                "  a A? @relation(fields: [aRecId], references: [aRecId])\n}\n");
    const struct schema_relation *r = rel(model(s, "B"), "a");
    cr_assert_null(r->inverse);
    cr_assert_eq(r->fk, field(model(s, "B"), "aRecId"));
    cr_assert_eq(s->n_to_many, 0);
    schema_free(s);
}

Test(common_schema, cursor_among_other_doc_lines)
{
    struct schema *s = parse_ok("/// First line.\n/// @cursor changed\n/// Last line.\n"
                                "model T {\n  id Int @id\n  changed DateTime?\n}\n");
    cr_assert_eq(model(s, "T")->cursor, field(model(s, "T"), "changed"));
    schema_free(s);
}

/* ---- Files and directories -------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static char tmpdir[64];

static void tmpdir_make(void)
{
    strcpy(tmpdir, "/tmp/cwcache-schema-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void tmpdir_remove(const char **names, size_t n)
{
    char p[128];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

Test(common_schema, directory_loads_sorted_files_as_one_schema)
{
    tmpdir_make();
    char p[128];
    snprintf(p, sizeof p, "%s/b.prisma", tmpdir);
    write_file(p, "model Child {\n  id Int @id\n  pId Int\n"
                  "  p Parent @relation(fields: [pId], references: [pId])\n}\n");
    snprintf(p, sizeof p, "%s/a.prisma", tmpdir);
    write_file(p, "model Parent {\n  pId Int @id\n  kids Child[]\n}\n");
    snprintf(p, sizeof p, "%s/notes.txt", tmpdir);
    write_file(p, "model Ignored {}\n");
    struct schema *s;
    int rc = schema_load(&s, tmpdir, err, sizeof err);
    const char *names[] = {"a.prisma", "b.prisma", "notes.txt"};
    tmpdir_remove(names, 3);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(s->n_models, 2);
    cr_assert_str_eq(s->models[0].name, "Parent"); /* a.prisma first */
    cr_assert_str_eq(s->models[1].name, "Child");
    cr_assert_eq(rel(&s->models[0], "kids")->fk, field(&s->models[1], "pId"));
    schema_free(s);
}

Test(common_schema, directory_error_names_the_file)
{
    tmpdir_make();
    char p[128], want[256];
    snprintf(p, sizeof p, "%s/a.prisma", tmpdir);
    write_file(p, "model A {\n  id Int @id\n}\n");
    snprintf(p, sizeof p, "%s/b.prisma", tmpdir);
    write_file(p, "model B {\n  id Int @id\n  x Nope\n}\n");
    struct schema *s;
    int rc = schema_load(&s, tmpdir, err, sizeof err);
    snprintf(want, sizeof want, "%s/b.prisma:3:5: unknown type 'Nope'", tmpdir);
    const char *names[] = {"a.prisma", "b.prisma"};
    tmpdir_remove(names, 2);
    cr_assert_eq(rc, -EINVAL);
    cr_assert_str_eq(err, want);
}

Test(common_schema, missing_path_and_empty_directory)
{
    struct schema *s;
    cr_assert_eq(schema_load(&s, "/nonexistent/x.prisma", err, sizeof err), -ENOENT);
    cr_assert_null(s);
    cr_assert_str_eq(err, "/nonexistent/x.prisma: No such file or directory");
    tmpdir_make();
    int rc = schema_load(&s, tmpdir, err, sizeof err);
    tmpdir_remove(NULL, 0);
    cr_assert_eq(rc, -ENOENT);
    cr_assert(strstr(err, "no *.prisma files"), "%s", err);
}

/* ---- Broken input: every message with its position -------------------------- */

Test(common_schema, syntax_errors)
{
    parse_fails("model {\n}\n", "t.prisma:1:7: expected a model name, found '{'");
    parse_fails("model A\n  id Int @id\n}\n", "t.prisma:2:3: expected '{', found 'id'");
    parse_fails("model A {\n  id Int @id\n",
                "t.prisma:3:1: expected a field or '}', found end of file");
    parse_fails("model A {\n  id Int @id @map(\"X)\n}\n", "t.prisma:2:19: unterminated string");
    parse_fails("model A {\n  id Int @id\n  $x Int\n}\n", "t.prisma:3:3: unexpected character '$'");
    parse_fails("model A {\n  id Int @id\n  name\n}\n",
                "t.prisma:4:1: expected a field type, found '}'");
    parse_fails(
        "modle A {\n}\n",
        "t.prisma:1:1: expected 'model', 'enum', 'datasource' or 'generator', found 'modle'");
    parse_fails("model A {\n  id Int @id @default(autoincrement(\n}\n",
                "t.prisma:2:22: unterminated '('");
    parse_fails("datasource db {\n  provider = \"sqlserver\"\n", "t.prisma:1:15: unterminated '{'");
    parse_fails("view V {\n  id Int @id\n}\n", "t.prisma:1:1: 'view' blocks are not supported");
    parse_fails("model A {\n  id Int @id @map(\"a\"\n}\n", "t.prisma:3:1: expected ')', found '}'");
    parse_fails("model A {\n  id Int @id\n  xs Int[]?\n}\n",
                "t.prisma:3:11: a list field cannot be optional");
    parse_fails("", "t.prisma:1:1: no models");
    /* Found by tests/fuzz (schema): a bad token right after a model or enum
     * name leaked the name (LeakSanitizer fails this test then). */
    parse_fails("model A $", "t.prisma:1:9: unexpected character '$'");
    parse_fails("enum E $", "t.prisma:1:8: unexpected character '$'");
}

Test(common_schema, attribute_errors)
{
    parse_fails("model A {\n  id Int @id @ignore\n}\n",
                "t.prisma:2:14: unknown attribute '@ignore'");
    parse_fails("model A {\n  id Int @id\n  @@fulltext([id])\n}\n",
                "t.prisma:3:3: unknown attribute '@@fulltext'");
    parse_fails("model A {\n  a Int\n  b Int\n  @@id([a, b])\n}\n",
                "t.prisma:4:3: composite primary keys (@@id) are not supported");
    parse_fails("model A {\n  id Int @id @db.\n}\n",
                "t.prisma:3:1: expected a native type after '@db.', found '}'");
    parse_fails("model A {\n  id Int @id\n  b A? @relation(fields: [id], references: [id], "
                "color: Red)\n}\n",
                "t.prisma:3:50: unknown @relation argument 'color'");
    parse_fails("model A {\n  id Int @id\n  other Int\n  b A? @relation(fields: [id, other], "
                "references: [id])\n}\n",
                "t.prisma:4:26: composite relation keys are not supported");
}

Test(common_schema, duplicate_names)
{
    parse_fails("model A {\n  id Int @id\n}\nmodel A {\n  id Int @id\n}\n",
                "t.prisma:4:7: duplicate model 'A'");
    parse_fails("model A {\n  id Int @id\n  id String\n}\n",
                "t.prisma:3:3: duplicate field 'id' in model 'A'");
    parse_fails("enum A {\n  X\n}\nmodel A {\n  id Int @id\n}\n",
                "t.prisma:4:7: duplicate model 'A'");
}

Test(common_schema, type_errors)
{
    parse_fails("model A {\n  id Int @id\n  x Strin\n}\n", "t.prisma:3:5: unknown type 'Strin'");
    parse_fails("model A {\n  id Int @id\n  tags String[]\n}\n",
                "t.prisma:3:8: scalar lists are not supported ('String[]')");
}

Test(common_schema, id_errors)
{
    parse_fails("model A {\n  name String\n}\n", "t.prisma:1:7: model 'A' has no @id field");
    parse_fails("model A {\n  a Int @id\n  b Int @id\n}\n",
                "t.prisma:3:9: model 'A' has more than one @id");
    parse_fails("model A {\n  a String @id\n}\n",
                "t.prisma:2:12: @id field 'a' must be Int or BigInt");
    parse_fails("model A {\n  a Int? @id\n}\n", "t.prisma:2:10: @id field 'a' cannot be optional");
}

Test(common_schema, cursor_errors)
{
    parse_fails("/// @cursor nope\nmodel A {\n  id Int @id\n}\n",
                "t.prisma:1:1: bad @cursor: model 'A' has no scalar field 'nope'");
    parse_fails("model A {\n  id Int @id\n}\n/// @cursor id\nmodel B {\n  id Int @id\n}\n",
                "t.prisma:4:1: bad @cursor: field 'id' is Int, not DateTime");
    parse_fails("/// @cursor\nmodel A {\n  id Int @id\n}\n",
                "t.prisma:1:1: bad @cursor: expected one field name");
    parse_fails("/// @cursor a b\nmodel A {\n  id Int @id\n}\n",
                "t.prisma:1:1: bad @cursor: expected one field name");
    parse_fails("/// @cursor a\n/// @cursor b\nmodel A {\n  id Int @id\n}\n",
                "t.prisma:2:1: bad @cursor: model 'A' already has one");
}

Test(common_schema, relation_key_errors)
{
    parse_fails("model P {\n  pId Int @id\n  kids C[]\n}\n"
                "model C {\n  id Int @id\n  pId Int\n"
                "  p P @relation(fields: [pid], references: [pId])\n}\n",
                "t.prisma:8:25: unknown field 'pid' in fields: of 'p'");
    parse_fails("model P {\n  pId Int @id\n  kids C[]\n}\n"
                "model C {\n  id Int @id\n  pId Int\n"
                "  p P @relation(fields: [pId], references: [nope])\n}\n",
                "t.prisma:8:44: unknown field 'nope' in references: (model 'P')");
    parse_fails("model P {\n  pId Int @id\n  code Int\n  kids C[]\n}\n"
                "model C {\n  id Int @id\n  pId Int\n"
                "  p P @relation(fields: [pId], references: [code])\n}\n",
                "t.prisma:9:44: references: must name the @id field of 'P' ('pId')");
    parse_fails("model P {\n  pId Int @id\n  kids C[]\n}\n"
                "model C {\n  id Int @id\n  pId String\n"
                "  p P @relation(fields: [pId], references: [pId])\n}\n",
                "t.prisma:8:25: fields: 'pId' must be Int or BigInt");
    parse_fails("model P {\n  pId Int @id\n  kids C[]\n}\n"
                "model C {\n  id Int @id\n  pId Int\n  p P @relation(fields: [pId])\n}\n",
                "t.prisma:8:7: @relation on 'p' needs both fields: and references:");
    parse_fails("model A {\n  id Int @id\n  n Int @relation(\"X\")\n}\n",
                "t.prisma:3:9: @relation on scalar field 'n'");
}

Test(common_schema, relation_pairing_errors)
{
    /* Two unnamed relations between the same pair. */
    parse_fails("model P {\n  pId Int @id\n  a C[]\n  b C[]\n}\n"
                "model C {\n  id Int @id\n  pId Int\n"
                "  p P @relation(fields: [pId], references: [pId])\n}\n",
                "t.prisma:3:3: ambiguous relation 'a': 3 fields relate 'P' and 'C'; name them with "
                "@relation(\"Name\")");
    /* A relation name used three times. */
    parse_fails("model P {\n  pId Int @id\n  a C[] @relation(\"X\")\n  b C[] @relation(\"X\")\n}\n"
                "model C {\n  id Int @id\n  pId Int\n"
                "  p P @relation(\"X\", fields: [pId], references: [pId])\n}\n",
                "t.prisma:3:3: ambiguous relation 'a': name \"X\" is used by 3 fields");
    /* A list without a to-one on the other side. */
    parse_fails("model P {\n  pId Int @id\n  kids C[]\n}\nmodel C {\n  id Int @id\n}\n",
                "t.prisma:3:3: relation 'kids' has no opposite to-one field with fields: on 'C'");
    /* Names that do not match leave both sides alone. */
    parse_fails("model P {\n  pId Int @id\n  kids C[] @relation(\"A\")\n}\n"
                "model C {\n  id Int @id\n  pId Int\n"
                "  p P @relation(\"B\", fields: [pId], references: [pId])\n}\n",
                "t.prisma:3:3: relation 'kids' has no opposite to-one field with fields: on 'C'");
    parse_fails(
        "model P {\n  pId Int @id\n  kid C?\n}\n"
        "model C {\n  id Int @id\n  pId Int\n"
        "  p P @relation(fields: [pId], references: [pId])\n}\n",
        "t.prisma:3:3: one-to-one relation 'kid': the side without fields: is not supported");
    parse_fails("model P {\n  pId Int @id\n  other C?\n}\nmodel C {\n  id Int @id\n}\n",
                "t.prisma:3:3: to-one relation 'other' needs @relation(fields: [...], references: "
                "[...])");
    parse_fails(
        "model P {\n  pId Int @id\n  kids C[] @relation(fields: [pId], references: [id])\n}\n"
        "model C {\n  id Int @id\n}\n",
        "t.prisma:3:12: fields:/references: belong on the to-one side, not on list 'kids'");
}

Test(common_schema, error_buffer_is_truncated_safely)
{
    char small[12];
    struct schema *s;
    const char *text = "model A {\n  name String\n}\n";
    cr_assert_eq(schema_parse(&s, "t.prisma", text, strlen(text), small, sizeof small), -EINVAL);
    cr_assert_str_eq(small, "t.prisma:1:");
    cr_assert_eq(schema_parse(&s, "t.prisma", text, strlen(text), NULL, 0), -EINVAL);
}

Test(common_schema, input_need_not_be_nul_terminated)
{
    const char text[] = "model A {\n  id Int @id\n}\nGARBAGE";
    struct schema *s;
    int rc = schema_parse(&s, "t.prisma", text, strlen(text) - 7, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    schema_free(s);
    schema_free(NULL);
}

/* ---- The shipped ConnectWise schema ------------------------------------------ */

static struct schema *cw;

static void cw_load(void)
{
    int rc = schema_load(&cw, TEST_SRC_ROOT "/schema", err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
}

static void cw_free(void)
{
    schema_free(cw);
}

TestSuite(common_schema_cw, .init = cw_load, .fini = cw_free);

/* Every relation the dalpuri README lists: model, name, target, to-many. */
static const struct {
    const char *model, *name, *target;
    bool many;
} readme_rels[] = {
    {"ProductCategory", "subcategories", "ProductSubcategory", true},
    {"ProductSubcategory", "category", "ProductCategory", false},
    {"ProductSubcategory", "products", "ProductCatalog", true},
    {"ProductManufacturer", "products", "ProductCatalog", true},
    {"ProductCatalog", "subcategory", "ProductSubcategory", false},
    {"ProductCatalog", "manufacturer", "ProductManufacturer", false},
    {"ProductCatalog", "inventory", "ProductInventory", true},
    {"ProductCatalog", "itemVendors", "ItemVendor", true},
    {"ProductInventory", "productCatalog", "ProductCatalog", false},
    {"ItemVendor", "product", "ProductCatalog", false},
    {"Company", "timeZone", "TimeZone", false},
    {"Company", "companyStatus", "CompanyStatus", false},
    {"Company", "taxCode", "TaxCode", false},
    {"Company", "currency", "Currency", false},
    {"Company", "ownerLevel", "OwnerLevel", false},
    {"Company", "market", "Market", false},
    {"Company", "ownershipType", "OwnershipType", false},
    {"Company", "billingTerms", "BillingTerms", false},
    {"Company", "billingDelivery", "BillingDelivery", false},
    {"Company", "srSignoff", "SrSignoff", false},
    {"Company", "ivPriceHeader", "IvPriceHeader", false},
    {"Company", "officeCalendar", "OfficeCalendar", false},
    {"Company", "customerUsageType", "CustomerUsageType", false},
    {"Company", "blInvtemplateSetup", "BlInvTemplateSetup", false},
    {"Company", "emailTemplate", "EmailTemplate", false},
    {"Company", "parentCompany", "Company", false},
    {"Company", "childCompanies", "Company", true},
    {"Company", "opportunityCompanies", "SoOpportunity", true},
    {"Company", "opportunityShipToCompanies", "SoOpportunity", true},
    {"Company", "opportunityBillToCompanies", "SoOpportunity", true},
    {"SoOpportunity", "company", "Company", false},
    {"SoOpportunity", "contact", "Contact", false},
    {"SoOpportunity", "soPipeline", "SoPipeline", false},
    {"SoOpportunity", "soInterest", "SoInterest", false},
    {"SoOpportunity", "billingUnit", "BillingUnit", false},
    {"SoOpportunity", "contractType", "ContractType", false},
    {"SoOpportunity", "companyAddress", "CompanyAddress", false},
    {"SoOpportunity", "soOppStatus", "SoOppStatus", false},
    {"SoOpportunity", "pmProject", "PmProject", false},
    {"SoOpportunity", "ownerLevel", "OwnerLevel", false},
    {"SoOpportunity", "soType", "SoType", false},
    {"SoOpportunity", "marketingCampaign", "MarketingCampaign", false},
    {"SoOpportunity", "agrType", "AgrType", false},
    {"SoOpportunity", "srService", "SrService", false},
    {"SoOpportunity", "soUrgency", "SoUrgency", false},
    {"SoOpportunity", "approvedByMember", "Member", false},
    {"SoOpportunity", "rejectedByMember", "Member", false},
    {"SoOpportunity", "shipToCompany", "Company", false},
    {"SoOpportunity", "shipToContact", "Contact", false},
    {"SoOpportunity", "shipToCompanyAddress", "CompanyAddress", false},
    {"SoOpportunity", "billToCompany", "Company", false},
    {"SoOpportunity", "billToContact", "Contact", false},
    {"SoOpportunity", "billToCompanyAddress", "CompanyAddress", false},
    {"SoOpportunity", "billingTerms", "BillingTerms", false},
    {"SoOpportunity", "taxCode", "TaxCode", false},
    {"SoOpportunity", "currency", "Currency", false},
    {"SoOpportunity", "techContact", "Contact", false},
    {"Member", "ownerLevel", "OwnerLevel", false},
    {"Member", "billingUnit", "BillingUnit", false},
    {"Member", "activityClass", "ActivityClass", false},
    {"Member", "memberType", "MemberType", false},
    {"Member", "srOwnerLevel", "OwnerLevel", false},
    {"Member", "srBillingUnit", "BillingUnit", false},
    {"Member", "schOwnerLevel", "OwnerLevel", false},
    {"Member", "schBillingUnit", "BillingUnit", false},
    {"Member", "srBoard", "SrBoard", false},
    {"Member", "timeZone", "TimeZone", false},
    {"Member", "brHeader", "BrHeader", false},
    {"Member", "activityType", "ActivityType", false},
    {"Member", "pmOwnerLevel", "OwnerLevel", false},
    {"Member", "pmBillingUnit", "BillingUnit", false},
    {"Member", "warehouse", "Warehouse", false},
    {"Member", "warehouseBin", "WarehouseBin", false},
    {"Member", "country", "Country", false},
    {"Member", "directionalSync", "DirectionalSync", false},
    {"Member", "approvedOpportunities", "SoOpportunity", true},
    {"Member", "rejectedOpportunities", "SoOpportunity", true},
    {"Contact", "opportunityContacts", "SoOpportunity", true},
    {"Contact", "opportunityShipToContacts", "SoOpportunity", true},
    {"Contact", "opportunityBillToContacts", "SoOpportunity", true},
    {"Contact", "opportunityTechContacts", "SoOpportunity", true},
};

Test(common_schema_cw, every_readme_relation_exists_with_its_direction)
{
    for (size_t i = 0; i < sizeof readme_rels / sizeof readme_rels[0]; i++) {
        const struct schema_relation *r = rel(model(cw, readme_rels[i].model), readme_rels[i].name);
        cr_assert_str_eq(r->target->name, readme_rels[i].target, "%s.%s", readme_rels[i].model,
                         readme_rels[i].name);
        cr_assert_eq(r->to_many, readme_rels[i].many, "%s.%s", readme_rels[i].model,
                     readme_rels[i].name);
    }
}

Test(common_schema_cw, every_relation_is_paired_and_keyed)
{
    bool *seen = calloc(cw->n_to_many, 1);
    for (size_t i = 0; i < cw->n_models; i++) {
        const struct schema_model *m = &cw->models[i];
        for (size_t j = 0; j < m->n_relations; j++) {
            const struct schema_relation *r = &m->relations[j];
            cr_assert_not_null(r->inverse, "%s.%s", m->name, r->name);
            cr_assert_eq(r->inverse->inverse, r);
            cr_assert_not_null(r->fk);
            cr_assert(r->fk->type == SCHEMA_INT || r->fk->type == SCHEMA_BIGINT);
            /* The key lives on the to-one side's model either way. */
            const struct schema_model *holder = r->to_many ? r->target : m;
            cr_assert_eq(r->fk, &holder->fields[r->fk->index]);
            if (r->to_many) {
                cr_assert_lt(r->to_many_id, cw->n_to_many);
                cr_assert_not(seen[r->to_many_id], "to_many_id %u twice", r->to_many_id);
                seen[r->to_many_id] = true;
            } else {
                cr_assert_eq(r->to_many_id, UINT16_MAX);
            }
        }
    }
    for (size_t i = 0; i < cw->n_to_many; i++)
        cr_assert(seen[i], "to_many_id %zu unused", i);
    free(seen);
}

Test(common_schema_cw, relation_keys_and_inverses_spot_checks)
{
    const struct schema_model *company = model(cw, "Company"), *opp = model(cw, "SoOpportunity");
    const struct schema_relation *r = rel(company, "opportunityCompanies");
    cr_assert_str_eq(r->fk->column, "Company_RecID");
    cr_assert_eq(r->inverse, rel(opp, "company"));
    r = rel(company, "opportunityShipToCompanies");
    cr_assert_str_eq(r->fk->column, "Ship_To_Company_RecID");
    cr_assert_eq(r->inverse, rel(opp, "shipToCompany"));
    cr_assert_str_eq(rel(company, "opportunityBillToCompanies")->fk->column,
                     "Bill_To_Company_RecID");
    r = rel(company, "childCompanies");
    cr_assert_str_eq(r->fk->column, "Parent_Company_RecID");
    cr_assert_eq(r->inverse, rel(company, "parentCompany"));
    cr_assert_eq(rel(company, "parentCompany")->fk, field(company, "parentCompanyRecId"));

    const struct schema_model *member = model(cw, "Member");
    cr_assert_str_eq(rel(member, "approvedOpportunities")->fk->column, "Approved_By_RecID");
    cr_assert_eq(rel(member, "rejectedOpportunities")->inverse, rel(opp, "rejectedByMember"));
    cr_assert_str_eq(rel(member, "srOwnerLevel")->fk->column, "SR_Owner_Level_RecID");
    cr_assert_str_eq(rel(member, "pmBillingUnit")->fk->column, "PM_Billing_Unit_RecID");
    cr_assert_str_eq(rel(member, "ownerLevel")->inverse->name, "members");
    cr_assert_str_eq(rel(member, "schOwnerLevel")->inverse->name, "schMembers");

    const struct schema_model *contact = model(cw, "Contact");
    cr_assert_str_eq(rel(contact, "opportunityTechContacts")->fk->column, "Tech_Contact_RecID");
    cr_assert_eq(rel(contact, "opportunityBillToContacts")->inverse, rel(opp, "billToContact"));

    const struct schema_model *item = model(cw, "ProductCatalog");
    r = rel(item, "inventory");
    cr_assert_eq(r->target, model(cw, "ProductInventory"));
    cr_assert_str_eq(r->fk->column, "IV_Item_RecID");
    cr_assert_eq(r->fk, field(model(cw, "ProductInventory"), "ivItemRecId"));
    cr_assert_str_eq(rel(item, "subcategory")->fk->name, "ivSubcatRecId");
    cr_assert_str_eq(rel(item, "manufacturer")->fk->column, "Manufacturer_RecID");
    cr_assert_eq(rel(model(cw, "ProductCategory"), "subcategories")->inverse,
                 rel(model(cw, "ProductSubcategory"), "category"));
}

Test(common_schema_cw, tables_keys_and_cursors)
{
    static const struct {
        const char *model, *table, *pk, *cursor;
    } want[] = {
        {"Company", "Company", "Company_RecID", "lastUpdateUtc"},
        {"Member", "Member", "Member_RecID", "lastUpdateUtc"},
        {"Contact", "Contact", "Contact_RecID", "lastUpdateUtc"},
        {"SoOpportunity", "SO_Opportunity", "Opportunity_RecID", "lastUpdateUtc"},
        {"ProductCatalog", "IV_Item", "IV_Item_RecID", "lastUpdate"},
        {"ProductCategory", "IV_Category", "IV_Cat_RecID", "lastUpdate"},
        {"ProductSubcategory", "IV_SubCategory", "IV_SubCat_RecID", "lastUpdate"},
        {"ProductManufacturer", "Manufacturer", "Manufacturer_RecID", "lastUpdateUtc"},
        {"ProductInventory", "Inventory_By_Warehouse", "Inventory_By_Warehouse_RecID",
         "lastUpdate"},
        {"ItemVendor", "iv_item_Vendor", "IV_Item_Vendor_ID", "lastUpdate"},
        {"Market", "Market", "Market_RecID", "lastUpdateUtc"},
        {"Currency", "Currency", "Currency_RecID", "lastUpdate"},
        {"BillingTerms", "Billing_Terms", "Billing_Terms_RecID", NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct schema_model *m = model(cw, want[i].model);
        cr_assert_str_eq(m->table, want[i].table);
        cr_assert_str_eq(m->pk->column, want[i].pk);
        if (want[i].cursor)
            cr_assert_str_eq(m->cursor->name, want[i].cursor, "%s", m->name);
        else
            cr_assert_null(m->cursor, "%s", m->name);
    }
    /* A nullable last-update column is still a cursor (the poller reads NULL rows too). */
    cr_assert(model(cw, "Currency")->cursor->optional);
    cr_assert_not(model(cw, "Company")->cursor->optional);
}

Test(common_schema_cw, readme_field_names_and_every_scalar_type)
{
    static const char *const company[] = {"companyRecId", "companyId",  "companyName",
                                          "phoneNbr",     "websiteUrl", "accountNbr"};
    static const char *const member[] = {"memberRecId",  "memberId",     "firstName", "lastName",
                                         "emailAddress", "inactiveFlag", "title"};
    static const char *const product[] = {
        "ivItemRecId",       "itemId",    "description",  "longDescription", "ivSubcatRecId",
        "manufacturerRecId", "listPrice", "currentCost",  "taxableFlag",     "inactiveFlag",
        "mfgItemId",         "vendorSku", "minimumStock", "recurringFlag",   "lastUpdate"};
    for (size_t i = 0; i < sizeof company / sizeof *company; i++)
        field(model(cw, "Company"), company[i]);
    for (size_t i = 0; i < sizeof member / sizeof *member; i++)
        field(model(cw, "Member"), member[i]);
    for (size_t i = 0; i < sizeof product / sizeof *product; i++)
        field(model(cw, "ProductCatalog"), product[i]);

    const struct schema_model *item = model(cw, "ProductCatalog");
    cr_assert_eq(field(item, "listPrice")->type, SCHEMA_FLOAT);
    cr_assert_str_eq(field(item, "listPrice")->db_type, "Money");
    cr_assert_eq(field(item, "minimumStock")->type, SCHEMA_DECIMAL);
    cr_assert_str_eq(field(item, "minimumStock")->db_type, "Decimal(18,4)");
    cr_assert_str_eq(field(item, "ivItemGuid")->db_type, "UniqueIdentifier");
    cr_assert_eq(model(cw, "ItemVendor")->pk->type, SCHEMA_BIGINT);

    unsigned types = 0;
    for (size_t i = 0; i < cw->n_models; i++)
        for (size_t j = 0; j < cw->models[i].n_fields; j++)
            types |= 1u << cw->models[i].fields[j].type;
    unsigned want = 1u << SCHEMA_INT | 1u << SCHEMA_BIGINT | 1u << SCHEMA_STRING |
                    1u << SCHEMA_BOOLEAN | 1u << SCHEMA_DATETIME | 1u << SCHEMA_DECIMAL |
                    1u << SCHEMA_FLOAT;
    cr_assert_eq(types & want, want);
}

Test(schema, index_declarations_number_their_leading_fields)
{
    struct schema *s = parse_ok(
        "model A {\n  id Int @id\n  name String @db.NVarChar(50)\n  n Int?\n  at DateTime\n"
        "  @@index([name, n])\n  @@index(fields: [n(sort: Desc)], map: \"ix_n\", clustered: false)\n"
        "  @@index([name])\n  @@index([id])\n}\n"
        "model B {\n  id Int @id\n  at DateTime\n  @@index([at])\n}\n");
    cr_assert_eq(s->n_indexes, 3, "one index per leading field; the key needs none");
    const struct schema_model *a = model(s, "A"), *b = model(s, "B");
    cr_assert_eq(field(a, "name")->sindex, 1);
    cr_assert_eq(field(a, "n")->sindex, 2);
    cr_assert_eq(field(a, "at")->sindex, 0);
    cr_assert_eq(field(a, "id")->sindex, 0);
    cr_assert_eq(field(b, "at")->sindex, 3);
    cr_assert_eq(s->indexed[2], field(b, "at"));
    schema_free(s);
}

Test(schema, index_errors_name_the_field)
{
    parse_fails("model A {\n  id Int @id\n  @@index([nope])\n}\n",
                "t.prisma:3:3: @@index: model 'A' has no scalar field 'nope'");
    parse_fails("model A {\n  id Int @id\n  d Decimal\n  @@index([d])\n}\n",
                "t.prisma:4:3: @@index on 'd': Decimal fields cannot be indexed (index an Int, BigInt, "
                "String, DateTime, Boolean or Float field)");
    parse_fails("model A {\n  id Int @id\n  s String\n  @@index([s])\n}\n",
                "t.prisma:4:3: @@index on 's': an indexed String needs a declared length of at most "
                "160 characters (such as @db.NVarChar(50))");
    parse_fails("model A {\n  id Int @id\n  s String @db.NVarChar(Max)\n  @@index([s])\n}\n",
                "t.prisma:4:3: @@index on 's': an indexed String needs a declared length of at most "
                "160 characters (such as @db.NVarChar(50))");
    parse_fails("model A {\n  id Int @id\n  @@index(id)\n}\n", "t.prisma:3:11: expected '[', found 'id'");
}
