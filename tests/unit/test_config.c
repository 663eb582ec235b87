/* Unit tests for src/config.c: defaults, every flag in both spellings, the
 * WSHUB_* environment (passed as an explicit envp), the config file format,
 * the precedence defaults < file < env < flags, the size and duration
 * parsers, and the one-line error contract on stderr. Not for server start-up. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* ---- helpers ---- */

/* Redirects fd (stdout or stderr) to a temp file until cap_end. */
typedef struct {
    int fd;
    int saved;
    FILE *tmp;
} capture_t;

static void cap_begin(capture_t *c, int fd)
{
    fflush(stdout);
    fflush(stderr);
    c->fd = fd;
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved = dup(fd);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->tmp), fd) >= 0);
}

/* Restores the fd and returns what was written (caller frees). */
static char *cap_end(capture_t *c)
{
    fflush(stdout);
    fflush(stderr);
    assert_true(dup2(c->saved, c->fd) >= 0);
    close(c->saved);
    fseek(c->tmp, 0, SEEK_END);
    long n = ftell(c->tmp);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    rewind(c->tmp);
    size_t got = fread(s, 1, (size_t)n, c->tmp);
    s[got] = '\0';
    fclose(c->tmp);
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#define MAX_ARGS 40

/* Runs wsh_config_load over a NULL-terminated list of arguments and env
 * entries, capturing stderr into *err (caller frees; may be NULL to require
 * silence). The config is left loaded; the caller disposes it. */
static int load_capture(wsh_config_t *cfg, const char *const *args, const char *const *env, char **err)
{
    char *argv[MAX_ARGS];
    char *envp[MAX_ARGS];
    int argc = 0, envc = 0;
    for (; args && args[argc]; argc++) {
        assert_true(argc < MAX_ARGS - 1);
        argv[argc] = (char *)args[argc];
    }
    argv[argc] = NULL;
    for (; env && env[envc]; envc++) {
        assert_true(envc < MAX_ARGS - 1);
        envp[envc] = (char *)env[envc];
    }
    envp[envc] = NULL;
    capture_t c;
    cap_begin(&c, STDERR_FILENO);
    int rc = wsh_config_load(cfg, argc, argv, envp);
    char *text = cap_end(&c);
    if (err) {
        *err = text;
    } else {
        if (text[0])
            fail_msg("unexpected stderr: %s", text);
        free(text);
    }
    return rc;
}

/* Loads and requires success with nothing on stderr. */
static void load_ok(wsh_config_t *cfg, const char *const *args, const char *const *env)
{
    assert_int_equal(load_capture(cfg, args, env, NULL), 0);
}

/* Loads, requires -1 with exactly one stderr line containing each needle;
 * disposes the config. */
static void load_fails_naming(const char *const *args, const char *const *env, const char *needle1,
                              const char *needle2)
{
    wsh_config_t cfg;
    char *err = NULL;
    int rc = load_capture(&cfg, args, env, &err);
    wsh_config_dispose(&cfg);
    /* Judge first and free before failing, so a failure leaks nothing. */
    char why[512] = "";
    if (rc != -1)
        snprintf(why, sizeof why, "want -1, got %d (stderr: %s)", rc, err);
    else if (count_lines(err) != 1 || err[strlen(err) - 1] != '\n')
        snprintf(why, sizeof why, "want exactly one line on stderr, got: %s", err);
    else if (needle1 && !strstr(err, needle1))
        snprintf(why, sizeof why, "stderr does not name \"%s\": %s", needle1, err);
    else if (needle2 && !strstr(err, needle2))
        snprintf(why, sizeof why, "stderr does not name \"%s\": %s", needle2, err);
    free(err);
    if (why[0])
        fail_msg("%s", why);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOARGS ((const char *const[]){NULL})

/* Writes text to a new temp file; returns its path (static storage per slot). */
static const char *write_file(int slot, const char *text)
{
    static char paths[4][64];
    snprintf(paths[slot], sizeof paths[slot], "/tmp/wsh_test_config_XXXXXX");
    int fd = mkstemp(paths[slot]);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return paths[slot];
}

static void assert_listen(const wsh_config_t *cfg, size_t i, const char *host, uint16_t port)
{
    assert_true(i < cfg->listen_cnt);
    assert_string_equal(cfg->listen[i].host, host);
    assert_int_equal(cfg->listen[i].port, port);
}

/* ---- defaults ---- */

static void test_config_defaults_without_flags_env_or_file(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS, NOARGS);
    assert_int_equal(cfg.listen_cnt, 1);
    assert_listen(&cfg, 0, "127.0.0.1", 8080);
    assert_null(cfg.data_dir);
    assert_null(cfg.config_file);
    assert_int_equal(cfg.log_level, WSH_LOG_INFO);
    assert_false(cfg.echo);
    assert_int_equal(cfg.max_message, 1u << 20);
    assert_int_equal(cfg.max_queue, 4u << 20);
    assert_int_equal(cfg.max_body, 1u << 20);
    assert_int_equal(cfg.max_head, 16u << 10);
    assert_int_equal(cfg.max_headers, 64);
    assert_int_equal(cfg.max_fragments, 65536);
    assert_int_equal(cfg.max_subscriptions, 1024);
    assert_int_equal(cfg.heartbeat_ms, 25000);
    assert_int_equal(cfg.request_timeout_ms, 10000);
    assert_int_equal(cfg.drain_timeout_ms, 5000);
    assert_int_equal(cfg.close_timeout_ms, 5000);
    wsh_config_dispose(&cfg);
}

static void test_config_ignores_the_process_environment(void **state)
{
    (void)state;
    /* Only the envp given counts, so tests and embedders control it. */
    setenv("WSHUB_MAX_MESSAGE", "7", 1);
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS, NOARGS);
    unsetenv("WSHUB_MAX_MESSAGE");
    assert_int_equal(cfg.max_message, 1u << 20);
    wsh_config_dispose(&cfg);
}

