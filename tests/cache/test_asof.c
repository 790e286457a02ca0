#include <criterion/criterion.h>

#include "fixture.h"

TestSuite(cache_asof, .init = fx_open, .fini = fx_close);

Test(cache_asof, an_answer_is_as_fresh_as_its_stalest_model)
{
    uint16_t ids[] = {fx_model("Category")->id, fx_model("Subcategory")->id};
    cr_assert_eq(cache_asof(fx_cache, ids, 2), 0, "never polled: unknown");
    cache_asof_note(fx_cache, fx_model("Category"), 2000);
    cr_assert_eq(cache_asof(fx_cache, ids, 2), 0, "one model still unknown");
    cache_asof_note(fx_cache, fx_model("Subcategory"), 1000);
    cr_assert_eq(cache_asof(fx_cache, ids, 2), 1000);
    cr_assert_eq(cache_asof(fx_cache, ids, 1), 2000);
    cache_asof_note(fx_cache, fx_model("Subcategory"), 3000);
    cr_assert_eq(cache_asof(fx_cache, ids, 2), 2000);
}
