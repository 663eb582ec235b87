/* The durable journal (--data-dir): a SQLite database in WAL mode with
 * synchronous=FULL, written by one thread that commits publishes in groups,
 * so durability costs one fsync per batch, not per message. It loads the
 * history store at start and hands each committed batch to a callback. It
 * knows nothing of workers or connections. */
#ifndef WSH_STORE_JOURNAL_H
#define WSH_STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"
#include "store/history.h"

/* One publish waiting for its commit. */
typedef struct wsh_journal_rec {
    wsh_history_chan_t *hc;  /* published records are never freed */
    uint64_t offset;
    uint64_t ts;
    wsh_msg_t *frame;        /* the `message` frame, owned by the journal; NULL: write nothing,
                              * only keep this record's place in the commit order */
    void *tag;               /* the caller's (a pending reply), passed back on commit */
    const char *idem_key;    /* stored with the message so the key survives a restart; copied */
    size_t idem_len;
} wsh_journal_rec_t;

/* Runs on the journal thread after each batch: err is 0 when the batch is
 * durable, else the SQLite failure (then nothing of the batch is stored).
 * The callback must not keep recs; it may take references to their frames. */
typedef void (*wsh_journal_commit_cb)(void *ud, wsh_journal_rec_t *recs, size_t cnt, int err);

typedef struct wsh_journal wsh_journal_t;

/* Opens (creating if needed) DIR/wshub.db, sets h's epoch from the database
 * (so it survives restarts), and loads every channel's last offset and its
 * retained messages (h's limits) into h. Returns NULL after writing one line
 * to errbuf on failure. Not thread-safe; call before workers start. */
wsh_journal_t *wsh_journal_open(const char *dir, wsh_history_t *h, char *errbuf, size_t errlen);

/* Starts the writer thread. 0 or -errno. */
int wsh_journal_start(wsh_journal_t *j, wsh_journal_commit_cb cb, void *ud);

/* Queues rec for the next commit. Call with the history lock held, right
 * after assigning rec->offset, so the queue is in offset order per channel. */
void wsh_journal_append(wsh_journal_t *j, const wsh_journal_rec_t *rec);

/* Commits what is queued, stops the thread, closes the database, frees j. */
void wsh_journal_close(wsh_journal_t *j);

/* Path of the database file (for logs and tests). */
const char *wsh_journal_path(const wsh_journal_t *j);

#endif
