#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "collector.h"
#include "poller/poller_int.h"
#include "schema_fixture.h"

TestSuite(poller_livesql);

/* Names with the characters that could end a bracketed identifier. */
static const char schema_text[] =
    "model Company {\n"
    "  companyRecId Int      @id @map(\"Company_RecID\")\n"
    "  name         String?  @map(\"Co]mpany Name\") @db.NVarChar(50)\n"
    "  code         String   @unique @map(\"Code\") @db.NVarChar(10)\n"
    "  revenue      Decimal? @map(\"Revenue\") @db.Decimal(18, 4)\n"
    "  entered      DateTime? @map(\"Entered\")\n"
    "  parentRecId  Int?     @map(\"Parent_RecID\")\n"
    "  parent       Company? @relation(\"Tree\", fields: [parentRecId], references: [companyRecId])\n"
    "  children     Company[] @relation(\"Tree\")\n"
    "  @@map(\"Com]pany\")\n"
    "}\n";

struct fx {
    struct schema *s;
    struct collector col;
    struct cache_plan p;
    struct poller_lsql q;
};

static void plan(struct fx *f, const char *opts)
{
    f->s = fixture_schema(schema_text);
    f->col = (struct collector){.event = "fetchCompanies", .model = schema_model_find(f->s, "Company")};
    json_error_t jerr;
    json_t *j = json_loads(opts, 0, &jerr);
    cr_assert(j, "%s", jerr.text);
    char err[256];
    cr_assert_eq(cache_plan_parse(&f->p, &f->col, j, err, sizeof err), 0, "%s", err);
    json_decref(j);
    poller_lsql_init(&f->q);
}

static void done(struct fx *f)
{
    poller_lsql_fini(&f->q);
    cache_plan_fini(&f->p);
    schema_free(f->s);
}

static const char *sql(struct fx *f) { return (const char *)buf_data(&f->q.sql); }

#define COLS "[t0].[Company_RecID], [t0].[Co]]mpany Name], [t0].[Code], [t0].[Revenue], [t0].[Entered], " \
             "[t0].[Parent_RecID]"

Test(poller_livesql, names_are_bracketed_and_values_are_parameters)
{
    struct fx f;
    plan(&f, "{\"where\":{\"name\":\"x'; DROP TABLE [Com]]pany]; --\",\"code\":{\"contains\":\"50%_[a]\\\\\"}}}");
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), 0);
    cr_assert_str_eq(sql(&f), "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] WHERE 1 = 1 AND "
                              "(([t0].[Co]]mpany Name] = @p1) AND ([t0].[Code] LIKE @p2 ESCAPE '\\'))"
                              " ORDER BY [t0].[Company_RecID] ASC");
    size_t n;
    const struct poller_param *ps = poller_lsql_params(&f.q, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ps[0].name, "@p1");
    cr_assert_eq(ps[0].len, (int)strlen("x'; DROP TABLE [Com]]pany]; --"));
    cr_assert(memcmp(ps[0].val, "x'; DROP TABLE [Com]]pany]; --", (size_t)ps[0].len) == 0);
    /* the LIKE pattern: the value's wildcards and the escape made literal */
    cr_assert_eq(ps[1].len, (int)strlen("%50\\%\\_\\[a]\\\\%"));
    cr_assert(memcmp(ps[1].val, "%50\\%\\_\\[a]\\\\%", (size_t)ps[1].len) == 0);
    cr_assert_str_eq(ps[1].decl, "nvarchar(4000)");
    done(&f);
}

Test(poller_livesql, paging_is_offset_fetch_and_a_negative_take_reads_backwards)
{
    struct fx f;
    plan(&f, "{\"orderBy\":[{\"name\":\"desc\"}],\"skip\":2,\"take\":-3}");
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), 0);
    cr_assert_str_eq(sql(&f), "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] WHERE 1 = 1 ORDER BY "
                              "[t0].[Co]]mpany Name] ASC, [t0].[Company_RecID] DESC OFFSET @p1 ROWS "
                              "FETCH NEXT @p2 ROWS ONLY");
    cr_assert_eq(f.q.p[0].v.i, 2);
    cr_assert_eq(f.q.p[1].v.i, 3);
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, true), 0);
    cr_assert_str_eq(sql(&f), "SELECT COUNT_BIG(*) FROM (SELECT [t0].[Company_RecID] FROM [dbo].[Com]]pany] "
                              "AS [t0] WHERE 1 = 1 ORDER BY [t0].[Co]]mpany Name] ASC, [t0].[Company_RecID] "
                              "DESC OFFSET @p1 ROWS FETCH NEXT @p2 ROWS ONLY) AS [q]");
    done(&f);
}