/* ---- flags ---- */

static void test_config_each_flag_with_equals_sets_its_field(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg,
            ARGS("--listen=0.0.0.0:9000", "--data-dir=/var/lib/wshub", "--log-level=debug", "--echo",
                 "--max-message=2MiB", "--max-queue=8MiB", "--max-body=64KiB", "--max-head=8KiB",
                 "--max-headers=100", "--max-fragments=0", "--max-subscriptions=5", "--heartbeat=0",
                 "--request-timeout=3s",
                 "--drain-timeout=250ms", "--close-timeout=2m"),
            NOARGS);
    assert_int_equal(cfg.listen_cnt, 1);
    assert_listen(&cfg, 0, "0.0.0.0", 9000);
    assert_string_equal(cfg.data_dir, "/var/lib/wshub");
    assert_int_equal(cfg.log_level, WSH_LOG_DEBUG);
    assert_true(cfg.echo);
    assert_int_equal(cfg.max_message, 2u << 20);
    assert_int_equal(cfg.max_queue, 8u << 20);
    assert_int_equal(cfg.max_body, 64u << 10);
    assert_int_equal(cfg.max_head, 8u << 10);
    assert_int_equal(cfg.max_headers, 100);
    assert_int_equal(cfg.max_fragments, 0);
    assert_int_equal(cfg.max_subscriptions, 5);
    assert_int_equal(cfg.heartbeat_ms, 0);
    assert_int_equal(cfg.request_timeout_ms, 3000);
    assert_int_equal(cfg.drain_timeout_ms, 250);
    assert_int_equal(cfg.close_timeout_ms, 120000);
    wsh_config_dispose(&cfg);
}

static void test_config_each_flag_with_separate_value_sets_its_field(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg,
            ARGS("--listen", "[::1]:8081", "--data-dir", "/d", "--log-level", "warn", "--max-message", "3M",
                 "--max-queue", "1KiB", "--max-body", "1024", "--max-head", "256", "--max-headers", "1",
                 "--max-fragments", "4294967295", "--max-subscriptions", "1000000", "--heartbeat", "1.5",
                 "--request-timeout", "1h",
                 "--drain-timeout", "0", "--close-timeout", "10s"),
            NOARGS);
    assert_listen(&cfg, 0, "::1", 8081);
    assert_string_equal(cfg.data_dir, "/d");
    assert_int_equal(cfg.log_level, WSH_LOG_WARN);
    assert_false(cfg.echo);
    assert_int_equal(cfg.max_message, 3u << 20);
    assert_int_equal(cfg.max_queue, 1024);
    assert_int_equal(cfg.max_body, 1024);
    assert_int_equal(cfg.max_head, 256);
    assert_int_equal(cfg.max_headers, 1);
    assert_int_equal(cfg.max_fragments, 4294967295u);
    assert_int_equal(cfg.max_subscriptions, 1000000);
    assert_int_equal(cfg.heartbeat_ms, 1500);
    assert_int_equal(cfg.request_timeout_ms, 3600000);
    assert_int_equal(cfg.drain_timeout_ms, 0);
    assert_int_equal(cfg.close_timeout_ms, 10000);
    wsh_config_dispose(&cfg);
}

