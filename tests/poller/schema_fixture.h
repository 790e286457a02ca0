#pragma once
/* The poller unit tests build their schemas from inline Prisma text. */
#include <criterion/criterion.h>
#include <string.h>

#include "schema.h"

/* Parses text as "test.prisma"; the test fails with the parser's message. */
static inline struct schema *fixture_schema(const char *text)
{
    struct schema *s;
    char err[256];
    int rc = schema_parse(&s, "test.prisma", text, strlen(text), err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    return s;
}