Test(poller_livesql, relation_filters_are_exists_subqueries)
{
    struct fx f;
    plan(&f, "{\"where\":{\"children\":{\"every\":{\"name\":null}},\"parent\":{\"isNot\":null},"
             "\"OR\":[],\"NOT\":{\"companyRecId\":{\"in\":[1,2]}}}}");
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), 0);
    cr_assert_str_eq(sql(&f),
                     "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] WHERE 1 = 1 AND ((NOT EXISTS "
                     "(SELECT 1 FROM [dbo].[Com]]pany] AS [t1] WHERE [t1].[Parent_RecID] = "
                     "[t0].[Company_RecID] AND NOT ([t1].[Co]]mpany Name] IS NULL))) AND "
                     "([t0].[Parent_RecID] IS NOT NULL) AND (1 = 0) AND (NOT ([t0].[Company_RecID] "
                     "IN (@p1, @p2)))) ORDER BY [t0].[Company_RecID] ASC");
    done(&f);
}

/* is / isNot keep the related row's unknown (Prisma joins it): 1, 0 or 2
 * from one CASE, the condition's text (and parameters) repeated. */
Test(poller_livesql, to_one_filters_are_three_valued)
{
    struct fx f;
    plan(&f, "{\"where\":{\"parent\":{\"isNot\":{\"name\":\"x\"}},\"NOT\":{\"parent\":{\"name\":\"y\"}}}}");
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), 0);
    cr_assert_str_eq(sql(&f),
                     "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] WHERE 1 = 1 AND ((NULLIF(COALESCE(("
                     "SELECT CASE WHEN ([t1].[Co]]mpany Name] = @p1) THEN 0 WHEN NOT ([t1].[Co]]mpany "
                     "Name] = @p1) THEN 1 ELSE 2 END FROM [dbo].[Com]]pany] AS [t1] WHERE "
                     "[t1].[Company_RecID] = [t0].[Parent_RecID]), 1), 2) = 1) AND (NOT (NULLIF(COALESCE(("
                     "SELECT CASE WHEN ([t2].[Co]]mpany Name] = @p2) THEN 1 WHEN NOT ([t2].[Co]]mpany "
                     "Name] = @p2) THEN 0 ELSE 2 END FROM [dbo].[Com]]pany] AS [t2] WHERE "
                     "[t2].[Company_RecID] = [t0].[Parent_RecID]), 0), 2) = 1))) ORDER BY "
                     "[t0].[Company_RecID] ASC");
    cr_assert_eq(f.q.n, 2);
    done(&f);
}

/* Prisma's cursor condition: a required field through a path follows when
 * the path's last foreign key is null ([j1].[Parent_RecID]: the first hop's
 * row holds it), a nullable one matches any null; the comparisons follow
 * the page (a negative take reads backwards). A cursor Prisma pages in
 * memory is not paged here: the renderer starts the page at its row. */
Test(poller_livesql, a_cursor_joins_its_row_and_writes_prismas_condition)
{
    struct fx f;
    plan(&f, "{\"cursor\":{\"code\":\"A]\"},\"orderBy\":[{\"parent\":{\"parent\":{\"code\":\"asc\"}}},"
             "{\"name\":\"desc\"}],\"take\":-2}");
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), 0);
    cr_assert_str_eq(sql(&f),
                     "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] CROSS JOIN (SELECT [c0].[Company_RecID] "
                     "AS [k0], [c2].[Code] AS [k1], [c0].[Co]]mpany Name] AS [k2] FROM [dbo].[Com]]pany] AS "
                     "[c0] LEFT JOIN [dbo].[Com]]pany] AS [c1] ON [c1].[Company_RecID] = [c0].[Parent_RecID] "
                     "LEFT JOIN [dbo].[Com]]pany] AS [c2] ON [c2].[Company_RecID] = [c1].[Parent_RecID] WHERE "
                     "[c0].[Code] = @p1) AS [cur] LEFT JOIN [dbo].[Com]]pany] AS [j1] ON [j1].[Company_RecID] "
                     "= [t0].[Parent_RecID] LEFT JOIN [dbo].[Com]]pany] AS [j2] ON [j2].[Company_RecID] = "
                     "[j1].[Parent_RecID] WHERE 1 = 1 AND (([j2].[Code] < [cur].[k1] OR [j1].[Parent_RecID] "
                     "IS NULL) OR ([j2].[Code] = [cur].[k1]) AND ([t0].[Co]]mpany Name] > [cur].[k2] OR "
                     "[t0].[Co]]mpany Name] IS NULL OR [cur].[k2] IS NULL) OR ([j2].[Code] = [cur].[k1]) AND "
                     "([t0].[Co]]mpany Name] = [cur].[k2] OR [t0].[Co]]mpany Name] IS NULL OR [cur].[k2] IS "
                     "NULL) AND [t0].[Company_RecID] <= [cur].[k0]) ORDER BY [j2].[Code] ASC, [t0].[Co]]mpany "
                     "Name] DESC, [t0].[Company_RecID] ASC");
    done(&f);
}