static void test_config_bool_flag_takes_explicit_values(void **state)
{
    (void)state;
    static const struct { const char *arg; bool want; } cases[] = {
        {"--echo=true", true}, {"--echo=1", true},   {"--echo=yes", true}, {"--echo=ON", true},
        {"--echo=false", false}, {"--echo=0", false}, {"--echo=no", false}, {"--echo=Off", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsh_config_t cfg;
        load_ok(&cfg, ARGS(cases[i].arg), NOARGS);
        assert_int_equal(cfg.echo, cases[i].want);
        wsh_config_dispose(&cfg);
    }
}

static void test_config_later_flag_overrides_earlier_one(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--max-message=1K", "--max-message", "2K", "--data-dir=/a", "--data-dir=/b"), NOARGS);
    assert_int_equal(cfg.max_message, 2048);
    assert_string_equal(cfg.data_dir, "/b");
    wsh_config_dispose(&cfg);
}

static void test_config_repeated_listen_flags_accumulate_up_to_16(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--listen=127.0.0.1:1", "--listen", "[::1]:2", "--listen=:3"), NOARGS);
    assert_int_equal(cfg.listen_cnt, 3);
    assert_listen(&cfg, 0, "127.0.0.1", 1);
    assert_listen(&cfg, 1, "::1", 2);
    assert_listen(&cfg, 2, "0.0.0.0", 3);
    wsh_config_dispose(&cfg);

    const char *args[MAX_ARGS];
    char bufs[17][32];
    for (int i = 0; i < 17; i++) {
        snprintf(bufs[i], sizeof bufs[i], "--listen=127.0.0.1:%d", 1000 + i);
        args[i] = bufs[i];
    }
    args[16] = NULL;
    load_ok(&cfg, args, NOARGS);
    assert_int_equal(cfg.listen_cnt, 16);
    wsh_config_dispose(&cfg);
    args[16] = bufs[16];
    args[17] = NULL;
    load_fails_naming(args, NOARGS, "127.0.0.1:1016", "16");
}

static void test_config_help_and_version_return_one_and_print_to_stdout(void **state)
{
    (void)state;
    static const char *const helps[] = {"--help", "-h"};
    for (size_t i = 0; i < 2; i++) {
        wsh_config_t cfg;
        capture_t out;
        cap_begin(&out, STDOUT_FILENO);
        int rc = load_capture(&cfg, ARGS("--max-message=1K", helps[i]), NOARGS, NULL);
        char *text = cap_end(&out);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(text, "usage: wshub serve"));
        assert_non_null(strstr(text, "--max-queue"));
        assert_non_null(strstr(text, "WSHUB_"));
        free(text);
        wsh_config_dispose(&cfg);
    }
    wsh_config_t cfg;
    capture_t out;
    cap_begin(&out, STDOUT_FILENO);
    int rc = load_capture(&cfg, ARGS("--version"), NOARGS, NULL);
    char *text = cap_end(&out);
    assert_int_equal(rc, 1);
    assert_string_equal(text, "wshub " WSH_VERSION "\n");
    free(text);
    wsh_config_dispose(&cfg);
}

/* ---- environment ---- */

static void test_config_env_sets_each_option(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS,
            ARGS("PATH=/usr/bin", "WSHUB_DATA_DIR=/env/dir", "WSHUB_LOG_LEVEL=error", "WSHUB_ECHO=1",
                 "WSHUB_MAX_MESSAGE=64K", "WSHUB_MAX_QUEUE=2MiB", "WSHUB_MAX_BODY=10KB", "WSHUB_MAX_HEAD=1KiB",
                 "WSHUB_MAX_HEADERS=128", "WSHUB_MAX_FRAGMENTS=7", "WSHUB_MAX_SUBSCRIPTIONS=9", "WSHUB_HEARTBEAT=30s",
                 "WSHUB_REQUEST_TIMEOUT=500ms", "WSHUB_DRAIN_TIMEOUT=1m", "WSHUB_CLOSE_TIMEOUT=2.5"));
    assert_string_equal(cfg.data_dir, "/env/dir");
    assert_int_equal(cfg.log_level, WSH_LOG_ERROR);
    assert_true(cfg.echo);
    assert_int_equal(cfg.max_message, 65536);
    assert_int_equal(cfg.max_queue, 2u << 20);
    assert_int_equal(cfg.max_body, 10240);
    assert_int_equal(cfg.max_head, 1024);
    assert_int_equal(cfg.max_headers, 128);
    assert_int_equal(cfg.max_fragments, 7);
    assert_int_equal(cfg.max_subscriptions, 9);
    assert_int_equal(cfg.heartbeat_ms, 30000);
    assert_int_equal(cfg.request_timeout_ms, 500);
    assert_int_equal(cfg.drain_timeout_ms, 60000);
    assert_int_equal(cfg.close_timeout_ms, 2500);
    wsh_config_dispose(&cfg);
}

/* permessage-deflate is opt-in: off with a 128-byte threshold by default,
 * and on through each layer (docs/compression.md). */
