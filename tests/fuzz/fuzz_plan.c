/*
 * Request options -> query plan (cache_plan_parse), the step every
 * client's `opts` goes through. The first input byte picks one of the
 * repository's collectors, the rest is the JSON text of opts (any JSON
 * value, as socket.io delivers it).
 */
#include "fuzz.h"

#include <assert.h>
#include <jansson.h>

#include "cache/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct collector_set *cs = fuzz_collectors();
    if (size < 1)
        return 0;
    const struct collector *col = &cs->items[data[0] % cs->n];
    json_t *opts = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (!opts)
        return 0;
    struct cache_plan plan;
    char err[512];
    if (cache_plan_parse(&plan, col, opts, err, sizeof err) == 0) {
        static uint16_t models[UINT16_MAX];
        size_t n = cache_plan_models(&plan, models);
        assert(n >= 1 && n <= fuzz_schema()->n_models);
        cache_plan_fini(&plan);
    }
    json_decref(opts);
    return 0;
}
