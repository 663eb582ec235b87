/* Option parsing and dispatch for the client subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/json_escape.h"

static const char USAGE[] =
    "usage:\n"
    "  wshub sub CHANNEL... [--since N] [--history N] [--count N] [--ack] [--pretty]\n"
    "  wshub pub CHANNEL [DATA|-] [--receipts N] [--timeout MS]\n"
    "  wshub channels [--pretty]\n"
    "  wshub history CHANNEL [--since N] [--limit M] [--pretty]\n"
    "  wshub presence CHANNEL [--pretty]\n"
    "common options: --url URL (or WSHUB_URL; default ws://127.0.0.1:8080/ws),\n"
    "  --token T (or WSHUB_TOKEN), --ca-file PEM, --insecure, --timeout MS\n"
    "exit codes: 0 ok, 1 hub error, 2 usage, 3 cannot connect, 4 timeout (docs/clients.md)\n";

bool wsh_cli_is_command(const char *cmd)
{
    return strcmp(cmd, "sub") == 0 || strcmp(cmd, "pub") == 0 || strcmp(cmd, "channels") == 0 ||
           strcmp(cmd, "history") == 0 || strcmp(cmd, "presence") == 0;
}

void wsh_cli_client_options(const wsh_cli_opts_t *o, wshub_options_t *wo)
{
    wshub_options_init(wo);
    wo->url = o->url;
    wo->token = o->token;
    wo->ca_file = o->ca_file;
    wo->tls_no_verify = o->insecure;
}

int wsh_cli_client_new(const wsh_cli_opts_t *o, const wshub_options_t *wo, wshub_client_t **c)
{
    int rc = wshub_client_new(wo, c);
    if (rc == 0)
        return 0;
    wsh_cli_error("%s: %s", o->url, wshub_strerror(rc));
    return rc == WSHUB_EURL ? WSH_CLI_EUSAGE : WSH_CLI_ECONNECT;
}

void wsh_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wshub: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void wsh_cli_print_message(bool pretty, const char *channel, uint64_t offset, uint64_t ts, const char *epoch,
                           const char *data, size_t data_len)
{
    if (pretty) {
        printf("%s #%llu  %.*s\n", channel, (unsigned long long)offset, (int)data_len, data);
    } else {
        char ch[2 * 256 + 8];
        wsh_json_escape(ch, sizeof ch, channel, strlen(channel));
        printf("{\"channel\":\"%s\",\"offset\":%llu,\"ts\":%llu,\"epoch\":\"%s\",\"data\":%.*s}\n", ch,
               (unsigned long long)offset, (unsigned long long)ts, epoch, (int)data_len, data);
    }
    fflush(stdout);
}

static int parse_num(const char *flag, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') {
        wsh_cli_error("%s needs a number", flag);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) {
        wsh_cli_error("%s: \"%s\" is not a number up to %llu", flag, s, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses argv into o; 0, 1 for --help (printed), or -1 (reported). */
static int parse(int argc, char **argv, wsh_cli_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->url = getenv("WSHUB_URL");
    if (!o->url || !*o->url)
        o->url = "ws://127.0.0.1:8080/ws";
    o->token = getenv("WSHUB_TOKEN");
    if (o->token && !*o->token)
        o->token = NULL;
    o->timeout_ms = 10000;
    o->limit = 100;
    o->argv = calloc((size_t)argc + 1, sizeof *o->argv);
    if (!o->argv) {
        wsh_cli_error("out of memory");
        return -1;
    }
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
            o->argv[o->argc++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 1;
        } else if (strcmp(a, "--pretty") == 0) {
            o->pretty = true;
        } else if (strcmp(a, "--ack") == 0) {
            o->ack = true;
        } else if (strcmp(a, "--insecure") == 0) {
            o->insecure = true;
        } else if (strcmp(a, "--url") == 0 || strcmp(a, "--token") == 0 || strcmp(a, "--ca-file") == 0) {
            if (!v) {
                wsh_cli_error("%s needs a value", a);
                return -1;
            }
            const char **dst = a[2] == 'u' ? &o->url : a[2] == 't' ? &o->token : &o->ca_file;
            *dst = v;
            i++;
        } else if (strcmp(a, "--since") == 0) {
            if (parse_num(a, v, UINT64_MAX, &o->since))
                return -1;
            o->has_since = true;
            i++;
        } else if (strcmp(a, "--history") == 0 || strcmp(a, "--limit") == 0 || strcmp(a, "--receipts") == 0) {
            if (parse_num(a, v, 1000000, &n))
                return -1;
            *(a[2] == 'h' ? &o->history : a[2] == 'l' ? &o->limit : &o->receipts) = (unsigned)n;
            i++;
        } else if (strcmp(a, "--count") == 0) {
            if (parse_num(a, v, UINT64_MAX, &o->count))
                return -1;
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            if (parse_num(a, v, 86400000, &n))
                return -1;
            o->timeout_ms = (int)n;
            i++;
        } else {
            wsh_cli_error("unknown option %s", a);
            return -1;
        }
    }
    return 0;
}

int wsh_cli_main(const char *cmd, int argc, char **argv)
{
    wsh_cli_opts_t o;
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        free(o.argv);
        if (rc < 0)
            fputs(USAGE, stderr);
        return rc > 0 ? WSH_CLI_OK : WSH_CLI_EUSAGE;
    }
    bool ok = true;
    if (strcmp(cmd, "sub") == 0)
        ok = o.argc >= 1;
    else if (strcmp(cmd, "pub") == 0)
        ok = o.argc == 1 || o.argc == 2;
    else if (strcmp(cmd, "channels") == 0)
        ok = o.argc == 0;
    else
        ok = o.argc == 1;
    if (!ok) {
        wsh_cli_error("%s: wrong number of arguments", cmd);
        fputs(USAGE, stderr);
        free(o.argv);
        return WSH_CLI_EUSAGE;
    }
    if (strcmp(cmd, "sub") == 0)
        rc = wsh_cli_sub(&o);
    else if (strcmp(cmd, "pub") == 0)
        rc = wsh_cli_pub(&o);
    else if (strcmp(cmd, "channels") == 0)
        rc = wsh_cli_channels(&o);
    else if (strcmp(cmd, "presence") == 0)
        rc = wsh_cli_presence(&o);
    else
        rc = wsh_cli_history(&o);
    free(o.argv);
    return rc;
}
