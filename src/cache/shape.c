/*
 * The schema's shape: everything the stored bytes depend on, one line per
 * model in schema order (model ids are positions). Field names, types and
 * order fix the encoded rows; relations fix the index databases; the
 * cursor field gives the stored cursor its meaning. SQL names are left out:
 * remapping a column does not change what is stored.
 */
#include "cache/cache_int.h"

#include <xxhash.h>

static void field_render(const struct schema_field *f, struct buf *out)
{
    buf_printf(out, "%s:%s%s%s", f->name, schema_type_name(f->type), f->optional ? "?" : "",
               f->is_id ? "@id" : "");
}

static void relation_render(const struct schema_relation *r, struct buf *out)
{
    buf_printf(out, "%s->%s%s(%s)", r->name, r->target->name, r->to_many ? "[]" : "",
               r->fk ? r->fk->name : "");
}

static void model_render(const struct schema_model *m, struct buf *out)
{
    buf_printf(out, "%s{", m->name);
    for (size_t i = 0; i < m->n_fields; i++) {
        if (i)
            buf_putc(out, ',');
        field_render(&m->fields[i], out);
    }
    buf_putc(out, '|');
    for (size_t i = 0; i < m->n_relations; i++) {
        if (i)
            buf_putc(out, ',');
        relation_render(&m->relations[i], out);
    }
    buf_printf(out, "}cursor=%s\n", m->cursor ? m->cursor->name : "");
}

void cache_shape_render(const struct schema *s, struct buf *out)
{
    for (size_t m = 0; m < s->n_models; m++)
        model_render(&s->models[m], out);
}

uint64_t cache_shape_fingerprint(struct slice shape) { return XXH3_64bits(shape.p, shape.len); }

static struct slice line_at(struct slice s, size_t pos)
{
    const uint8_t *nl = pos < s.len ? memchr(s.p + pos, '\n', s.len - pos) : NULL;
    size_t end = nl ? (size_t)(nl - s.p) : s.len;
    return (struct slice){s.p + pos, end - pos};
}

struct slice cache_shape_first_diff(struct slice a, struct slice b)
{
    size_t pa = 0, pb = 0;
    while (pa < a.len) {
        struct slice la = line_at(a, pa), lb = line_at(b, pb);
        if (!slice_eq(la, lb))
            return la;
        pa += la.len + 1;
        pb += lb.len + 1;
    }
    return (struct slice){a.p + a.len, 0};
}
