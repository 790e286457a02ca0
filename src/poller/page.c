/*
 * A fetched batch: the rows of one keyset page (or the keys of one
 * reconciliation chunk), encoded where they were read so that the writer's
 * transaction only does LMDB work. Pages are reused batch after batch, so
 * after the first few nothing is allocated per row (STYLE R6).
 */
#include "poller/poller_int.h"

#include <stdlib.h>
#include <string.h>

void poller_page_init(struct poller_page *pg)
{
    memset(pg, 0, sizeof *pg);
    buf_init(&pg->rows, 0);
}

void poller_page_fini(struct poller_page *pg)
{
    buf_fini(&pg->rows);
    free(pg->ent);
    memset(pg, 0, sizeof *pg);
}

void poller_page_reset(struct poller_page *pg)
{
    buf_reset(&pg->rows);
    pg->n = 0;
    pg->done = false;
    pg->stalled = false;
    pg->last = pg->capped = (struct cache_cursor){0};
    pg->newest = INT64_MIN;
    pg->from_start = false;
    pg->after = 0;
}

static struct poller_page_row *entry_push(struct poller_page *pg)
{
    if (pg->n == pg->cap) {
        pg->cap = pg->cap ? pg->cap * 2 : 1024;
        pg->ent = xrealloc(pg->ent, pg->cap * sizeof *pg->ent);
    }
    return &pg->ent[pg->n++];
}

int poller_page_add_row(struct poller_page *pg, const struct schema_model *m,
                        const struct cache_value *vals, uint64_t pk, char *err, size_t errlen)
{
    size_t off = pg->rows.len;
    int rc = cache_row_encode(m, vals, &pg->rows, err, errlen);
    if (rc < 0)
        return rc;
    *entry_push(pg) = (struct poller_page_row){pk, off, pg->rows.len - off};
    return 0;
}

void poller_page_add_key(struct poller_page *pg, uint64_t pk)
{
    *entry_push(pg) = (struct poller_page_row){pk, 0, 0};
}

static int row_cmp(const void *a, const void *b)
{
    const struct poller_page_row *x = a, *y = b;
    if (x->pk != y->pk)
        return x->pk < y->pk ? -1 : 1;
    /* Equal keys keep their source order, so the later version wins as before. */
    return x->off < y->off ? -1 : x->off > y->off;
}

void poller_page_sort(struct poller_page *pg)
{
    for (size_t i = 1; i < pg->n; i++)
        if (row_cmp(&pg->ent[i - 1], &pg->ent[i]) > 0) {
            qsort(pg->ent, pg->n, sizeof *pg->ent, row_cmp);
            return;
        }
}
