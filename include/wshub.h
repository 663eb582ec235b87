/* libwshub: the C client of a wshub hub. It connects over ws:// or wss://,
 * keeps the connection alive (reconnect with exponential backoff and full
 * jitter, dead-link detection), resumes every subscription from the last
 * offset it delivered so the application sees each message exactly once and
 * in order, and holds publishes made while offline in a bounded queue that it
 * sends with idempotency keys when the link returns.
 *
 * Threading: a client belongs to one thread; no function may be called on the
 * same client from two threads at once. Callbacks run inside
 * wshub_client_process() / wshub_client_run(), on that thread, and may call
 * every function below except wshub_client_free().
 *
 * Errors: every call that can fail returns 0 or a negative WSHUB_E* code;
 * wshub_strerror() names it. The library never aborts, never exits and never
 * writes to stdout or stderr. See docs/clients.md for the whole picture. */
#ifndef WSHUB_H
#define WSHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WSHUB_BUILDING)
#define WSHUB_API __attribute__((visibility("default")))
#else
#define WSHUB_API
#endif

#define WSHUB_VERSION_MAJOR 0
#define WSHUB_VERSION_MINOR 1
#define WSHUB_VERSION_PATCH 0

/* Error codes (negative). */
enum {
    WSHUB_OK = 0,
    WSHUB_EINVAL = -1,     /* a bad argument: NULL, bad channel, data that is not JSON */
    WSHUB_ENOMEM = -2,     /* an allocation failed; the client is still usable */
    WSHUB_EURL = -3,       /* the URL is not ws://host[:port]/path or wss://... */
    WSHUB_ECONNECT = -4,   /* name resolution or TCP connect failed */
    WSHUB_ETLS = -5,       /* TLS setup, handshake or certificate verification failed */
    WSHUB_EHANDSHAKE = -6, /* the HTTP upgrade was refused or its answer was wrong */
    WSHUB_EPROTO = -7,     /* the hub broke RFC 6455 or sent a frame that is not JSON */
    WSHUB_EIO = -8,        /* the connection failed while open (reset, EOF) */
    WSHUB_ETIMEOUT = -9,   /* connect/handshake took too long, or the link went silent */
    WSHUB_ECLOSED = -10,   /* the client is closed (or closing) */
    WSHUB_EQUEUEFULL = -11,/* the publish queue holds max_queue publishes already */
    WSHUB_EREFUSED = -12,  /* the hub closed with 4001 or 1008 (or answered 401/403): no retry */
    WSHUB_EHUB = -13,      /* the hub answered a request with an error frame */
    WSHUB_ESTATE = -14,    /* the call does not fit the client's state (e.g. start twice) */
};

/* Connection states. CONNECTING: the first attempt (after wshub_client_start).
 * CONNECTED: the upgrade succeeded and the hub's `welcome` arrived.
 * RECONNECTING: the link was lost (or never came up); waiting out the backoff
 * delay or trying again. CLOSED: wshub_client_close() finished, or the hub
 * refused us (close 4001 / 1008, HTTP 401 / 403), or max_attempts ran out. */
typedef enum {
    WSHUB_STATE_IDLE = 0, /* created, not started */
    WSHUB_STATE_CONNECTING,
    WSHUB_STATE_CONNECTED,
    WSHUB_STATE_RECONNECTING,
    WSHUB_STATE_CLOSED,
} wshub_state_t;

typedef struct wshub_client wshub_client_t;

/* One delivered message. Every pointer is valid only during the callback.
 * data is the published JSON value byte for byte, NOT NUL-terminated. */
typedef struct wshub_message {
    const char *channel;
    uint64_t offset;
    uint64_t ts;           /* ms since the Unix epoch when the hub accepted it */
    const char *epoch;     /* the channel's epoch (16 hex characters) */
    const char *data;
    size_t data_len;
    bool wants_receipt;    /* the publisher asked for receipts: call wshub_ack() */
} wshub_message_t;

/* The outcome of one publish. err is 0 when the hub stored it (offset set,
 * is_duplicate when the hub had already stored it under the same idempotency
 * key, e.g. after a re-send); otherwise WSHUB_EHUB with code/message from the
 * hub's error frame, or WSHUB_ECLOSED when the client closed before the hub
 * answered. Pointers are valid only during the callback. */
