/* `wshub sub`: prints every message of the given channels as JSON lines,
 * resuming across disconnects and hub restarts through libwshub. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "wshub.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int signo)
{
    (void)signo;
    got_signal = 1;
}

typedef struct sub_run {
    const wsh_cli_opts_t *o;
    int exit;
    uint64_t seen;
} sub_run_t;

static void on_state(wshub_client_t *c, wshub_state_t state, int err, void *user)
{
    sub_run_t *r = user;
    if (state == WSHUB_STATE_RECONNECTING && wshub_client_connections(c) == 0 && r->exit == 0) {
        /* Never connected: a wrong URL or a hub that is down is the user's to fix now. */
        wsh_cli_error("cannot reach the hub at %s: %s", r->o->url, wshub_strerror(err));
        r->exit = WSH_CLI_ECONNECT;
        wshub_client_stop(c);
    } else if (state == WSHUB_STATE_RECONNECTING) {
        wsh_cli_error("connection lost (%s), reconnecting", wshub_strerror(err));
    } else if (state == WSHUB_STATE_CONNECTED && wshub_client_connections(c) > 1) {
        wsh_cli_error("reconnected");
    } else if (state == WSHUB_STATE_CLOSED && err == WSHUB_EREFUSED) {
        wsh_cli_error("refused by the hub (close code %d)", wshub_client_close_code(c));
        r->exit = WSH_CLI_EHUB;
    } else if (state == WSHUB_STATE_CLOSED && err != 0 && r->exit == 0) {
        wsh_cli_error("connection closed: %s", wshub_strerror(err));
        r->exit = WSH_CLI_ECONNECT;
    }
}

static void on_message(wshub_client_t *c, const wshub_message_t *m, void *user)
{
    sub_run_t *r = user;
    /* Messages read in the same batch as the last counted one still arrive
     * after wshub_client_close(); --count means exactly N lines. */
    if (r->o->count && r->seen >= r->o->count)
        return;
    wsh_cli_print_message(r->o->pretty, m->channel, m->offset, m->ts, m->epoch, m->data, m->data_len);
    /* Acked after printing: the receipt then means "this line was written". */
    if (r->o->ack && m->wants_receipt)
        wshub_ack(c, m->channel, m->offset);
    if (++r->seen == r->o->count)
        wshub_client_close(c);
}

static void on_lost(wshub_client_t *c, const char *channel, uint64_t since, uint64_t offset, const char *epoch,
                    void *user)
{
    (void)c;
    (void)user;
    wsh_cli_error("channel %s: the hub could not replay after offset %llu (recovered:false); continuing after "
                  "offset %llu in epoch %s",
                  channel, (unsigned long long)since, (unsigned long long)offset, epoch);
}

static void on_sub_error(wshub_client_t *c, const char *channel, const char *code, const char *message,
                         void *user)
{
    sub_run_t *r = user;
    wsh_cli_error("subscribe to %s failed: %s: %s", channel, code, message);
    r->exit = WSH_CLI_EHUB;
    wshub_client_close(c);
}

int wsh_cli_sub(const wsh_cli_opts_t *o)
{
    sub_run_t r = {.o = o};
    wshub_options_t wo;
    wsh_cli_client_options(o, &wo);
    wo.on_state = on_state;
    wo.on_message = on_message;
    wo.on_lost = on_lost;
    wo.on_sub_error = on_sub_error;
    wo.user = &r;
    wshub_client_t *c;
    int rc = wsh_cli_client_new(o, &wo, &c);
    if (rc != 0)
        return rc;
    wshub_sub_options_t so = {.has_since = o->has_since, .since = o->since, .history = o->history};
    for (int i = 0; i < o->argc; i++) {
        rc = wshub_subscribe(c, o->argv[i], &so);
        if (rc != 0) {
            wsh_cli_error("cannot subscribe to \"%s\": %s", o->argv[i], wshub_strerror(rc));
            wshub_client_free(c);
            return WSH_CLI_EUSAGE;
        }
    }
    /* No SA_RESTART: a signal interrupts poll(), so Ctrl-C ends at once. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    wshub_client_start(c);
    while (!got_signal && r.exit != WSH_CLI_ECONNECT) {
        /* Short slices, so a signal that lands outside poll() is seen soon. */
        if (wshub_client_run(c, 500) == WSHUB_ECLOSED)
            break;
    }
    if (wshub_client_state(c) != WSHUB_STATE_CLOSED && r.exit != WSH_CLI_ECONNECT) {
        wshub_client_close(c);
        for (int i = 0; i < 4 && wshub_client_run(c, 500) != WSHUB_ECLOSED; i++)
            ;
    }
    wshub_client_free(c);
    return r.exit;
}
