#pragma once
/*
 * Listing definition files: the schema loads every *.prisma file of a
 * directory, the collectors every *.json file, both in name order so a
 * load is reproducible.
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct dirlist {
    char **names; /* owned: file names (not paths), sorted by strcmp */
    size_t n;
};

/* Lists the names in dir ending in suffix (hidden files skipped). Errors:
 * -errno with "dir: reason" in err. Free with dirlist_fini(). */
int dirlist_read(struct dirlist *out, const char *dir, const char *suffix, char *err,
                 size_t errlen) MUST_CHECK;
/* "dir/name" as a new string (owned by the caller). */
char *dirlist_path(const char *dir, const char *name);
void dirlist_fini(struct dirlist *l);
