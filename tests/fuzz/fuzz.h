#pragma once
/*
 * What every libFuzzer harness of tests/fuzz defines, and the fixture some
 * share. A harness feeds one input to one parser of outside input and
 * returns 0: the parser may refuse the input, but a crash, a leak,
 * undefined behaviour or a hang is a finding (ASan, UBSan, libFuzzer's
 * -timeout). Harnesses call the parsers through their headers, never the
 * network layers around them.
 */
#include <stddef.h>
#include <stdint.h>

#include "collector.h"
#include "schema.h"

/* libFuzzer's entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The repository's schema/ and collectors/ (FUZZ_SRCDIR, set by meson),
 * loaded once per process; a load failure aborts: the harness is broken. */
const struct schema *fuzz_schema(void);
const struct collector_set *fuzz_collectors(void);