static void test_config_permessage_deflate_is_off_by_default_and_set_by_each_layer(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS, NOARGS);
    assert_false(cfg.permessage_deflate);
    assert_int_equal(cfg.deflate_threshold, 128);
    wsh_config_dispose(&cfg);
    load_ok(&cfg, ARGS("--permessage-deflate", "--deflate-threshold", "1KiB"), NOARGS);
    assert_true(cfg.permessage_deflate);
    assert_int_equal(cfg.deflate_threshold, 1024);
    wsh_config_dispose(&cfg);
    load_ok(&cfg, NOARGS, ARGS("WSHUB_PERMESSAGE_DEFLATE=on", "WSHUB_DEFLATE_THRESHOLD=0"));
    assert_true(cfg.permessage_deflate);
    assert_int_equal(cfg.deflate_threshold, 0);
    wsh_config_dispose(&cfg);
    const char *path = write_file(0, "permessage-deflate = on\ndeflate-threshold = 256\n");
    load_ok(&cfg, ARGS("--config", path), NOARGS);
    assert_true(cfg.permessage_deflate);
    assert_int_equal(cfg.deflate_threshold, 256);
    wsh_config_dispose(&cfg);
    /* Flags win over the file. */
    load_ok(&cfg, ARGS("--config", path, "--permessage-deflate=off"), NOARGS);
    assert_false(cfg.permessage_deflate);
    wsh_config_dispose(&cfg);
    unlink(path);
    load_fails_naming(ARGS("--permessage-deflate=sometimes"), NOARGS, "--permessage-deflate", "\"sometimes\"");
    load_fails_naming(ARGS("--deflate-threshold", "lots"), NOARGS, "--deflate-threshold", "\"lots\"");
}

static void test_config_env_listen_is_a_comma_list(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS, ARGS("WSHUB_LISTEN=127.0.0.1:7000, [::1]:7001 ,:7002"));
    assert_int_equal(cfg.listen_cnt, 3);
    assert_listen(&cfg, 0, "127.0.0.1", 7000);
    assert_listen(&cfg, 1, "::1", 7001);
    assert_listen(&cfg, 2, "0.0.0.0", 7002);
    wsh_config_dispose(&cfg);
}

static void test_config_env_names_must_match_exactly(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS, ARGS("WSHUB_MAX_MESSAGEX=5", "XWSHUB_MAX_MESSAGE=5", "WSHUB_MAX_MESSAG=5",
                               "wshub_max_message=5", "WSHUB_LISTENERS=1.2.3.4:5"));
    assert_int_equal(cfg.max_message, 1u << 20);
    assert_int_equal(cfg.listen_cnt, 1);
    assert_listen(&cfg, 0, "127.0.0.1", 8080);
    wsh_config_dispose(&cfg);
}

static void test_config_env_error_names_the_variable_and_value(void **state)
{
    (void)state;
    load_fails_naming(NOARGS, ARGS("WSHUB_MAX_MESSAGE=lots"), "WSHUB_MAX_MESSAGE", "\"lots\"");
    load_fails_naming(NOARGS, ARGS("WSHUB_LISTEN=127.0.0.1:80,bad"), "WSHUB_LISTEN", "\"bad\"");
    load_fails_naming(NOARGS, ARGS("WSHUB_HEARTBEAT=soon"), "WSHUB_HEARTBEAT", "\"soon\"");
}

/* ---- config file ---- */

static void test_config_file_parses_comments_quotes_and_repeated_listen(void **state)
{
    (void)state;
    const char *path = write_file(0,
                                  "# wshub configuration\n"
                                  "\n"
                                  "   # indented comment\n"
                                  "listen = 127.0.0.1:9001\n"
                                  "listen=[::1]:9002   # trailing comment\n"
                                  "data-dir = \"/srv/wshub data\"\n"
                                  "\tmax-message\t=\t2MiB\t\n"
                                  "log-level = warn\r\n"
                                  "echo = yes\n"
                                  "heartbeat = \"10s\"\n");
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--config", path), NOARGS);
    assert_string_equal(cfg.config_file, path);
    assert_int_equal(cfg.listen_cnt, 2);
    assert_listen(&cfg, 0, "127.0.0.1", 9001);
    assert_listen(&cfg, 1, "::1", 9002);
    assert_string_equal(cfg.data_dir, "/srv/wshub data");
    assert_int_equal(cfg.max_message, 2u << 20);
    assert_int_equal(cfg.log_level, WSH_LOG_WARN);
    assert_true(cfg.echo);
    assert_int_equal(cfg.heartbeat_ms, 10000);
    wsh_config_dispose(&cfg);
    unlink(path);
}

static void test_config_file_keeps_hash_inside_quotes(void **state)
{
    (void)state;
    const char *path = write_file(0, "data-dir = \"/srv/#1\"\n");
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--config", path), NOARGS);
    assert_string_equal(cfg.data_dir, "/srv/#1");
    wsh_config_dispose(&cfg);
    unlink(path);
}

static void test_config_file_quoted_value_with_trailing_comment(void **state)
{
    (void)state;
    /* `#` starts a comment after a quoted value too; the quotes are not part
     * of the value. */
    const char *path = write_file(0, "data-dir = \"/srv/wshub\"  # where history lives\n");
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--config", path), NOARGS);
    char got[64];
    snprintf(got, sizeof got, "%s", cfg.data_dir ? cfg.data_dir : "(null)");
    wsh_config_dispose(&cfg);
    unlink(path);
    assert_string_equal(got, "/srv/wshub");
}

