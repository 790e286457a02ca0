/*
 * The Prisma schema parser (schema_parse) on arbitrary text; a schema it
 * accepts must resolve every model, field and relation by its own name.
 */
#include "fuzz.h"

#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct schema *s;
    char err[512];
    if (schema_parse(&s, "fuzz.prisma", (const char *)data, size, err, sizeof err) < 0)
        return 0;
    for (size_t i = 0; i < s->n_models; i++) {
        const struct schema_model *m = &s->models[i];
        assert(schema_model_find(s, m->name) == m);
        for (size_t f = 0; f < m->n_fields; f++)
            assert(schema_field_find(m, m->fields[f].name, strlen(m->fields[f].name)));
        for (size_t r = 0; r < m->n_relations; r++)
            assert(schema_relation_find(m, m->relations[r].name, strlen(m->relations[r].name)));
    }
    schema_free(s);
    return 0;
}
