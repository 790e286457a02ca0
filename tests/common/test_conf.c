#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "common/test_paths.h"

static char path[64];

static void write_file(const char *text)
{
    strcpy(path, "/tmp/cwcache-conf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void cleanup(void)
{
    if (path[0])
        unlink(path);
    unsetenv("PORT");
    unsetenv("PSK");
    unsetenv("DATABASE_URL");
    unsetenv("CWCACHE_CONFIG"); /* the test setup names /dev/null */
    unsetenv("MAP_SIZE_MB");
}

TestSuite(common_conf, .init = cleanup, .fini = cleanup);

Test(common_conf, defaults_match_the_original)
{
    struct conf c;
    char err[256];
    char *argv[] = {"cwcache", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 1, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.port, 3000);
    cr_assert_eq(c.ping_interval, 25000);
    cr_assert_eq(c.ping_timeout, 20000);
    cr_assert_eq(c.connect_timeout, 45000);
    cr_assert_eq(c.upgrade_timeout, 10000);
    cr_assert_eq(c.max_payload, 1000000);
    cr_assert_eq(c.workers, 2);
    cr_assert_str_eq(c.data_dir, "./data");
    cr_assert_null(c.psk);
    conf_fini(&c);
}

/* The LMDB map size: 64 GiB unless the file, MAP_SIZE_MB or --map-size-mb say otherwise. */
Test(common_conf, map_size_mb_comes_from_file_env_or_flag)
{
    struct conf c;
    char err[256];
    char *none[] = {"cwcache", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 1, none, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.map_size_mb, 65536);
    conf_fini(&c);
    write_file("map_size_mb = 1024\n");
    char *file[] = {"cwcache", "--config", path, NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, file, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.map_size_mb, 1024);
    conf_fini(&c);
    setenv("MAP_SIZE_MB", "2048", 1);
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 1, none, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.map_size_mb, 2048);
    conf_fini(&c);
    char *flag[] = {"cwcache", "--map-size-mb", "4096", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, flag, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.map_size_mb, 4096);
    conf_fini(&c);
    char *zero[] = {"cwcache", "--map-size-mb=0", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 2, zero, err, sizeof err), -EINVAL);
    cr_assert_not_null(strstr(err, "map-size-mb"), "%s", err);
    conf_fini(&c);
}

Test(common_conf, flag_beats_env_beats_file_beats_default)
{
    struct conf c;
    char err[256];
    write_file("# comment\nport = 1111\nworkers = 3\npsk = \"from file # not a comment\"\n"
               "data_dir = /tmp/x   # trailing comment\n");
    setenv("PORT", "2222", 1);
    char *argv[] = {"cwcache", "--config", path, "--port=3333", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 4, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.port, 3333);
    cr_assert_eq(c.workers, 3);
    cr_assert_str_eq(c.psk, "from file # not a comment");
    cr_assert_str_eq(c.data_dir, "/tmp/x");
    conf_fini(&c);

    char *argv2[] = {"cwcache", "--config=", NULL};
    argv2[1] = malloc(strlen(path) + 10);
    sprintf(argv2[1], "--config=%s", path);
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 2, argv2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.port, 2222); /* env over file */
    conf_fini(&c);
    free(argv2[1]);
}

Test(common_conf, file_errors_name_file_and_line)
{
    struct conf c;
    char err[256], want[128];
    char *argv[] = {"cwcache", "--config", path, NULL};
    write_file("port = 1\n\nnonsense\n");
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, argv, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:3: expected key = value", path);
    cr_assert_str_eq(err, want);
    conf_fini(&c);
    unlink(path);

    write_file("bogus = 1\n");
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, argv, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:1: unknown key \"bogus\"", path);
    cr_assert_str_eq(err, want);
    conf_fini(&c);
    unlink(path);

    write_file("port = 70000\n");
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, argv, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, ":1: port: expected an integer from 0 to 65535, got \"70000\""), "%s", err);
    conf_fini(&c);
}