typedef struct wshub_publish_result {
    uint64_t publish_id;   /* the id wshub_publish() returned */
    const char *channel;
    uint64_t offset;
    bool is_duplicate;
    int err;
    const char *code;      /* hub error code, or NULL */
    const char *message;   /* hub error message, or NULL */
} wshub_publish_result_t;

/* One receipt: subscriber `client` acked message `offset` of `channel` that
 * this client published (publish_id) with receipts. Receipts are tied to the
 * connection that published: acks made after that connection dropped are not
 * reported (docs/clients.md). */
typedef struct wshub_receipt {
    uint64_t publish_id;
    const char *channel;
    uint64_t offset;
    const char *client;
} wshub_receipt_t;

/* Callbacks; any may be NULL. `user` is wshub_options_t.user. on_state
 * fires on each state change, with the error that caused it (0 if none). */
typedef void (*wshub_state_cb)(wshub_client_t *c, wshub_state_t state, int err, void *user);
typedef void (*wshub_message_cb)(wshub_client_t *c, const wshub_message_t *m, void *user);
typedef void (*wshub_publish_cb)(wshub_client_t *c, const wshub_publish_result_t *r, void *user);
typedef void (*wshub_receipt_cb)(wshub_client_t *c, const wshub_receipt_t *r, void *user);
/* The hub answered a resubscribe (or a subscribe with `since`) with
 * recovered:false: messages after `since` up to `offset` are lost to this
 * client (new epoch, or older than retention). Delivery continues after
 * `offset`; reload state from the source of truth. */
typedef void (*wshub_lost_cb)(wshub_client_t *c, const char *channel, uint64_t since, uint64_t offset,
                              const char *epoch, void *user);
/* The hub answered a subscribe with an error frame (e.g. bad_channel,
 * limit_exceeded); the subscription is dropped. */
typedef void (*wshub_sub_error_cb)(wshub_client_t *c, const char *channel, const char *code,
                                   const char *message, void *user);

typedef struct wshub_options {
    const char *url;             /* ws://host[:port]/path or wss://...; default ws://127.0.0.1:8080/ws */
    const char *token;           /* sent as "Authorization: Bearer <token>" when set */
    const char *ca_file;         /* PEM CA bundle for wss://; NULL = the system's default paths */
    bool tls_no_verify;          /* true disables certificate and host name checks (tests only) */
    unsigned backoff_initial_ms; /* first reconnect delay bound; default 500 */
    unsigned backoff_max_ms;     /* cap on the delay bound; default 30000 */
    unsigned max_attempts;       /* failed connection attempts in a row before CLOSED; 0 = forever */
    unsigned connect_timeout_ms; /* TCP + TLS + upgrade + welcome; default 10000 */
    size_t max_queue;            /* publishes queued or awaiting an answer; default 1024 */
    size_t max_message;          /* largest message accepted from the hub; default 16 MiB */
    uint64_t seed;               /* jitter RNG seed; 0 = random */
    wshub_state_cb on_state;
    wshub_message_cb on_message;
    wshub_publish_cb on_publish;
    wshub_receipt_cb on_receipt;
    wshub_lost_cb on_lost;
    wshub_sub_error_cb on_sub_error;
    void *user;
} wshub_options_t;

/* Fills o with the defaults above (all callbacks NULL). */
WSHUB_API void wshub_options_init(wshub_options_t *o);

/* Creates a client (state IDLE, nothing connected). The options and strings
 * are copied. Returns 0 and sets *out, or WSHUB_EINVAL / WSHUB_EURL /
 * WSHUB_ENOMEM. Free with wshub_client_free(). */
WSHUB_API int wshub_client_new(const wshub_options_t *o, wshub_client_t **out);

/* Starts connecting (state CONNECTING). The socket is non-blocking; name
 * resolution uses getaddrinfo() and may block briefly for non-numeric hosts.
 * Returns 0, or WSHUB_ESTATE if already started. A failed first attempt is
 * reported through on_state (RECONNECTING with the error) and retried. */
WSHUB_API int wshub_client_start(wshub_client_t *c);

/* Begins a graceful close: unsent publishes are answered through on_publish
 * with WSHUB_ECLOSED, a close frame (1000) is sent and the client becomes
 * CLOSED when the hub answers it or after one second. Idempotent. */
WSHUB_API int wshub_client_close(wshub_client_t *c);

/* Closes the socket at once (no callbacks) and frees everything. Not from a callback. */
WSHUB_API void wshub_client_free(wshub_client_t *c);

