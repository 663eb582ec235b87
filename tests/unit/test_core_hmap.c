/* Unit tests for src/core/hmap.c: insert, find, remove and iteration of the
 * intrusive table, growth, chains of equal hashes, removal during iteration
 * as the header allows it, and SipHash-1-3 checked against the reference
 * vectors. Not for the tables' users (channel, history). The .c is included
 * so the test can pin the otherwise random key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.c"

typedef struct item {
    wsh_hnode_t node;
    int key;
    int seen;
} item_t;

static item_t *item_of(wsh_hnode_t *n)
{
    return n ? (item_t *)(void *)((char *)n - offsetof(item_t, node)) : NULL;
}

/* Hash of an integer key through the table's own keyed function. */
static uint64_t key_hash(int key)
{
    return wsh_hash_u64((uint64_t)key);
}

/* The item with key, found the way users do: find, then walk equal hashes. */
static item_t *lookup(const wsh_hmap_t *m, int key)
{
    for (wsh_hnode_t *n = wsh_hmap_find(m, key_hash(key)); n; n = wsh_hmap_next_same(n))
        if (item_of(n)->key == key)
            return item_of(n);
    return NULL;
}

/* Visits every node; returns how many. Each visit bumps the item's seen. */
static size_t iterate_all(const wsh_hmap_t *m)
{
    size_t pos = 0, cnt = 0;
    for (wsh_hnode_t *n = wsh_hmap_iter(m, &pos, NULL); n; n = wsh_hmap_iter(m, &pos, n)) {
        item_of(n)->seen++;
        cnt++;
    }
    return cnt;
}

static void test_hmap_empty_table_finds_and_iterates_nothing(void **state)
{
    (void)state;
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    assert_int_equal(m.cnt, 0);
    assert_int_equal(m.cap, 0);
    assert_null(m.buckets); /* no memory before the first insert */
    assert_null(wsh_hmap_find(&m, 0));
    assert_null(wsh_hmap_find(&m, 12345));
    assert_int_equal(iterate_all(&m), 0);
    wsh_hmap_dispose(&m);
    assert_null(m.buckets);
}

static void test_hmap_insert_then_find_returns_the_node(void **state)
{
    (void)state;
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    item_t a = {.key = 1}, b = {.key = 2};
    wsh_hmap_insert(&m, &a.node, key_hash(1));
    wsh_hmap_insert(&m, &b.node, key_hash(2));
    assert_int_equal(m.cnt, 2);
    assert_int_equal(a.node.hash, key_hash(1));
    assert_ptr_equal(lookup(&m, 1), &a);
    assert_ptr_equal(lookup(&m, 2), &b);
    assert_null(lookup(&m, 3));
    wsh_hmap_dispose(&m);
}

static void test_hmap_remove_unlinks_only_that_node(void **state)
{
    (void)state;
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    item_t it[3] = {{.key = 10}, {.key = 20}, {.key = 30}};
    for (int i = 0; i < 3; i++)
        wsh_hmap_insert(&m, &it[i].node, key_hash(it[i].key));
    wsh_hmap_remove(&m, &it[1].node);
    assert_int_equal(m.cnt, 2);
    assert_null(lookup(&m, 20));
    assert_ptr_equal(lookup(&m, 10), &it[0]);
    assert_ptr_equal(lookup(&m, 30), &it[2]);
    assert_int_equal(iterate_all(&m), 2);
    assert_int_equal(it[1].seen, 0);
    /* Reinserting a removed node works (the node carries no stale link). */
    wsh_hmap_insert(&m, &it[1].node, key_hash(20));
    assert_ptr_equal(lookup(&m, 20), &it[1]);
    assert_int_equal(m.cnt, 3);
    wsh_hmap_dispose(&m);
}