Test(common_conf, bad_flags_and_values)
{
    struct conf c;
    char err[256];
    char *a1[] = {"cwcache", "--nope", "1", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, a1, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "unknown option --nope"), "%s", err);
    conf_fini(&c);
    char *a2[] = {"cwcache", "--workers", "-1", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, a2, err, sizeof err), -EINVAL);
    conf_fini(&c);
    char *a3[] = {"cwcache", "--port", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 2, a3, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "needs a value"), "%s", err);
    conf_fini(&c);
    char *a4[] = {"cwcache", "--psk", "x", NULL}; /* the key never goes on a command line */
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, a4, err, sizeof err), -EINVAL);
    conf_fini(&c);
    char *a5[] = {"cwcache", "--log-level", "loud", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, a5, err, sizeof err), -EINVAL);
    conf_fini(&c);
    char *a6[] = {"cwcache", "--tls-cert", "x.pem", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 3, a6, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "tls_cert and tls_key"), "%s", err);
    conf_fini(&c);
}

Test(common_conf, bare_boolean_flags_and_help)
{
    struct conf c;
    char err[256];
    char *a1[] = {"cwcache", "--insecure-no-psk", "--poller", "false", "--port", "0", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 6, a1, err, sizeof err), 0, "%s", err);
    cr_assert(c.insecure_no_psk);
    cr_assert_not(c.poller);
    cr_assert_eq(c.port, 0);
    conf_fini(&c);
    char *a2[] = {"cwcache", "--port", "x", "--help", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 4, a2, err, sizeof err), 1);
    conf_fini(&c);
}

Test(common_conf, no_prefix_sets_a_boolean_false_and_nothing_else)
{
    struct conf c;
    char err[256];
    char *a1[] = {"cwcache", "--no-poller", "--port", "0", NULL};
    conf_init(&c);
    cr_assert(c.poller, "the default polls");
    cr_assert_eq(conf_load(&c, 4, a1, err, sizeof err), 0, "%s", err);
    cr_assert_not(c.poller);
    conf_fini(&c);
    char *a2[] = {"cwcache", "--no-port", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 2, a2, err, sizeof err), -EINVAL, "--no- of a number");
    cr_assert(strstr(err, "--no-port"), "%s", err);
    conf_fini(&c);
    char *a3[] = {"cwcache", "--no-poller=true", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 2, a3, err, sizeof err), -EINVAL, "--no-NAME takes no value");
    conf_fini(&c);
}

Test(common_conf, environment_is_read_as_the_original_names_it)
{
    struct conf c;
    char err[256];
    char *argv[] = {"cwcache", NULL};
    setenv("PSK", "k", 1);
    setenv("DATABASE_URL", "sqlserver://h:1;database=d", 1);
    setenv("PORT", "", 1); /* empty: ignored */
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 1, argv, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c.psk, "k");
    cr_assert_str_eq(c.database_url, "sqlserver://h:1;database=d");
    cr_assert_eq(c.port, 3000);
    setenv("PORT", "abc", 1);
    cr_assert_eq(conf_load(&c, 1, argv, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "environment PORT"), "%s", err);
    conf_fini(&c);
}

Test(common_conf, ranges_come_from_the_table)
{
    struct conf c;
    char err[256];
    conf_init(&c);
    cr_assert_eq(c.batch_rows, 5000);
    cr_assert_eq(c.overlap_s, 120);
    cr_assert_eq(c.reconcile_s, 900);
    cr_assert_eq(conf_set(&c, "workers", "0", err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "workers: expected an integer from 1 to 256, got \"0\"");
    cr_assert_eq(conf_set(&c, "workers", "257", err, sizeof err), -EINVAL);
    cr_assert_eq(conf_set(&c, "workers", "256", err, sizeof err), 0, "%s", err);
    cr_assert_eq(conf_set(&c, "max_payload", "15", err, sizeof err), -EINVAL);
    cr_assert_eq(conf_set(&c, "ping_interval", "0", err, sizeof err), -EINVAL);
    cr_assert_eq(conf_set(&c, "overlap_s", "0", err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.overlap_s, 0);
    cr_assert_eq(conf_set_flag(&c, "--batch-rows", "1000001", err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "--batch-rows: expected an integer from 1 to 1000000, got \"1000001\"");
    cr_assert_eq(conf_set_flag(&c, "--psk", "x", err, sizeof err), -EINVAL);
    cr_assert_str_eq(conf_default("data_dir"), "./data");
    cr_assert_null(conf_default("psk"));
    cr_assert_null(conf_default("nope"));
    conf_fini(&c);

    char *argv[] = {"cwcache", "--workers=0", NULL};
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 2, argv, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "option --workers: expected an integer from 1 to 256, got \"0\"");
    conf_fini(&c);
}

Test(common_conf, help_prints_each_default_and_range)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    conf_usage(f, "cwcache");
    fclose(f);
    cr_assert(strstr(text, "--port                   TCP port; 0 lets the kernel choose "
                           "[default 3000; 0-65535]; env PORT\n"), "%s", text);
    cr_assert(strstr(text, "--workers                threads rendering answers, split over the loops "
                           "(at least one each) [default 2; 1-256]\n"),
              "%s", text);
    free(text);
}

/* The whole file, NUL-terminated. Read by size rather than getdelim():
 * GCC 12's -Wdangling-pointer took the getdelim() buffer, once inlined,
 * for this function's local. */
static char *file_read(const char *name)
{
    FILE *f = fopen(name, "r");
    cr_assert_not_null(f, "%s", name);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert_gt(size, 0, "%s", name);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size, "%s", name);
    fclose(f);
    text[size] = '\0';
    return text;
}