static void test_config_file_named_by_env(void **state)
{
    (void)state;
    const char *path = write_file(0, "max-body = 5K\n");
    char env[128];
    snprintf(env, sizeof env, "WSHUB_CONFIG=%s", path);
    wsh_config_t cfg;
    load_ok(&cfg, NOARGS, ARGS(env));
    assert_int_equal(cfg.max_body, 5120);
    assert_string_equal(cfg.config_file, path);
    wsh_config_dispose(&cfg);
    unlink(path);
}

static void test_config_file_flag_wins_over_env_for_which_file(void **state)
{
    (void)state;
    const char *env_path = write_file(0, "max-body = 1K\n");
    const char *flag_path = write_file(1, "max-body = 2K\n");
    char env[128], flag[128];
    snprintf(env, sizeof env, "WSHUB_CONFIG=%s", env_path);
    snprintf(flag, sizeof flag, "--config=%s", flag_path);
    wsh_config_t cfg;
    load_ok(&cfg, ARGS(flag), ARGS(env));
    assert_int_equal(cfg.max_body, 2048);
    assert_string_equal(cfg.config_file, flag_path);
    wsh_config_dispose(&cfg);
    unlink(env_path);
    unlink(flag_path);
}

static void test_config_file_unknown_key_names_file_and_line(void **state)
{
    (void)state;
    const char *path = write_file(0, "# ok\nmax-body = 1K\nmax-bodies = 2K\n");
    char where[96];
    snprintf(where, sizeof where, "%s:3", path);
    load_fails_naming(ARGS("--config", path), NOARGS, where, "max-bodies");
    unlink(path);
}

static void test_config_file_config_key_is_not_allowed_inside_a_file(void **state)
{
    (void)state;
    const char *path = write_file(0, "config = /etc/other.conf\n");
    char where[96];
    snprintf(where, sizeof where, "%s:1", path);
    load_fails_naming(ARGS("--config", path), NOARGS, where, "config");
    unlink(path);
}

static void test_config_file_line_without_equals_is_an_error(void **state)
{
    (void)state;
    const char *path = write_file(0, "\n\nlisten 127.0.0.1:80\n");
    char where[96];
    snprintf(where, sizeof where, "%s:3", path);
    load_fails_naming(ARGS("--config", path), NOARGS, where, "listen 127.0.0.1:80");
    unlink(path);
}

static void test_config_file_bad_value_names_file_line_key_and_value(void **state)
{
    (void)state;
    const char *path = write_file(0, "max-message = 1K\nmax-message = abc\n");
    char where[96];
    snprintf(where, sizeof where, "%s:2: max-message", path);
    load_fails_naming(ARGS("--config", path), NOARGS, where, "\"abc\"");
    unlink(path);
}

static void test_config_file_overlong_line_is_an_error(void **state)
{
    (void)state;
    char *text = malloc(6000);
    assert_non_null(text);
    strcpy(text, "data-dir = ");
    memset(text + 11, 'd', 5000);
    strcpy(text + 5011, "\n");
    const char *path = write_file(0, text);
    free(text);
    char where[96];
    snprintf(where, sizeof where, "%s:1", path);
    load_fails_naming(ARGS("--config", path), NOARGS, where, "too long");
    unlink(path);
}

static void test_config_missing_file_is_an_error_naming_it(void **state)
{
    (void)state;
    load_fails_naming(ARGS("--config", "/nonexistent/wshub.conf"), NOARGS, "/nonexistent/wshub.conf", NULL);
}

/* ---- precedence ---- */

static void test_config_precedence_defaults_file_env_flags(void **state)
{
    (void)state;
    const char *path = write_file(0, "max-message = 2MiB\nmax-body = 2K\nmax-head = 2K\n");
    wsh_config_t cfg;
    /* Each layer sets one more field than the layer above it. */
    load_ok(&cfg, ARGS("--config", path, "--max-message=4MiB"), ARGS("WSHUB_MAX_MESSAGE=3MiB", "WSHUB_MAX_BODY=3K"));
    assert_int_equal(cfg.max_message, 4u << 20); /* flag */
    assert_int_equal(cfg.max_body, 3u << 10);    /* env over file */
    assert_int_equal(cfg.max_head, 2u << 10);    /* file over default */
    assert_int_equal(cfg.max_queue, 4u << 20);   /* default */
    wsh_config_dispose(&cfg);
    /* The flag may come before --config: the file still ranks below it. */
    load_ok(&cfg, ARGS("--max-message=4MiB", "--config", path), NOARGS);
    assert_int_equal(cfg.max_message, 4u << 20);
    wsh_config_dispose(&cfg);
    unlink(path);
}

