/* SQLite journal with a group-committing writer thread. */
#include "store/journal.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

/* Publishes per transaction at most: bounds the latency of the first one. */
#define MAX_BATCH 4096
/* How often retention deletes run on the database. */
#define TRIM_EVERY_MS 1000

struct wsh_journal {
    sqlite3 *db;
    sqlite3_stmt *ins_msg, *up_chan, *del_old, *del_expired;
    wsh_history_t *h;
    char path[4096];
    pthread_t thread;
    bool is_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wsh_journal_rec_t *queue;   /* appended under lock */
    size_t cnt, cap;
    bool stop;
    wsh_journal_commit_cb cb;
    void *ud;
    uint64_t last_trim_ms;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS channels(name TEXT PRIMARY KEY, epoch TEXT NOT NULL,"
    " last_offset INTEGER NOT NULL, last_ts INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS messages(channel TEXT NOT NULL, offset INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, frame BLOB NOT NULL, idem TEXT, PRIMARY KEY(channel, offset)) WITHOUT ROWID;";

static int fail(wsh_journal_t *j, char *errbuf, size_t errlen, const char *what)
{
    snprintf(errbuf, errlen, "%s: %s: %s", j->path, what, j->db ? sqlite3_errmsg(j->db) : "cannot open");
    return -1;
}

/* The database's epoch: made once when the file is created, so it changes
 * only when the store is lost or reset. */
static int load_epoch(wsh_journal_t *j, char *errbuf, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT value FROM meta WHERE key='epoch'", -1, &st, NULL) != SQLITE_OK)
        return fail(j, errbuf, errlen, "reading the epoch");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(j->h->epoch, sizeof j->h->epoch, "%s", v ? (const char *)v : "");
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    uint64_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = wsh_clock_wall_ms() * 0x9E3779B97F4A7C15ull;
    snprintf(j->h->epoch, sizeof j->h->epoch, "%016llx", (unsigned long long)r);
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT INTO meta(key, value) VALUES('epoch', '%s')", j->h->epoch);
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail(j, errbuf, errlen, "writing the epoch");
    return 0;
}

/* Loads every channel record and its retained messages into the store. */
static int load_channels(wsh_journal_t *j, char *errbuf, size_t errlen)
{
    wsh_history_t *h = j->h;
    sqlite3_stmt *chans, *msgs;
    if (sqlite3_prepare_v2(j->db, "SELECT name, epoch, last_offset, last_ts FROM channels", -1, &chans, NULL) !=
        SQLITE_OK)
        return fail(j, errbuf, errlen, "reading channels");
    if (sqlite3_prepare_v2(j->db,
                           "SELECT offset, ts, frame FROM messages WHERE channel=?1 AND offset>?2 AND ts>=?3 "
                           "ORDER BY offset",
                           -1, &msgs, NULL) != SQLITE_OK) {
        sqlite3_finalize(chans);
        return fail(j, errbuf, errlen, "reading messages");
    }
    uint64_t now = wsh_clock_wall_ms();
    size_t nchan = 0, nmsg = 0;
    while (sqlite3_step(chans) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(chans, 0);
        size_t len = (size_t)sqlite3_column_bytes(chans, 0);
        wsh_history_chan_t *c = wsh_history_get(h, name, len);
        snprintf(c->epoch, sizeof c->epoch, "%s", (const char *)sqlite3_column_text(chans, 1));
        uint64_t last = (uint64_t)sqlite3_column_int64(chans, 2);
        c->last_ts = (uint64_t)sqlite3_column_int64(chans, 3);
        const wsh_history_limits_t *lim = c->lim;
        uint64_t from = last > lim->max_count ? last - lim->max_count : 0;
        uint64_t min_ts = lim->max_age_ms && now > lim->max_age_ms ? now - lim->max_age_ms : 0;
        /* Everything up to the first message we reload counts as evicted. */
        c->evicted_offset = last;
        c->evicted_ts = c->last_ts;
        sqlite3_bind_text(msgs, 1, name, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(msgs, 2, (sqlite3_int64)from);
        sqlite3_bind_int64(msgs, 3, (sqlite3_int64)min_ts);
        bool first = true;
        while (sqlite3_step(msgs) == SQLITE_ROW) {
            uint64_t off = (uint64_t)sqlite3_column_int64(msgs, 0);
            uint64_t ts = (uint64_t)sqlite3_column_int64(msgs, 1);
            wsh_msg_t *m = wsh_msg_new_copy(sqlite3_column_blob(msgs, 2), (size_t)sqlite3_column_bytes(msgs, 2));
            if (first) {
                c->evicted_offset = off - 1;
                first = false;
            }
            c->last_offset = off;
            wsh_history_commit(h, c, m, off, ts);
            wsh_msg_unref(m);
            nmsg++;
        }
        sqlite3_reset(msgs);
        c->last_offset = last;
        c->committed_offset = last; /* everything on disk is committed */
        nchan++;
    }
    sqlite3_finalize(chans);
    sqlite3_finalize(msgs);
    /* Idempotency keys still inside their window come back too, so a
     * client retrying after a crash is not published twice. */
    sqlite3_stmt *keys;
    if (sqlite3_prepare_v2(j->db, "SELECT channel, offset, idem, ts FROM messages WHERE idem IS NOT NULL AND ts>=?1 "
                           "ORDER BY ts", -1, &keys, NULL) != SQLITE_OK)
        return fail(j, errbuf, errlen, "reading idempotency keys");
    sqlite3_bind_int64(keys, 1, (sqlite3_int64)(now > h->idem_window_ms ? now - h->idem_window_ms : 0));
    while (sqlite3_step(keys) == SQLITE_ROW) {
        wsh_history_chan_t *c = wsh_history_find(h, (const char *)sqlite3_column_text(keys, 0),
                                                 (size_t)sqlite3_column_bytes(keys, 0));
        if (c)
            wsh_history_idem_add(h, c, (const char *)sqlite3_column_text(keys, 2),
                                 (size_t)sqlite3_column_bytes(keys, 2), (uint64_t)sqlite3_column_int64(keys, 1),
                                 (uint64_t)sqlite3_column_int64(keys, 3));
    }
    sqlite3_finalize(keys);
    wsh_log_info(0, "journal %s: %zu channels, %zu messages restored, epoch %s", j->path, nchan, nmsg, h->epoch);
    return 0;
}

/* Closes the database and frees j (the queue must be empty). */
static void release(wsh_journal_t *j)
{
    sqlite3_finalize(j->ins_msg);
    sqlite3_finalize(j->up_chan);
    sqlite3_finalize(j->del_old);
    sqlite3_finalize(j->del_expired);
    sqlite3_close(j->db);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    free(j);
}

wsh_journal_t *wsh_journal_open(const char *dir, wsh_history_t *h, char *errbuf, size_t errlen)
{
    wsh_journal_t *j = wsh_xcalloc(1, sizeof *j);
    j->h = h;
    snprintf(j->path, sizeof j->path, "%s/wshub.db", dir);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    if (sqlite3_open_v2(j->path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(j->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        fail(j, errbuf, errlen, "opening");
        goto fail;
    }
    if (load_epoch(j, errbuf, errlen) < 0 || load_channels(j, errbuf, errlen) < 0)
        goto fail;
    if (sqlite3_prepare_v2(j->db, "INSERT OR REPLACE INTO messages(channel, offset, ts, frame, idem) VALUES(?1,?2,?3,?4,?5)",
                           -1, &j->ins_msg, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(j->db,
                           "INSERT INTO channels(name, epoch, last_offset, last_ts) VALUES(?1,?2,?3,?4) "
                           "ON CONFLICT(name) DO UPDATE SET last_offset=excluded.last_offset, last_ts=excluded.last_ts",
                           -1, &j->up_chan, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(j->db, "DELETE FROM messages WHERE channel=?1 AND offset<=?2", -1, &j->del_old, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(j->db, "DELETE FROM messages WHERE ts<?1", -1, &j->del_expired, NULL) != SQLITE_OK) {
        fail(j, errbuf, errlen, "preparing statements");
        goto fail;
    }
    return j;
fail:
    release(j);
    return NULL;
}

const char *wsh_journal_path(const wsh_journal_t *j)
{
    return j->path;
}

void wsh_journal_append(wsh_journal_t *j, const wsh_journal_rec_t *rec)
{
    wsh_journal_rec_t r = *rec;
    if (r.idem_key) {
        /* The caller's key lives in its request buffer. */
        char *k = wsh_xmalloc(r.idem_len ? r.idem_len : 1);
        memcpy(k, r.idem_key, r.idem_len);
        r.idem_key = k;
    }
    pthread_mutex_lock(&j->lock);
    if (j->cnt == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 256;
        j->queue = wsh_xrealloc(j->queue, j->cap * sizeof *j->queue);
    }
    j->queue[j->cnt++] = r;
    if (j->cnt == 1)
        pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

/* Retention on disk: per channel of the batch, rows past the count limit;
 * once a second, rows past the age limit. */
static void trim(wsh_journal_t *j, const wsh_journal_rec_t *recs, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        const wsh_journal_rec_t *r = &recs[i];
        const wsh_history_limits_t *lim = r->hc->lim;
        if (!r->frame || (i + 1 < cnt && recs[i + 1].hc == r->hc) || r->offset <= lim->max_count)
            continue;
        sqlite3_bind_text(j->del_old, 1, r->hc->name, r->hc->name_len, SQLITE_STATIC);
        sqlite3_bind_int64(j->del_old, 2, (sqlite3_int64)(r->offset - lim->max_count));
        sqlite3_step(j->del_old);
        sqlite3_reset(j->del_old);
    }
    /* Rows older than the longest age any rule keeps; each channel's own
     * age limit is applied exactly in memory and when reloading. */
    uint64_t now = wsh_clock_mono_ms();
    uint64_t max_age = wsh_history_max_age_ms(j->h);
    if (max_age && now - j->last_trim_ms >= TRIM_EVERY_MS) {
        j->last_trim_ms = now;
        uint64_t wall = wsh_clock_wall_ms();
        sqlite3_bind_int64(j->del_expired, 1, (sqlite3_int64)(wall > max_age ? wall - max_age : 0));
        sqlite3_step(j->del_expired);
        sqlite3_reset(j->del_expired);
    }
}

/* Writes one batch in one transaction; returns 0 or the SQLite error. */
static int write_batch(wsh_journal_t *j, const wsh_journal_rec_t *recs, size_t cnt)
{
    int rc = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; i < cnt && rc == SQLITE_OK; i++) {
        const wsh_journal_rec_t *r = &recs[i];
        if (!r->frame)
            continue;
        sqlite3_bind_text(j->ins_msg, 1, r->hc->name, r->hc->name_len, SQLITE_STATIC);
        sqlite3_bind_int64(j->ins_msg, 2, (sqlite3_int64)r->offset);
        sqlite3_bind_int64(j->ins_msg, 3, (sqlite3_int64)r->ts);
        sqlite3_bind_blob(j->ins_msg, 4, r->frame->data, (int)r->frame->len, SQLITE_STATIC);
        if (r->idem_key)
            sqlite3_bind_text(j->ins_msg, 5, r->idem_key, (int)r->idem_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(j->ins_msg, 5);
        rc = sqlite3_step(j->ins_msg) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(j->db);
        sqlite3_reset(j->ins_msg);
        /* One channel row update per run of the same channel is enough; the
         * last record of a run carries the highest offset. */
        if (rc == SQLITE_OK && (i + 1 == cnt || recs[i + 1].hc != r->hc || !recs[i + 1].frame)) {
            sqlite3_bind_text(j->up_chan, 1, r->hc->name, r->hc->name_len, SQLITE_STATIC);
            sqlite3_bind_text(j->up_chan, 2, r->hc->epoch, -1, SQLITE_STATIC);
            sqlite3_bind_int64(j->up_chan, 3, (sqlite3_int64)r->offset);
            sqlite3_bind_int64(j->up_chan, 4, (sqlite3_int64)r->ts);
            rc = sqlite3_step(j->up_chan) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(j->db);
            sqlite3_reset(j->up_chan);
        }
    }
    /* Retention deletes ride in the same transaction: one fsync per batch. */
    if (rc == SQLITE_OK)
        trim(j, recs, cnt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        wsh_log_error(0, "journal commit failed: %s", sqlite3_errmsg(j->db));
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

static void *writer(void *arg)
{
    wsh_journal_t *j = arg;
    wsh_journal_rec_t *batch = NULL;
    size_t batch_cap = 0;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        while (j->cnt == 0 && !j->stop)
            pthread_cond_wait(&j->cond, &j->lock);
        if (j->cnt == 0 && j->stop) {
            pthread_mutex_unlock(&j->lock);
            break;
        }
        /* Everything queued while the last commit was in flight goes into
         * this one: that is the group commit. */
        size_t n = j->cnt < MAX_BATCH ? j->cnt : MAX_BATCH;
        if (n > batch_cap) {
            batch_cap = n;
            batch = wsh_xrealloc(batch, batch_cap * sizeof *batch);
        }
        memcpy(batch, j->queue, n * sizeof *batch);
        memmove(j->queue, j->queue + n, (j->cnt - n) * sizeof *j->queue);
        j->cnt -= n;
        pthread_mutex_unlock(&j->lock);
        int rc = write_batch(j, batch, n);
        j->cb(j->ud, batch, n, rc == SQLITE_OK ? 0 : rc);
        for (size_t i = 0; i < n; i++) {
            if (batch[i].frame)
                wsh_msg_unref(batch[i].frame);
            free((void *)batch[i].idem_key);
        }
    }
    free(batch);
    return NULL;
}

int wsh_journal_start(wsh_journal_t *j, wsh_journal_commit_cb cb, void *ud)
{
    j->cb = cb;
    j->ud = ud;
    int rc = pthread_create(&j->thread, NULL, writer, j);
    if (rc != 0)
        return -rc;
    j->is_started = true;
    return 0;
}

void wsh_journal_close(wsh_journal_t *j)
{
    if (!j)
        return;
    if (j->is_started) {
        pthread_mutex_lock(&j->lock);
        j->stop = true;
        pthread_cond_signal(&j->cond);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->thread, NULL);
    }
    for (size_t i = 0; i < j->cnt; i++) {
        if (j->queue[i].frame)
            wsh_msg_unref(j->queue[i].frame);
        free((void *)j->queue[i].idem_key);
    }
    free(j->queue);
    release(j);
}