/* docs/server.md carries the table between two markers; it must be what
 * `cwcache --help-markdown` prints, so docs and defaults cannot drift. */
Test(common_conf, docs_table_is_the_generated_one)
{
    static const char begin[] = "<!-- conf-table: generated by `cwcache --help-markdown` -->\n",
                      end[] = "<!-- end conf-table -->";
    char *doc = file_read(TEST_SRC_ROOT "/docs/server.md");
    char *a = strstr(doc, begin), *b = a ? strstr(a, end) : NULL;
    cr_assert(a && b, "docs/server.md: conf-table markers not found");
    a += strlen(begin);
    char *gen = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&gen, &len);
    conf_markdown(f);
    fclose(f);
    cr_assert_eq((size_t)(b - a), len,
                 "docs/server.md's table differs from `cwcache --help-markdown`:\n%s", gen);
    cr_assert_eq(memcmp(a, gen, len), 0,
                 "docs/server.md's table differs from `cwcache --help-markdown`:\n%s", gen);
    free(gen);
    free(doc);
}

/* --config, then CWCACHE_CONFIG, then ./cwcache.conf when present. */
Test(common_conf, the_file_is_found_where_documented)
{
    char err[256], dir[] = "/tmp/cwcache-conf-dir-XXXXXX", cwd[4096];
    const char *found;
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    unsetenv("CWCACHE_CONFIG");
    char *none[] = {"cwcache", NULL};
    cr_assert_eq(conf_file_find(1, none, &found, err, sizeof err), 0);
    cr_assert(found == NULL || strcmp(found, "cwcache.conf") != 0);
    FILE *f = fopen("cwcache.conf", "w");
    cr_assert_not_null(f);
    fputs("workers = 7\n", f);
    fclose(f);
    cr_assert_eq(conf_file_find(1, none, &found, err, sizeof err), 0);
    cr_assert_str_eq(found, "cwcache.conf");
    struct conf c;
    conf_init(&c);
    cr_assert_eq(conf_load(&c, 1, none, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.workers, 7);
    cr_assert_str_eq(c.config, "cwcache.conf");
    conf_fini(&c);
    setenv("CWCACHE_CONFIG", "/nonexistent/env.conf", 1);
    cr_assert_eq(conf_file_find(1, none, &found, err, sizeof err), 0);
    cr_assert_str_eq(found, "/nonexistent/env.conf");
    conf_init(&c);
    cr_assert_lt(conf_load(&c, 1, none, err, sizeof err), 0); /* named, so it must exist */
    cr_assert(strstr(err, "/nonexistent/env.conf"), "%s", err);
    conf_fini(&c);
    char *flag[] = {"cwcache", "--config=/x/flag.conf", NULL};
    cr_assert_eq(conf_file_find(2, flag, &found, err, sizeof err), 0);
    cr_assert_str_eq(found, "/x/flag.conf");
    char *bare[] = {"cwcache", "--config", NULL};
    cr_assert_eq(conf_file_find(2, bare, &found, err, sizeof err), -EINVAL);
    unsetenv("CWCACHE_CONFIG");
    unlink("cwcache.conf");
    cr_assert_eq(chdir(cwd), 0);
    rmdir(dir);
}