static void test_config_listen_list_is_replaced_not_appended_by_each_layer(void **state)
{
    (void)state;
    const char *path = write_file(0, "listen = 127.0.0.1:1\nlisten = 127.0.0.1:2\n");
    wsh_config_t cfg;
    /* file replaces the default */
    load_ok(&cfg, ARGS("--config", path), NOARGS);
    assert_int_equal(cfg.listen_cnt, 2);
    assert_listen(&cfg, 0, "127.0.0.1", 1);
    assert_listen(&cfg, 1, "127.0.0.1", 2);
    wsh_config_dispose(&cfg);
    /* env replaces the file's */
    load_ok(&cfg, ARGS("--config", path), ARGS("WSHUB_LISTEN=127.0.0.1:3"));
    assert_int_equal(cfg.listen_cnt, 1);
    assert_listen(&cfg, 0, "127.0.0.1", 3);
    wsh_config_dispose(&cfg);
    /* flags replace env's */
    load_ok(&cfg, ARGS("--config", path, "--listen=127.0.0.1:4", "--listen=127.0.0.1:5"),
            ARGS("WSHUB_LISTEN=127.0.0.1:3,127.0.0.1:6"));
    assert_int_equal(cfg.listen_cnt, 2);
    assert_listen(&cfg, 0, "127.0.0.1", 4);
    assert_listen(&cfg, 1, "127.0.0.1", 5);
    wsh_config_dispose(&cfg);
    /* flags replace the file's when env is silent */
    load_ok(&cfg, ARGS("--config", path, "--listen=127.0.0.1:4"), NOARGS);
    assert_int_equal(cfg.listen_cnt, 1);
    assert_listen(&cfg, 0, "127.0.0.1", 4);
    wsh_config_dispose(&cfg);
    unlink(path);
}

/* ---- invalid values: -1 and exactly one line naming the value ---- */

static void test_config_invalid_flag_values_fail_with_one_line_naming_them(void **state)
{
    (void)state;
    load_fails_naming(ARGS("--max-message=abc"), NOARGS, "--max-message", "\"abc\"");
    load_fails_naming(ARGS("--max-queue", "-1"), NOARGS, "--max-queue", "\"-1\"");
    load_fails_naming(ARGS("--max-body=99999999999999999999"), NOARGS, "--max-body", "99999999999999999999");
    load_fails_naming(ARGS("--max-headers=12x"), NOARGS, "--max-headers", "\"12x\"");
    load_fails_naming(ARGS("--max-headers="), NOARGS, "--max-headers", "\"\"");
    load_fails_naming(ARGS("--max-fragments=-1"), NOARGS, "--max-fragments", "\"-1\"");
    load_fails_naming(ARGS("--heartbeat=x"), NOARGS, "--heartbeat", "\"x\"");
    load_fails_naming(ARGS("--request-timeout", "10 s"), NOARGS, "--request-timeout", "\"10 s\"");
    load_fails_naming(ARGS("--echo=maybe"), NOARGS, "--echo", "\"maybe\"");
    load_fails_naming(ARGS("--log-level=verbose"), NOARGS, "--log-level", "\"verbose\"");
    load_fails_naming(ARGS("--listen=localhost"), NOARGS, "--listen", "\"localhost\"");
    load_fails_naming(ARGS("--listen=::1:80"), NOARGS, "--listen", "\"::1:80\"");
    load_fails_naming(ARGS("--data-dir="), NOARGS, "--data-dir", NULL);
}

static void test_config_unknown_option_and_stray_argument_fail(void **state)
{
    (void)state;
    load_fails_naming(ARGS("--max-messages=1"), NOARGS, "--max-messages=1", NULL);
    load_fails_naming(ARGS("--nope"), NOARGS, "--nope", NULL);
    load_fails_naming(ARGS("serve"), NOARGS, "\"serve\"", NULL);
    load_fails_naming(ARGS("-v"), NOARGS, "\"-v\"", NULL);
}

static void test_config_flag_missing_its_value_fails(void **state)
{
    (void)state;
    load_fails_naming(ARGS("--max-message"), NOARGS, "--max-message", "missing");
    load_fails_naming(ARGS("--listen"), NOARGS, "--listen", "missing");
}

static void test_config_cross_field_limits_fail_with_one_line(void **state)
{
    (void)state;
    load_fails_naming(ARGS("--max-message=0"), NOARGS, "max-message", NULL);
    load_fails_naming(ARGS("--max-message=3GiB"), NOARGS, "max-message", NULL);
    load_fails_naming(ARGS("--max-queue=1023"), NOARGS, "max-queue", NULL);
    load_fails_naming(ARGS("--max-headers=0"), NOARGS, "max-headers", NULL);
    load_fails_naming(ARGS("--max-headers=129"), NOARGS, "max-headers", NULL);
    load_fails_naming(ARGS("--max-head=255"), NOARGS, "max-head", NULL);
    load_fails_naming(ARGS("--request-timeout=0"), NOARGS, "request-timeout", NULL);
    load_fails_naming(ARGS("--max-fragments=4294967296"), NOARGS, "max-fragments", NULL);
    load_fails_naming(ARGS("--max-subscriptions=0"), NOARGS, "max-subscriptions", NULL);
    load_fails_naming(ARGS("--max-subscriptions=1000001"), NOARGS, "max-subscriptions", NULL);
    /* The boundaries themselves are accepted. */
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--max-message=2GiB", "--max-queue=1024", "--max-headers=128", "--max-head=256"), NOARGS);
    wsh_config_dispose(&cfg);
}

