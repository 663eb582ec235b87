/* The wshub CLI's client subcommands (sub, pub, channels, history, presence) built on
 * libwshub and the tiny HTTP client; src/main.c dispatches here. Not the
 * server's options (config.c) or the bench tool. Exit codes: docs/clients.md. */
#ifndef WSH_CLI_H
#define WSH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wshub.h"

enum {
    WSH_CLI_OK = 0,
    WSH_CLI_EHUB = 1,      /* the hub answered with an error (or refused us) */
    WSH_CLI_EUSAGE = 2,    /* bad command line */
    WSH_CLI_ECONNECT = 3,  /* the hub could not be reached */
    WSH_CLI_ETIMEOUT = 4,  /* answers or receipts did not all arrive in time */
};

/* Options shared by the subcommands, from flags and the environment. */
typedef struct wsh_cli_opts {
    const char *url;        /* --url, WSHUB_URL, default ws://127.0.0.1:8080/ws */
    const char *token;      /* --token, WSHUB_TOKEN */
    const char *ca_file;    /* --ca-file */
    bool insecure;          /* --insecure: no TLS verification */
    bool pretty;            /* --pretty: for people, not programs */
    bool ack;               /* --ack (sub): acknowledge messages that ask for receipts */
    bool has_since;
    uint64_t since;         /* --since N */
    unsigned history;       /* --history N */
    unsigned limit;         /* --limit M (history) */
    unsigned receipts;      /* --receipts N (pub) */
    uint64_t count;         /* --count N (sub: exit after N messages) */
    int timeout_ms;         /* --timeout MS */
    int argc;               /* positional arguments */
    char **argv;
} wsh_cli_opts_t;

/* True for the subcommand names handled here. */
bool wsh_cli_is_command(const char *cmd);

/* Runs subcommand cmd with its arguments (after the command name); returns
 * the process exit code. */
int wsh_cli_main(const char *cmd, int argc, char **argv);

/* Subcommands, each given parsed options. */
int wsh_cli_sub(const wsh_cli_opts_t *o);
int wsh_cli_pub(const wsh_cli_opts_t *o);
int wsh_cli_channels(const wsh_cli_opts_t *o);
int wsh_cli_history(const wsh_cli_opts_t *o);
int wsh_cli_presence(const wsh_cli_opts_t *o);

/* Prints one message as a JSON line {"channel","offset","ts","epoch","data"}
 * (or a human line when pretty) and flushes, so pipes see it at once. */
void wsh_cli_print_message(bool pretty, const char *channel, uint64_t offset, uint64_t ts, const char *epoch,
                           const char *data, size_t data_len);

/* Starts wo with o's connection settings (url, token, TLS verification);
 * the caller adds its callbacks. */
void wsh_cli_client_options(const wsh_cli_opts_t *o, wshub_options_t *wo);
/* Creates the client; on failure prints why and returns the exit code
 * (usage for a bad URL, else cannot-connect), on success 0. */
int wsh_cli_client_new(const wsh_cli_opts_t *o, const wshub_options_t *wo, wshub_client_t **c);

/* Prints "wshub: <what>" to stderr. */
void wsh_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
