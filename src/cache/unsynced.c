/*
 * Commits without fsync during a warm-up, and what a crash leaves of them
 * (cache.h, cache_unsynced_begin). LMDB's MDB_NOSYNC keeps every commit
 * atomic in the OS page cache, so a killed process leaves a consistent
 * store; only a system crash or power loss can leave data pages and meta
 * pages half written. The marker, made durable before the first unsynced
 * commit and removed after the last sync, tells the two apart by the boot
 * id (/proc/sys/kernel/random/boot_id): a marker of another boot means the
 * store may be torn, and since it is a cache of the source, the next
 * writer empties it.
 */
#include "cache/cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MARKER_PREFIX "unsynced."
#define BOOT_ID_MAX 64

/* This boot's id, or "" where the kernel has none (then every marker counts
 * as this boot's: nothing is emptied, as before markers existed). */
static void boot_id(char out[BOOT_ID_MAX])
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (!fgets(out, BOOT_ID_MAX, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static void marker_path(const struct cache *c, long pid, char *out, size_t len)
{
    snprintf(out, len, "%s/" MARKER_PREFIX "%ld", c->path, pid);
}

int cache_unsynced_begin(struct cache *c)
{
    if (c->read_only)
        return -EROFS;
    if (c->unsynced)
        return 0;
    char path[4096], boot[BOOT_ID_MAX];
    marker_path(c, (long)getpid(), path, sizeof path);
    boot_id(boot);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    size_t n = strlen(boot);
    int rc = write(fd, boot, n) == (ssize_t)n ? 0 : -EIO;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0)
        rc = sync_dir(c->path);
    if (rc == 0)
        rc = cache_lmdb_env_nosync(c, true);
    if (rc < 0) {
        unlink(path);
        return rc;
    }
    c->unsynced = true;
    return 0;
}

int cache_unsynced_writeback(struct cache *c)
{
    if (!c->unsynced)
        return 0;
    int fd, rc = cache_lmdb_env_fd(c, &fd);
    if (rc == 0 && sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
        rc = -errno;
    return rc;
}

int cache_unsynced_end(struct cache *c)
{
    if (!c->unsynced)
        return 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = cache_lmdb_env_nosync(c, false);
    if (rc == 0)
        rc = cache_lmdb_env_sync(c);
    if (rc < 0)
        return rc; /* the marker stays: the next writer syncs, or empties after a crash */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    log_info(LOG_CACHE, "%s: synced the commits made without fsync in %.2f s", c->path,
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    c->unsynced = false;
    char path[4096];
    marker_path(c, (long)getpid(), path, sizeof path);
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return sync_dir(c->path);
}

/* What one marker says: 1 another boot's, 0 a live process's (leave it),
 * 2 a dead process's of this boot (sync, then remove). */
static int marker_kind(const struct cache *c, const char *name, const char *boot)
{
    char path[4096], got[BOOT_ID_MAX] = "";
    snprintf(path, sizeof path, "%s/%s", c->path, name);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(got, sizeof got, f))
            got[0] = '\0';
        fclose(f);
    }
    if (boot[0] && strcmp(got, boot) != 0)
        return 1;
    long pid = strtol(name + strlen(MARKER_PREFIX), NULL, 10);
    if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 2;
    return 0;
}

/* Counts the markers by kind in seen[3], and unlinks those of remove_kind. */
static void markers_scan(const struct cache *c, const char *boot, int remove_kind, int seen[3])
{
    DIR *d = opendir(c->path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, MARKER_PREFIX, strlen(MARKER_PREFIX)) != 0)
            continue;
        int k = marker_kind(c, e->d_name, boot);
        seen[k]++;
        if (k == remove_kind) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", c->path, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

int cache_unsynced_reset(const struct cache *c)
{
    char boot[BOOT_ID_MAX];
    boot_id(boot);
    int seen[3] = {0};
    markers_scan(c, boot, -1, seen);
    if (!seen[1])
        return 0;
    if (c->read_only) {
        log_error(LOG_CACHE, "%s: a warm-up was writing the store without syncing when the system "
                  "went down: its pages may be torn; the next writer (the server, cwcachectl "
                  "warm) empties it and loads it again", c->path);
        return -ESTALE;
    }
    /* Openers at the same time: one empties, the others then find no marker. */
    int dfd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc = flock(dfd, LOCK_EX) < 0 ? -errno : 0;
    memset(seen, 0, sizeof seen);
    if (rc == 0)
        markers_scan(c, boot, -1, seen);
    if (rc == 0 && seen[1]) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data.mdb", c->path);
        if (unlink(path) < 0 && errno != ENOENT)
            rc = -errno;
        if (rc == 0)
            log_error(LOG_CACHE, "%s: a warm-up was writing the store without syncing when the "
                      "system went down: its pages may be torn, so it starts empty and is "
                      "loaded again", c->path);
        if (rc == 0)
            markers_scan(c, boot, 1, (int[3]){0});
        if (rc == 0)
            rc = fsync(dfd) < 0 ? -errno : 0;
    }
    flock(dfd, LOCK_UN);
    close(dfd);
    return rc;
}

int cache_unsynced_settle(struct cache *c)
{
    if (c->read_only)
        return 0;
    char boot[BOOT_ID_MAX];
    boot_id(boot);
    int seen[3] = {0};
    markers_scan(c, boot, -1, seen);
    if (!seen[2])
        return 0;
    /* A killed warm-up's commits are in the OS cache: once synced, its
     * marker has nothing left to say. */
    int rc = cache_lmdb_env_sync(c);
    if (rc < 0)
        return rc;
    markers_scan(c, boot, 2, (int[3]){0});
    log_info(LOG_CACHE, "%s: synced the commits of a warm-up that ended without syncing them",
             c->path);
    return sync_dir(c->path);
}