static void test_hmap_grows_and_keeps_every_node_findable(void **state)
{
    (void)state;
    enum { N = 20000 };
    item_t *it = calloc(N, sizeof *it);
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    size_t last_cap = 0;
    int grew = 0;
    for (int i = 0; i < N; i++) {
        it[i].key = i;
        wsh_hmap_insert(&m, &it[i].node, key_hash(i));
        if (m.cap != last_cap) {
            grew++;
            last_cap = m.cap;
        }
        /* Load factor at most 1 keeps chains short. */
        assert_true(m.cnt <= m.cap);
    }
    assert_int_equal(m.cnt, N);
    assert_true(grew > 5);
    assert_int_equal(m.cap & (m.cap - 1), 0); /* power of two */
    for (int i = 0; i < N; i++)
        assert_ptr_equal(lookup(&m, i), &it[i]);
    assert_null(lookup(&m, N));
    assert_int_equal(iterate_all(&m), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(it[i].seen, 1);
    wsh_hmap_dispose(&m);
    free(it);
}

static void test_hmap_equal_hashes_chain_and_next_same_walks_every_one(void **state)
{
    (void)state;
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    enum { SAME = 6 };
    item_t same[SAME];
    /* Different hashes that land in the same bucket (equal low bits) sit in
     * the same chain; find and next_same must skip them. */
    item_t neighbours[4];
    memset(same, 0, sizeof same);
    memset(neighbours, 0, sizeof neighbours);
    const uint64_t h = 0x5ull;
    for (int i = 0; i < SAME; i++) {
        same[i].key = i;
        wsh_hmap_insert(&m, &same[i].node, h);
        if (i < 4) {
            neighbours[i].key = 100 + i;
            wsh_hmap_insert(&m, &neighbours[i].node, h + ((uint64_t)(i + 1) << 40));
        }
    }
    assert_int_equal(m.cnt, SAME + 4);
    int found[SAME] = {0};
    int cnt = 0;
    for (wsh_hnode_t *n = wsh_hmap_find(&m, h); n; n = wsh_hmap_next_same(n)) {
        assert_int_equal(n->hash, h);
        item_t *x = item_of(n);
        assert_true(x >= same && x < same + SAME);
        found[x->key]++;
        cnt++;
    }
    assert_int_equal(cnt, SAME);
    for (int i = 0; i < SAME; i++)
        assert_int_equal(found[i], 1);
    /* Each neighbour is found alone under its own hash. */
    for (int i = 0; i < 4; i++) {
        wsh_hnode_t *n = wsh_hmap_find(&m, h + ((uint64_t)(i + 1) << 40));
        assert_ptr_equal(n, &neighbours[i].node);
        assert_null(wsh_hmap_next_same(n));
    }
    /* A hash in the same bucket that nobody has: nothing. */
    assert_null(wsh_hmap_find(&m, h + (1ull << 50)));
    wsh_hmap_dispose(&m);
}

static void test_hmap_remove_from_the_middle_of_an_equal_hash_chain(void **state)
{
    (void)state;
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    item_t it[5];
    memset(it, 0, sizeof it);
    for (int i = 0; i < 5; i++) {
        it[i].key = i;
        wsh_hmap_insert(&m, &it[i].node, 42);
    }
    wsh_hmap_remove(&m, &it[2].node);
    wsh_hmap_remove(&m, &it[0].node);
    wsh_hmap_remove(&m, &it[4].node);
    assert_int_equal(m.cnt, 2);
    int seen = 0;
    for (wsh_hnode_t *n = wsh_hmap_find(&m, 42); n; n = wsh_hmap_next_same(n)) {
        int k = item_of(n)->key;
        assert_true(k == 1 || k == 3);
        seen |= 1 << k;
    }
    assert_int_equal(seen, (1 << 1) | (1 << 3));
    wsh_hmap_remove(&m, &it[1].node);
    wsh_hmap_remove(&m, &it[3].node);
    assert_int_equal(m.cnt, 0);
    assert_null(wsh_hmap_find(&m, 42));
    assert_int_equal(iterate_all(&m), 0);
    wsh_hmap_dispose(&m);
}

/* The header's rule: fetch the next node before removing the current one. */
static void test_hmap_remove_during_iteration_when_next_is_fetched_first(void **state)
{
    (void)state;
    enum { N = 3000 };
    item_t *it = calloc(N, sizeof *it);
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    /* Some equal hashes too, so chains longer than one are crossed. */
    for (int i = 0; i < N; i++) {
        it[i].key = i;
        wsh_hmap_insert(&m, &it[i].node, i % 7 == 0 ? 7 : key_hash(i));
    }
    size_t pos = 0, visited = 0, removed = 0;
    wsh_hnode_t *n = wsh_hmap_iter(&m, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&m, &pos, n);
        item_t *x = item_of(n);
        x->seen++;
        visited++;
        if (x->key % 2 == 0) {
            wsh_hmap_remove(&m, n);
            removed++;
        }
        n = next;
    }
    assert_int_equal(visited, N);
    assert_int_equal(removed, N / 2);
    assert_int_equal(m.cnt, N - N / 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(it[i].seen, 1);
        it[i].seen = 0;
    }
    for (int i = 0; i < N; i++) {
        if (i % 7 == 0) {
            bool present = false;
            for (wsh_hnode_t *s = wsh_hmap_find(&m, 7); s; s = wsh_hmap_next_same(s))
                present |= item_of(s) == &it[i];
            assert_int_equal(present, i % 2 != 0);
        } else {
            assert_ptr_equal(lookup(&m, i), i % 2 ? &it[i] : NULL);
        }
    }
    /* Remove everything that is left the same way. */
    pos = 0;
    n = wsh_hmap_iter(&m, &pos, NULL);
    while (n) {
        wsh_hnode_t *next = wsh_hmap_iter(&m, &pos, n);
        item_of(n)->seen++;
        wsh_hmap_remove(&m, n);
        n = next;
    }
    assert_int_equal(m.cnt, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(it[i].seen, i % 2);
    wsh_hmap_dispose(&m);
    free(it);
}

static void test_hmap_dispose_releases_buckets_but_not_entries(void **state)
{
    (void)state;
    wsh_hmap_t m;
    wsh_hmap_init(&m);
    item_t *x = calloc(1, sizeof *x);
    x->key = 9;
    wsh_hmap_insert(&m, &x->node, key_hash(9));
    wsh_hmap_dispose(&m);
    assert_int_equal(m.cnt, 0);
    assert_int_equal(m.cap, 0);
    assert_null(m.buckets);
    x->key = 10; /* still ours: ASan would flag a freed entry */
    free(x);
    /* The table is reusable after dispose. */
    item_t y = {.key = 1};
    wsh_hmap_insert(&m, &y.node, key_hash(1));
    assert_ptr_equal(lookup(&m, 1), &y);
    wsh_hmap_dispose(&m);
}

/* SipHash-1-3 of the bytes 0, 1, 2, ... len-1 under the all-zero key, from
 * the reference implementation (github.com/veorq/SipHash, cROUNDS=1,
 * dROUNDS=3). Lengths cover the empty input, every tail length and whole
 * 8-byte blocks. */
static const struct {
    size_t len;
    uint64_t hash;
} sip13_vectors[] = {
    {0, 0xd1fba762150c532cull},  {1, 0x68a914128e01e473ull},  {2, 0x010bac45c41e3669ull},
    {3, 0x4d4c9a4a8ef6e0adull},  {4, 0x7cc43f98813e4dbdull},  {5, 0x5abe2169dff36275ull},
    {6, 0xe3c25f87624f1cdbull},  {7, 0x2f098ab0c751325aull},  {8, 0xead411e67ebe2eeaull},
    {9, 0x75927f9d95124362ull},  {15, 0xf30eb725bb91c9eaull}, {16, 0x8972188433a5c5b7ull},
    {17, 0x4883c49a2c009c1dull}, {19, 0x091f4a3329f87d19ull}, {24, 0x31185a47af932f3aull},
    {31, 0x169739443111d49bull}, {32, 0x31ef8061c910629bull}, {37, 0x422a9751192ff266ull},
};

static void test_hash_bytes_is_siphash13_of_the_reference_vectors(void **state)
{
    (void)state;
    pthread_once(&key_once, init_key);
    uint64_t k0 = sip_k0, k1 = sip_k1;
    uint8_t in[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    sip_k0 = sip_k1 = 0;
    for (size_t i = 0; i < sizeof sip13_vectors / sizeof sip13_vectors[0]; i++) {
        uint64_t got = wsh_hash_bytes(in, sip13_vectors[i].len);
        if (got != sip13_vectors[i].hash)
            fail_msg("len %zu: got %016llx, want %016llx", sip13_vectors[i].len, (unsigned long long)got,
                     (unsigned long long)sip13_vectors[i].hash);
    }
    /* Unaligned input hashes the same as aligned input. */
    uint8_t shifted[65];
    memcpy(shifted + 1, in, 37);
    assert_true(wsh_hash_bytes(shifted + 1, 37) == 0x422a9751192ff266ull);
    sip_k0 = k0;
    sip_k1 = k1;
}

static void test_hash_key_is_random_per_process(void **state)
{
    (void)state;
    pthread_once(&key_once, init_key);
    /* With a random key the zero-key answers do not come out (a chance of
     * 2^-64 per vector). */
    uint8_t in[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_true(wsh_hash_bytes(in, 0) != 0xd1fba762150c532cull);
    assert_true(wsh_hash_bytes(in, 8) != 0xead411e67ebe2eeaull);
    assert_false(sip_k0 == 0 && sip_k1 == 0);
}

static void test_hash_is_deterministic_and_separates_close_inputs(void **state)
{
    (void)state;
    assert_true(wsh_hash_bytes("news", 4) == wsh_hash_bytes("news", 4));
    assert_true(wsh_hash_bytes("news", 4) != wsh_hash_bytes("newt", 4));
    assert_true(wsh_hash_bytes("news", 4) != wsh_hash_bytes("news\0", 5)); /* the length is hashed */
    assert_true(wsh_hash_bytes("", 0) != wsh_hash_bytes("\0", 1));
    assert_true(wsh_hash_u64(1) == wsh_hash_u64(1));
    /* Consecutive values (pointers, ids) spread over the low bits the
     * buckets use: 1024 keys into 1024 buckets leave many buckets used. */
    static uint8_t used[1024];
    memset(used, 0, sizeof used);
    size_t distinct = 0;
    for (uint64_t v = 0; v < 1024; v++) {
        uint64_t hv = wsh_hash_u64(v * 64);
        if (!used[hv & 1023]++)
            distinct++;
    }
    /* Random placement fills about 1 - 1/e = 63%; identity-like hashing of
     * multiples of 64 would fill only 16 buckets. */
    assert_true(distinct > 550);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmap_empty_table_finds_and_iterates_nothing),
        cmocka_unit_test(test_hmap_insert_then_find_returns_the_node),
        cmocka_unit_test(test_hmap_remove_unlinks_only_that_node),
        cmocka_unit_test(test_hmap_grows_and_keeps_every_node_findable),
        cmocka_unit_test(test_hmap_equal_hashes_chain_and_next_same_walks_every_one),
        cmocka_unit_test(test_hmap_remove_from_the_middle_of_an_equal_hash_chain),
        cmocka_unit_test(test_hmap_remove_during_iteration_when_next_is_fetched_first),
        cmocka_unit_test(test_hmap_dispose_releases_buckets_but_not_entries),
        cmocka_unit_test(test_hash_bytes_is_siphash13_of_the_reference_vectors),
        cmocka_unit_test(test_hash_key_is_random_per_process),
        cmocka_unit_test(test_hash_is_deterministic_and_separates_close_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