/* Where a new subscription starts. Zero-initialise: the default is "from
 * now" (only messages published after the subscribe). */
typedef struct wshub_sub_options {
    bool has_since;        /* resume after offset `since` (0 = from the oldest retained) */
    uint64_t since;
    const char *epoch;     /* the epoch `since` belongs to, or NULL */
    unsigned history;      /* without has_since: first the last N retained messages */
} wshub_sub_options_t;

/* Subscribes to channel, starting where so says (NULL = from now). The
 * subscription survives reconnects: each new connection resubscribes with
 * the last delivered offset and the channel's epoch, messages at or below
 * that offset are dropped as duplicates, and on_lost reports a gap the hub
 * cannot fill. Subscribing to a channel twice is harmless (the second call
 * changes nothing). Allowed in any state but CLOSED; sent at once when
 * connected, else on connect. Returns 0, WSHUB_EINVAL (bad channel name or
 * epoch), WSHUB_ENOMEM, WSHUB_ECLOSED. */
WSHUB_API int wshub_subscribe(wshub_client_t *c, const char *channel, const wshub_sub_options_t *so);

/* Drops the subscription (and tells the hub when connected). WSHUB_EINVAL if not subscribed. */
WSHUB_API int wshub_unsubscribe(wshub_client_t *c, const char *channel);

/* Publishes data (one JSON value, data_len bytes; checked here) to channel.
 * Each publish carries an idempotency key made of a random per-client prefix
 * and a counter, so re-sending it after a reconnect cannot store it twice.
 * While not connected it waits in the queue. receipts asks subscribers' acks
 * (on_receipt). *publish_id (may be NULL) receives the id that on_publish and
 * on_receipt report. Returns 0, WSHUB_EINVAL, WSHUB_EQUEUEFULL, WSHUB_ENOMEM,
 * WSHUB_ECLOSED. */
WSHUB_API int wshub_publish(wshub_client_t *c, const char *channel, const char *data, size_t data_len,
                            bool receipts, uint64_t *publish_id);

/* Acknowledges message offset of channel (for messages with wants_receipt).
 * Sent only while connected, WSHUB_ESTATE otherwise: acks are not queued,
 * because a message that arrives again after a reconnect is acked again by
 * the application that receives it. */
WSHUB_API int wshub_ack(wshub_client_t *c, const char *channel, uint64_t offset);

/* --- Presence (docs/presence.md): who is subscribed to a channel whose
 * namespace has the `presence` flag, and live notice of joins and leaves. */

/* One entry of a presence list, or the connection a join/leave is about:
 * its client id (the hub's `welcome` id of that connection) and, when it
 * authenticated with a token, user (the token's `sub`), else NULL. Valid
 * only during the callback. */
typedef struct wshub_presence_entry {
    const char *client;
    const char *user;
} wshub_presence_entry_t;

/* The answer to one wshub_presence() request. err is 0 when the hub listed
 * the channel: entries[0..entry_cnt) in no promised order, count the full
 * number of entries (more than entry_cnt when is_truncated: the hub cut the
 * list to fit its answer budget), possibly 0. Otherwise err is WSHUB_EHUB
 * with the hub's code and message ("presence_disabled", "forbidden",
 * "bad_channel"), WSHUB_ECLOSED when the client closed before the answer,
 * or WSHUB_EPROTO / WSHUB_ENOMEM when the answer could not be read. Every
 * pointer is valid only during the callback. The library creates this
 * struct, so later versions may add fields at its end. */
typedef struct wshub_presence_result {
    uint64_t request_id;   /* the id wshub_presence() returned */
    const char *channel;
    uint64_t count;
    bool is_truncated;
    const wshub_presence_entry_t *entries;
    size_t entry_cnt;
    int err;
    const char *code;      /* hub error code, or NULL */
    const char *message;   /* hub error message, or NULL */
} wshub_presence_result_t;

/* Called once per wshub_presence() request with its answer; arg is the
 * request's arg (not wshub_options_t.user). */
typedef void (*wshub_presence_cb)(wshub_client_t *c, const wshub_presence_result_t *r, void *arg);

