#include "dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t l = strlen(name), s = strlen(suffix);
    return l > s && name[0] != '.' && strcmp(name + l - s, suffix) == 0;
}

int dirlist_read(struct dirlist *out, const char *dir, const char *suffix, char *err,
                 size_t errlen)
{
    *out = (struct dirlist){0};
    DIR *d = opendir(dir);
    if (!d) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
        return rc;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, suffix))
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->names = xrealloc(out->names, cap * sizeof *out->names);
        }
        out->names[out->n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (out->n)
        qsort(out->names, out->n, sizeof *out->names, name_cmp);
    return 0;
}

char *dirlist_path(const char *dir, const char *name)
{
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = xmalloc(size);
    snprintf(path, size, "%s/%s", dir, name);
    return path;
}

void dirlist_fini(struct dirlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    *l = (struct dirlist){0};
}
