/*
 * The collector loader (collector_set_load) on an arbitrary definition
 * file, read from a directory as at startup, against the repository's
 * schema.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* In memory: on a disk file system each rewrite of the file costs milliseconds. */
static char dir[] = "/dev/shm/fuzz-collector-XXXXXX";
static char path[sizeof dir + 32];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    snprintf(path, sizeof path, "%s/fetchFuzz.json", dir);
    atexit(cleanup);
    fuzz_schema();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        perror("fuzz: writing the collector file");
        abort();
    }
    close(fd);
    struct collector_set cs;
    char err[512];
    if (collector_set_load(&cs, dir, fuzz_schema(), err, sizeof err) == 0)
        collector_set_fini(&cs);
    return 0;
}
