/* The hub's JSON frames as the client sees them: builds the requests it
 * sends (subscribe, unsubscribe, publish, ack, history, presence) and reads the frames the hub
 * sends into a flat struct. No sockets, no state. */
#ifndef WSH_CLIENT_FRAMES_H
#define WSH_CLIENT_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "wshub.h"

typedef enum {
    WSH_SF_OTHER = 0,
    WSH_SF_WELCOME,
    WSH_SF_SUBSCRIBED,
    WSH_SF_UNSUBSCRIBED,
    WSH_SF_PUBLISHED,
    WSH_SF_MESSAGE,
    WSH_SF_RECEIPT,
    WSH_SF_ERROR,
    WSH_SF_HISTORY,
    WSH_SF_PRESENCE,
    WSH_SF_JOIN,
    WSH_SF_LEAVE,
} wsh_sf_type_t;

/* One server frame, decoded. Strings are NUL-terminated copies (cut to fit);
 * data points into the frame text passed to wsh_sf_parse. id_kind is the
 * first character of a client-made id ('p' publish, 's' subscribe, 'h'
 * history, 'w' presence) and id_num its number; id_kind is 0 when the frame had no such id. */
typedef struct wsh_sf {
    wsh_sf_type_t type;
    char channel[256];
    char epoch[40];
    char client[80];
    char code[64];
    char message[256];
    char id_kind;
    uint64_t id_num;
    uint64_t offset, ts, heartbeat;
    uint64_t count;         /* presence: entries on the channel */
    bool recovered, receipts, duplicate, truncated;
    const char *data;
    size_t data_len;
} wsh_sf_t;

/* Reads one frame's text s[0..len) (valid UTF-8). 0, or WSHUB_EPROTO when it
 * is not a JSON object with a string "type". Unknown types give WSH_SF_OTHER. */
int wsh_sf_parse(const char *s, size_t len, wsh_sf_t *f);

/* Calls each(user, &m) for every message of a `history` frame s[0..len), in
 * order, with m filled as for a `message` frame (its channel taken from the
 * history frame when the element has none). 0, WSHUB_EPROTO (not a history
 * frame) or WSHUB_ENOMEM. */
int wsh_sf_each_history_message(const char *s, size_t len, void (*each)(void *user, const wsh_sf_t *m),
                                void *user);

/* The entries of a `presence` frame (its `clients` array) or the one of a
 * `join`/`leave` frame (its own `client` and `user`), s[0..len), decoded
 * into a single allocation: *out gets *cnt entries followed by their
 * strings (user NULL when absent); free(*out) releases all (*out is NULL
 * when *cnt is 0). 0, WSHUB_EPROTO (not an object, `clients` not an array,
 * an entry without a string `client`, a `user` that is not a string) or
 * WSHUB_ENOMEM. */
int wsh_sf_presence_entries(const char *s, size_t len, wshub_presence_entry_t **out, size_t *cnt);

/* True when name is a valid channel name: 1-255 bytes of [A-Za-z0-9_.:@/-]. */
bool wsh_sf_channel_ok(const char *name);

/* Request builders: each appends one JSON object to out (no framing).
 * Return 0 or WSHUB_ENOMEM. id numbers become "s<N>" / "p<N>". */
int wsh_sf_subscribe(wsh_buf_t *out, uint64_t sid, const char *channel, bool has_since, uint64_t since,
                     const char *epoch, unsigned history);
int wsh_sf_unsubscribe(wsh_buf_t *out, const char *channel);
int wsh_sf_publish(wsh_buf_t *out, uint64_t pid, const char *channel, const char *data, size_t data_len,
                   bool receipts, const char *key);
int wsh_sf_ack(wsh_buf_t *out, const char *channel, uint64_t offset);
int wsh_sf_history(wsh_buf_t *out, uint64_t hid, const char *channel, uint64_t since, unsigned limit);
/* {"type":"presence","id":"w<N>","channel":...}. */
int wsh_sf_presence(wsh_buf_t *out, uint64_t wid, const char *channel);

#endif
