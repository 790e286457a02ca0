/*
 * The real data model for the harnesses whose input refers to it (request
 * options name its fields, collector files its models). Loaded once and
 * kept for the life of the fuzzing process, which libFuzzer ends by exit().
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

static struct schema *schema;
static struct collector_set collectors;

const struct schema *fuzz_schema(void)
{
    char err[512];
    if (!schema && schema_load(&schema, FUZZ_SRCDIR "/schema", err, sizeof err) < 0) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    return schema;
}

const struct collector_set *fuzz_collectors(void)
{
    char err[512];
    if (collectors.n == 0 &&
        collector_set_load(&collectors, FUZZ_SRCDIR "/collectors", fuzz_schema(), err,
                           sizeof err) < 0) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    return &collectors;
}
