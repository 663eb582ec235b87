/* libFuzzer target for permessage-deflate (catalogue FZ5): the capped inflate
 * of received messages against a plain zlib reference, the size of every
 * buffer it allocates against the cap, and the compress/inflate round trip at
 * every window size; not the offer parser (fuzz_headers) or the session. The
 * .c is included so that its peer-sized allocations can be watched. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/alloc.h"
#include "core/err.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#include "../support/deflate_tracked.h"

enum { REF_OK, REF_TOOBIG, REF_BAD };

/* The reference: one zlib inflater, the tail appended, one output buffer of
 * cap + 1 bytes; more than cap bytes out means too big. */
static int reference(const uint8_t *in, size_t len, size_t cap, uint8_t *out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    CHECK(inflateInit2(&z, -15) == Z_OK);
    static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
    z.next_out = out;
    z.avail_out = (uInt)(cap + 1);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if ((rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_in == 0 && z.avail_out > 0) {
        z.next_in = (Bytef *)(uintptr_t)tail;
        z.avail_in = 4;
        rc = inflate(&z, Z_SYNC_FLUSH);
    }
    *out_len = cap + 1 - z.avail_out;
    inflateEnd(&z);
    if (*out_len > cap)
        return REF_TOOBIG;
    if (rc == Z_STREAM_END || ((rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_in == 0))
        return REF_OK;
    return REF_BAD;
}

static void fuzz_inflate(const uint8_t *data, size_t size, size_t cap)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    /* The thread's inflater is made once, before the counting starts. */
    CHECK(get_inflater() != NULL);
    g_max_alloc = 0;
    int rc = wsh_pmd_inflate(data, size, cap, &out, &out_len);
    CHECK(rc == 0 || rc == WSH_ETOOBIG || rc == WSH_EPAYLOAD);
    /* Never a buffer past the cap (1 byte for an empty cap). */
    CHECK(g_max_alloc <= (cap ? cap : 1));
    uint8_t *ref = malloc(cap + 1);
    size_t ref_len;
    int want = reference(data, size, cap, ref, &ref_len);
    if (rc == 0) {
        CHECK(want == REF_OK);
        CHECK(out_len == ref_len && out_len <= cap);
        CHECK(out_len == 0 || memcmp(out, ref, out_len) == 0);
        free(out);
    } else if (rc == WSH_ETOOBIG) {
        CHECK(want == REF_TOOBIG);
    } else {
        CHECK(want == REF_BAD);
    }
    free(ref);
}

static void fuzz_round_trip(const uint8_t *data, size_t size, uint8_t bits)
{
    wsh_msg_t *m = wsh_pmd_compress(WSH_OP_BINARY, data, size, bits);
    if (!m)
        return;
    CHECK(m->data[0] == 0xC2);
    size_t h = (m->data[1] & 0x7f) < 126 ? 2 : (m->data[1] & 0x7f) == 126 ? 4 : 10;
    CHECK(m->len > h && m->len - h < size);
    uint8_t *out;
    size_t out_len;
    CHECK(wsh_pmd_inflate(m->data + h, m->len - h, size, &out, &out_len) == 0);
    CHECK(out_len == size && memcmp(out, data, size) == 0);
    free(out);
    wsh_msg_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* Byte 0: bit 7 picks the round trip (bits 0-2: window 8..15), else
     * inflate with a cap from bytes 1-2 (0..65535). */
    uint8_t sel = data[0];
    if (sel & 0x80) {
        fuzz_round_trip(data + 1, size - 1, (uint8_t)(8 + (sel & 7)));
    } else {
        size_t cap = (size_t)data[1] | (size_t)data[2] << 8;
        fuzz_inflate(data + 3, size - 3, cap);
    }
    return 0;
}