/* Asks the hub who is on channel; cb gets the answer (or the error) once,
 * inside wshub_client_process(), never inside this call. Asking does not
 * require being subscribed, only the right to subscribe. While not
 * connected the request waits (with the publishes, bounded by max_queue
 * requests of its own); one sent on a link that drops before the answer is
 * sent again on the next connection, after the resubscribes, so a client
 * that subscribed first finds itself in the list. *request_id (may be NULL)
 * receives the id the result reports. Returns 0, WSHUB_EINVAL (NULL c or cb,
 * bad channel name), WSHUB_EQUEUEFULL, WSHUB_ENOMEM, WSHUB_ECLOSED. */
WSHUB_API int wshub_presence(wshub_client_t *c, const char *channel, wshub_presence_cb cb, void *arg,
                             uint64_t *request_id);

typedef enum {
    WSHUB_PRESENCE_JOIN = 1,  /* another connection subscribed to channel */
    WSHUB_PRESENCE_LEAVE = 2, /* another connection unsubscribed or went away */
} wshub_presence_change_t;

/* A `join` or `leave` on a presence channel this client is subscribed to,
 * about another connection (never about this one). `user` is
 * wshub_options_t.user. Events are not replayed after a reconnect: ask
 * wshub_presence() again on CONNECTED and apply later events on top. */
typedef void (*wshub_presence_event_cb)(wshub_client_t *c, wshub_presence_change_t change, const char *channel,
                                        const wshub_presence_entry_t *who, void *user);

/* Sets (or with NULL clears) the join/leave callback. A function rather
 * than a field of wshub_options_t because that struct is the caller's and
 * has no size or version field: growing it would break programs built
 * against 0.1.0. Returns 0 or WSHUB_EINVAL (NULL c). */
WSHUB_API int wshub_set_presence_event_cb(wshub_client_t *c, wshub_presence_event_cb cb);

/* The socket to poll, or -1 while there is none (waiting to reconnect). It
 * changes across reconnects: ask again after every wshub_client_process(). */
WSHUB_API int wshub_client_fd(const wshub_client_t *c);

/* Poll events the client wants now: WSHUB_WANT_READ and/or WSHUB_WANT_WRITE. */
#define WSHUB_WANT_READ 1
#define WSHUB_WANT_WRITE 2
WSHUB_API int wshub_client_events(const wshub_client_t *c);

/* Milliseconds until wshub_client_process() must run again even without
 * socket activity (backoff, heartbeat, timeouts); -1 = no deadline (IDLE or CLOSED). */
WSHUB_API int wshub_client_next_timeout_ms(const wshub_client_t *c);

/* Does all the work that is due without blocking: reads, writes, timers,
 * reconnects; callbacks run here. Call it when the fd is ready or the
 * timeout passed (calling it more often is harmless). Returns 0, or
 * WSHUB_ECLOSED once the client is CLOSED. */
WSHUB_API int wshub_client_process(wshub_client_t *c);

/* Runs its own poll() loop until the client is CLOSED, wshub_client_stop()
 * is called (e.g. from a callback), or timeout_ms passes (-1 = no limit).
 * Returns 0 when stopped, WSHUB_ETIMEOUT when the time ran out, WSHUB_ECLOSED
 * when the client closed, WSHUB_ESTATE before wshub_client_start(), or
 * WSHUB_EIO if poll() failed (EINTR returns 0 so a signal handler can make
 * the caller check its flags). */
WSHUB_API int wshub_client_run(wshub_client_t *c, int timeout_ms);

/* Makes the current (or next) wshub_client_run() return 0. */
WSHUB_API void wshub_client_stop(wshub_client_t *c);

WSHUB_API wshub_state_t wshub_client_state(const wshub_client_t *c);

/* The last error that changed the state (0 if none), e.g. why the client is
 * RECONNECTING or CLOSED. */
WSHUB_API int wshub_client_last_error(const wshub_client_t *c);

/* The close code of the last close frame received from the hub (0 if none). */
WSHUB_API int wshub_client_close_code(const wshub_client_t *c);

/* Publishes queued or sent but not yet answered. */
WSHUB_API size_t wshub_client_pending(const wshub_client_t *c);

/* Successful connections so far (1 after the first welcome, 2 after the first reconnect...). */
WSHUB_API unsigned wshub_client_connections(const wshub_client_t *c);

/* The hub's id for the current connection (from `welcome`), or NULL. */
WSHUB_API const char *wshub_client_id(const wshub_client_t *c);

/* A static English description of err ("unknown error" for unknown codes). */
WSHUB_API const char *wshub_strerror(int err);

/* "0.1.0". */
WSHUB_API const char *wshub_version(void);

#ifdef __cplusplus
}
#endif

#endif