static void test_config_out_of_range_value_is_named_on_its_error_line(void **state)
{
    (void)state;
    /* The operator must see which value was refused, as for parse errors. */
    load_fails_naming(ARGS("--max-queue=100"), NOARGS, "max-queue", "100");
    load_fails_naming(ARGS("--max-message=3GiB"), NOARGS, "max-message", "3GiB");
}

/* ---- TLS listeners ---- */

static void test_config_tls_listen_replaces_the_default_plain_listener(void **state)
{
    (void)state;
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--tls-listen", "127.0.0.1:8443", "--tls-cert=c.pem", "--tls-key=k.pem"), NOARGS);
    assert_int_equal(cfg.listen_cnt, 0); /* TLS only: no quiet plaintext port */
    assert_int_equal(cfg.tls_listen_cnt, 1);
    assert_int_equal(cfg.tls_listen[0].port, 8443);
    assert_string_equal(cfg.tls_cert, "c.pem");
    assert_string_equal(cfg.tls_key, "k.pem");
    wsh_config_dispose(&cfg);
    /* An explicit listen stays beside it, from any layer. */
    load_ok(&cfg, ARGS("--tls-listen=127.0.0.1:8443", "--tls-cert=c.pem", "--tls-key=k.pem"),
            ARGS("WSHUB_LISTEN=127.0.0.1:8080"));
    assert_int_equal(cfg.listen_cnt, 1);
    assert_int_equal(cfg.listen[0].port, 8080);
    wsh_config_dispose(&cfg);
}

static void test_config_tls_listen_layers_like_listen(void **state)
{
    (void)state;
    const char *file = write_file(0, "tls-listen = 127.0.0.1:1\ntls-listen = 127.0.0.1:2\n"
                                     "tls-cert = c.pem\ntls-key = k.pem\n");
    wsh_config_t cfg;
    load_ok(&cfg, ARGS("--config", file), NOARGS);
    assert_int_equal(cfg.tls_listen_cnt, 2);
    wsh_config_dispose(&cfg);
    /* The environment's list replaces the file's. */
    load_ok(&cfg, ARGS("--config", file), ARGS("WSHUB_TLS_LISTEN=127.0.0.1:3,127.0.0.1:4,127.0.0.1:5"));
    assert_int_equal(cfg.tls_listen_cnt, 3);
    assert_int_equal(cfg.tls_listen[2].port, 5);
    wsh_config_dispose(&cfg);
    unlink(file);
}

static void test_config_tls_settings_must_come_together(void **state)
{
    (void)state;
    load_fails_naming(ARGS("--tls-listen=127.0.0.1:8443"), NOARGS, "--tls-listen", "--tls-key");
    load_fails_naming(ARGS("--tls-listen=127.0.0.1:8443", "--tls-cert=c.pem"), NOARGS, "--tls-listen", "--tls-key");
    load_fails_naming(ARGS("--tls-cert=c.pem", "--tls-key=k.pem"), NOARGS, "--tls-cert", "no --tls-listen");
    load_fails_naming(ARGS("--tls-key=k.pem"), NOARGS, "--tls-key", "no --tls-listen");
    load_fails_naming(ARGS("--tls-listen=8443", "--tls-cert=c.pem", "--tls-key=k.pem"), NOARGS, "--tls-listen", "8443");
    /* 16 addresses in all, plain and TLS together. */
    const char *args[MAX_ARGS];
    int n = 0;
    static char addrs[17][32];
    for (int i = 0; i < 17; i++) {
        snprintf(addrs[i], sizeof addrs[i], "--%s=127.0.0.1:%d", i < 9 ? "listen" : "tls-listen", 1000 + i);
        args[n++] = addrs[i];
    }
    args[n++] = "--tls-cert=c.pem";
    args[n++] = "--tls-key=k.pem";
    args[n] = NULL;
    load_fails_naming(args, NOARGS, "--tls-listen", "16");
}

/* ---- sizes and durations ---- */

static void test_config_parse_size_accepts_units(void **state)
{
    (void)state;
    static const struct { const char *s; uint64_t want; } ok[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"1B", 1},
        {"64K", 65536},
        {"64KB", 65536},
        {"64KiB", 65536},
        {"16M", 16u << 20},
        {"16MB", 16u << 20},
        {"16MiB", 16u << 20},
        {"1G", 1u << 30},
        {"1GB", 1u << 30},
        {"1GiB", 1u << 30},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183GiB", 17179869183ull << 30},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0xdead;
        if (wsh_config_parse_size(ok[i].s, &v) != 0 || v != ok[i].want)
            fail_msg("size \"%s\": want %llu", ok[i].s, (unsigned long long)ok[i].want);
    }
}

