#include <criterion/criterion.h>

#include "fixture.h"

TestSuite(cache_shape, .init = fx_open, .fini = fx_close);

static struct buf shape_of(const char *text, struct schema **s)
{
    struct buf b;
    buf_init(&b, 0);
    *s = fx_schema_parse(text);
    cache_shape_render(*s, &b);
    return b;
}

Test(cache_shape, lists_models_fields_relations_in_order)
{
    struct schema *s;
    struct buf b = shape_of("model A {\n id Int @id\n x String?\n kids B[]\n}\n"
                            "model B {\n id BigInt @id\n aId Int?\n a A? @relation(fields: [aId], references: [id])\n}\n",
                            &s);
    cr_assert_eq(b.len, strlen("A{id:Int@id,x:String?|kids->B[](aId)}cursor=\n"
                               "B{id:BigInt@id,aId:Int?|a->A(aId)}cursor=\n"));
    cr_assert_eq(memcmp(buf_data(&b),
                        "A{id:Int@id,x:String?|kids->B[](aId)}cursor=\n"
                        "B{id:BigInt@id,aId:Int?|a->A(aId)}cursor=\n", b.len), 0,
                 "%.*s", (int)b.len, (char *)buf_data(&b));
    buf_fini(&b);
    schema_free(s);
}

Test(cache_shape, a_type_change_changes_the_fingerprint_and_is_located)
{
    struct schema *s1, *s2, *s3;
    struct buf a = shape_of("model A {\n id Int @id\n x String\n}\nmodel C {\n id Int @id\n}\n", &s1);
    struct buf b = shape_of("model A {\n id Int @id\n x Int\n}\nmodel C {\n id Int @id\n}\n", &s2);
    struct buf c = shape_of("model A {\n id Int @id @map(\"ID\")\n x String @map(\"X\")\n}\nmodel C {\n id Int @id\n}\n", &s3);
    cr_assert_neq(cache_shape_fingerprint(buf_slice(&a)), cache_shape_fingerprint(buf_slice(&b)));
    cr_assert_eq(cache_shape_fingerprint(buf_slice(&a)), cache_shape_fingerprint(buf_slice(&c)),
                 "SQL names are not part of the shape");
    struct slice d = cache_shape_first_diff(buf_slice(&b), buf_slice(&a));
    cr_assert_eq(d.len, strlen("A{id:Int@id,x:Int|}cursor="));
    cr_assert_eq(memcmp(d.p, "A{id:Int@id,x:Int|}cursor=", d.len), 0);
    cr_assert_eq(cache_shape_first_diff(buf_slice(&a), buf_slice(&c)).len, 0);
    buf_fini(&a), buf_fini(&b), buf_fini(&c);
    schema_free(s1), schema_free(s2), schema_free(s3);
}