Test(poller_livesql, a_count_order_is_a_counting_subquery)
{
    struct fx f;
    plan(&f, "{\"orderBy\":[{\"children\":{\"_count\":\"desc\"}},{\"parent\":{\"children\":{\"_count\":"
             "\"asc\"}}}],\"take\":2}");
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), 0);
    cr_assert_str_eq(sql(&f),
                     "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] LEFT JOIN [dbo].[Com]]pany] AS [j1] ON "
                     "[j1].[Company_RecID] = [t0].[Parent_RecID] WHERE 1 = 1 ORDER BY (SELECT COUNT_BIG(*) "
                     "FROM [dbo].[Com]]pany] AS [t1] WHERE [t1].[Parent_RecID] = [t0].[Company_RecID]) DESC, "
                     "(SELECT COUNT_BIG(*) FROM [dbo].[Com]]pany] AS [t2] WHERE [t2].[Parent_RecID] = "
                     "[j1].[Company_RecID]) ASC, [t0].[Company_RecID] ASC OFFSET @p1 ROWS FETCH NEXT @p2 "
                     "ROWS ONLY");
    done(&f);
}

Test(poller_livesql, relation_levels_take_their_parents_keys_and_counts_group)
{
    struct fx f;
    plan(&f, "{\"include\":{\"children\":{\"where\":{\"revenue\":{\"gt\":\"12.50\"}},\"take\":1},"
             "\"_count\":{\"select\":{\"children\":{\"where\":{\"entered\":{\"lt\":\"2024-03-01\"}}}}}}}");
    const struct cache_plan_node *c = &f.p.root.children[0];
    int64_t keys[] = {4, 9};
    cr_assert_eq(poller_lsql_children(&f.q, c, keys, 2), 0);
    cr_assert_str_eq(sql(&f), "SELECT " COLS " FROM [dbo].[Com]]pany] AS [t0] WHERE 1 = 1 AND "
                              "[t0].[Parent_RecID] IN (@p1, @p2) AND ([t0].[Revenue] > CAST(@p3 AS "
                              "decimal(38, 1))) ORDER BY [t0].[Company_RecID] ASC");
    cr_assert_eq(f.q.p[2].len, 4); /* "12.5", as the cache renders it */
    cr_assert_eq(poller_lsql_count(&f.q, &f.p.root.counts[0], keys, 2), 0);
    cr_assert_str_eq(sql(&f), "SELECT [t0].[Parent_RecID], COUNT_BIG(*) FROM [dbo].[Com]]pany] AS [t0] WHERE "
                              "[t0].[Parent_RecID] IN (@p1, @p2) AND ([t0].[Entered] < @p3) GROUP BY "
                              "[t0].[Parent_RecID]");
    cr_assert_eq(f.q.p[2].type, SYBMSDATETIME2);
    cr_assert_str_eq(f.q.p[2].decl, "datetime2(7)");
    done(&f);
}

Test(poller_livesql, too_many_values_are_refused_in_words)
{
    struct fx f;
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"where\":{\"companyRecId\":{\"in\":[0");
    for (int i = 1; i <= POLLER_LSQL_PARAMS_MAX; i++)
        buf_printf(&b, ",%d", i);
    buf_puts(&b, "]}}}");
    buf_putc(&b, '\0');
    plan(&f, (const char *)buf_data(&b));
    cr_assert_eq(poller_lsql_root(&f.q, &f.p, false), -E2BIG);
    cr_assert(strstr(f.q.why, "more than 2000 values"), "%s", f.q.why);
    buf_fini(&b);
    done(&f);
}