static void test_config_parse_size_rejects_garbage_sign_and_overflow(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        "abc",   "-1",  "+1", " 1",    "1 ",   "1 KiB", "1.5MiB",
        "1kib",    "1k",    "1TiB", "KiB", "0x10", "1e3",
        "18446744073709551616", "99999999999999999999", "17179869184GiB", "18014398509481984M",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 0xdead;
        if (wsh_config_parse_size(bad[i], &v) != -1)
            fail_msg("size \"%s\" accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 0xdead);
    }
}

static void test_config_parse_duration_accepts_units_and_bare_seconds(void **state)
{
    (void)state;
    static const struct { const char *s; uint64_t want; } ok[] = {
        {"250ms", 250}, {"1.5", 1500}, {"2m", 120000}, {"1h", 3600000}, {"10s", 10000},
        {"0", 0},       {"0.25s", 250}, {"1.5h", 5400000}, {"0ms", 0}, {"30", 30000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0xdead;
        if (wsh_config_parse_duration_ms(ok[i].s, &v) != 0 || v != ok[i].want)
            fail_msg("duration \"%s\": want %llu, got %llu", ok[i].s, (unsigned long long)ok[i].want,
                     (unsigned long long)v);
    }
}

static void test_config_parse_duration_rejects_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {"x", "", "-1", "ms", "s", "5 s", " 5", "5x", "5sec", "1d",
                                      "nan", "inf", "+5", ".5", "1e400", "99999999999999h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 0xdead;
        if (wsh_config_parse_duration_ms(bad[i], &v) != -1)
            fail_msg("duration \"%s\" accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 0xdead);
    }
}

static void test_config_parse_duration_rejects_hex(void **state)
{
    (void)state;
    /* The contract is decimal seconds; strtod would read "0x10" as 16. */
    uint64_t v = 0xdead;
    assert_int_equal(wsh_config_parse_duration_ms("0x10", &v), -1);
    assert_int_equal(wsh_config_parse_duration_ms("0x1p3s", &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_without_flags_env_or_file),
        cmocka_unit_test(test_config_ignores_the_process_environment),
        cmocka_unit_test(test_config_each_flag_with_equals_sets_its_field),
        cmocka_unit_test(test_config_each_flag_with_separate_value_sets_its_field),
        cmocka_unit_test(test_config_bool_flag_takes_explicit_values),
        cmocka_unit_test(test_config_later_flag_overrides_earlier_one),
        cmocka_unit_test(test_config_repeated_listen_flags_accumulate_up_to_16),
        cmocka_unit_test(test_config_help_and_version_return_one_and_print_to_stdout),
        cmocka_unit_test(test_config_env_sets_each_option),
        cmocka_unit_test(test_config_permessage_deflate_is_off_by_default_and_set_by_each_layer),
        cmocka_unit_test(test_config_env_listen_is_a_comma_list),
        cmocka_unit_test(test_config_env_names_must_match_exactly),
        cmocka_unit_test(test_config_env_error_names_the_variable_and_value),
        cmocka_unit_test(test_config_file_parses_comments_quotes_and_repeated_listen),
        cmocka_unit_test(test_config_file_keeps_hash_inside_quotes),
        cmocka_unit_test(test_config_file_quoted_value_with_trailing_comment),
        cmocka_unit_test(test_config_file_named_by_env),
        cmocka_unit_test(test_config_file_flag_wins_over_env_for_which_file),
        cmocka_unit_test(test_config_file_unknown_key_names_file_and_line),
        cmocka_unit_test(test_config_file_config_key_is_not_allowed_inside_a_file),
        cmocka_unit_test(test_config_file_line_without_equals_is_an_error),
        cmocka_unit_test(test_config_file_bad_value_names_file_line_key_and_value),
        cmocka_unit_test(test_config_file_overlong_line_is_an_error),
        cmocka_unit_test(test_config_missing_file_is_an_error_naming_it),
        cmocka_unit_test(test_config_precedence_defaults_file_env_flags),
        cmocka_unit_test(test_config_listen_list_is_replaced_not_appended_by_each_layer),
        cmocka_unit_test(test_config_invalid_flag_values_fail_with_one_line_naming_them),
        cmocka_unit_test(test_config_unknown_option_and_stray_argument_fail),
        cmocka_unit_test(test_config_flag_missing_its_value_fails),
        cmocka_unit_test(test_config_cross_field_limits_fail_with_one_line),
        cmocka_unit_test(test_config_out_of_range_value_is_named_on_its_error_line),
        cmocka_unit_test(test_config_tls_listen_replaces_the_default_plain_listener),
        cmocka_unit_test(test_config_tls_listen_layers_like_listen),
        cmocka_unit_test(test_config_tls_settings_must_come_together),
        cmocka_unit_test(test_config_parse_size_accepts_units),
        cmocka_unit_test(test_config_parse_size_rejects_garbage_sign_and_overflow),
        cmocka_unit_test(test_config_parse_duration_accepts_units_and_bare_seconds),
        cmocka_unit_test(test_config_parse_duration_rejects_garbage),
        cmocka_unit_test(test_config_parse_duration_rejects_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
