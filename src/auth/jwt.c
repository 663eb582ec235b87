/* JWS compact parsing, signature checks with OpenSSL EVP, and claims. */
#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/b64url.h"
#include "auth/grants.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "ws/utf8.h"

/* Decoded parts are at most 3/4 of the token. */
#define PART_MAX (WSH_JWT_MAX_LEN / 4 * 3 + 3)
/* Largest signature: RSA-8192. */
#define SIG_MAX 1024
#define HEADER_TOKENS 32
/* Root, its members, and the elements of "subs"/"pubs" and "aud". */
#define CLAIM_TOKENS 320
#define JSON_MAX_DEPTH 16

const char *wsh_jwt_alg_name(wsh_jwt_alg_t alg)
{
    switch (alg) {
    case WSH_JWT_HS256: return "HS256";
    case WSH_JWT_RS256: return "RS256";
    case WSH_JWT_ES256: return "ES256";
    }
    return "?";
}

/* ---- keys ---- */

static wsh_jwt_key_t *next_key(wsh_jwt_keyset_t *ks, const char *kid, const char **why)
{
    if (ks->cnt == WSH_JWT_MAX_KEYS) {
        *why = "too many token keys (at most 16)";
        return NULL;
    }
    if (kid && strlen(kid) > WSH_JWT_ID_MAX) {
        *why = "kid too long";
        return NULL;
    }
    wsh_jwt_key_t *k = &ks->keys[ks->cnt];
    memset(k, 0, sizeof *k);
    if (kid)
        strcpy(k->kid, kid);
    return k;
}

int wsh_jwt_keyset_add_secret(wsh_jwt_keyset_t *ks, const char *kid, const uint8_t *secret, size_t len,
                              const char **why)
{
    if (len < WSH_JWT_SECRET_MIN) {
        *why = "token secret too short (at least 32 bytes, RFC 7518 3.2)";
        return -1;
    }
    wsh_jwt_key_t *k = next_key(ks, kid, why);
    if (!k)
        return -1;
    k->alg = WSH_JWT_HS256;
    k->secret = wsh_xmalloc(len);
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    ks->cnt++;
    return 0;
}

/* The algorithm a key is for, or 0 when wshub does not use such keys. */
static wsh_jwt_alg_t alg_of_pkey(EVP_PKEY *pkey, const char **why)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            *why = "RSA key shorter than 2048 bits";
            return 0;
        }
        return WSH_JWT_RS256;
    }
    if (id == EVP_PKEY_EC) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1 ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
            *why = "EC key is not on P-256 (ES256 needs P-256)";
            return 0;
        }
        return WSH_JWT_ES256;
    }
    *why = "key is neither RSA nor EC P-256";
    return 0;
}

int wsh_jwt_keyset_add_pem(wsh_jwt_keyset_t *ks, const char *kid, const char *pem, size_t len, bool is_private,
                           const char **why)
{
    if (len > INT32_MAX) {
        *why = "key file too large";
        return -1;
    }
    wsh_jwt_key_t *k = next_key(ks, kid, why);
    if (!k)
        return -1;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? (is_private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                                       : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL))
                         : NULL;
    BIO_free(bio);
    if (!pkey) {
        *why = is_private ? "not a PEM private key" : "not a PEM public key";
        return -1;
    }
    wsh_jwt_alg_t alg = alg_of_pkey(pkey, why);
    if (!alg) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    k->alg = alg;
    k->pkey = pkey;
    ks->cnt++;
    return 0;
}

int wsh_jwt_keyset_add_pem_file(wsh_jwt_keyset_t *ks, const char *path, bool is_private, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = "cannot open key file";
        return -1;
    }
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf, f);
    bool too_big = n == sizeof buf;
    fclose(f);
    if (too_big) {
        *why = "key file too large (at most 16 KiB)";
        return -1;
    }
    /* The kid is the file's base name without its extension. */
    char kid[WSH_JWT_ID_MAX + 1];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        blen = (size_t)(dot - base);
    if (blen > WSH_JWT_ID_MAX)
        blen = WSH_JWT_ID_MAX;
    memcpy(kid, base, blen);
    kid[blen] = '\0';
    int rc = wsh_jwt_keyset_add_pem(ks, kid, buf, n, is_private, why);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

void wsh_jwt_keyset_dispose(wsh_jwt_keyset_t *ks)
{
    for (size_t i = 0; i < ks->cnt; i++) {
        wsh_jwt_key_t *k = &ks->keys[i];
        if (k->secret) {
            OPENSSL_cleanse(k->secret, k->secret_len);
            free(k->secret);
        }
        EVP_PKEY_free(k->pkey);
    }
    ks->cnt = 0;
}

/* ---- signatures ---- */

static bool verify_hs256(const wsh_jwt_key_t *k, const char *input, size_t len, const uint8_t *sig, size_t sig_len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const uint8_t *)input, len, mac, &mac_len))
        return false;
    /* Constant time, so the comparison leaks nothing about the right MAC. */
    return sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
}

static bool verify_pkey(EVP_PKEY *pkey, const char *input, size_t len, const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *)input, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* RFC 7518 §3.4: an ES256 signature is R and S as 32-byte big-endian
 * integers, concatenated; OpenSSL wants the DER ECDSA-Sig-Value. */
static bool verify_es256(const wsh_jwt_key_t *k, const char *input, size_t len, const uint8_t *sig, size_t sig_len)
{
    if (sig_len != 64)
        return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
    }
    uint8_t *der = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    bool ok = der_len > 0 && verify_pkey(k->pkey, input, len, der, (size_t)der_len);
    OPENSSL_free(der);
    return ok;
}

static bool verify_with(const wsh_jwt_key_t *k, const char *input, size_t len, const uint8_t *sig, size_t sig_len)
{
    switch (k->alg) {
    case WSH_JWT_HS256: return verify_hs256(k, input, len, sig, sig_len);
    case WSH_JWT_RS256:
        return sig_len == (size_t)EVP_PKEY_get_size(k->pkey) && verify_pkey(k->pkey, input, len, sig, sig_len);
    case WSH_JWT_ES256: return verify_es256(k, input, len, sig, sig_len);
    }
    return false;
}

/* ---- header and claims ---- */

static int fail(const char **why, const char *reason)
{
    *why = reason;
    return WSH_EUNAUTH;
}

/* Decodes one base64url part and, for JSON parts, requires UTF-8 (the JSON
 * tokenizer's precondition). */
static long decode_part(const char *s, size_t len, uint8_t *out, size_t cap, bool is_json)
{
    long n = wsh_b64url_decode(s, len, out, cap);
    if (n < 0 || (is_json && !wsh_utf8_is_valid(out, (size_t)n)))
        return -1;
    return n;
}

/* A decoded string member without NULs, of 1..cap-1 bytes; -1 otherwise. */
static long get_string(const char *s, const wsh_json_tok_t *t, char *out, size_t cap)
{
    if (t->type != WSH_JSON_STRING)
        return -1;
    long n = wsh_json_str_decode(s, t, out, cap);
    if (n <= 0 || memchr(out, '\0', (size_t)n))
        return -1;
    return n;
}

/* RFC 7519 §2 NumericDate: non-negative seconds, fractions allowed (and
 * dropped); exponents and absurd values are refused. */
static int get_numeric_date(const char *s, const wsh_json_tok_t *t, uint64_t *out)
{
    if (t->type != WSH_JSON_NUMBER)
        return -1;
    uint64_t v = 0;
    uint32_t i = t->start;
    if (s[i] == '-')
        return -1;
    for (; i < t->end && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > 100000000000000ull)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    for (; i < t->end; i++)
        if (s[i] == 'e' || s[i] == 'E')
            return -1;
    *out = v;
    return 0;
}

/* Checks a pattern array; adds its count and string bytes to the totals. */
static int measure_patterns(const char *s, const wsh_json_tok_t *toks, int arr, uint32_t *cnt, size_t *bytes)
{
    const wsh_json_tok_t *a = &toks[arr];
    if (a->type != WSH_JSON_ARRAY || a->size > WSH_GRANT_MAX)
        return -1;
    uint32_t i = (uint32_t)arr + 1;
    for (uint32_t e = 0; e < a->size; e++) {
        char p[WSH_GRANT_PATTERN_MAX + 1];
        long n = get_string(s, &toks[i], p, sizeof p);
        if (n < 0 || !wsh_grant_pattern_is_valid(p, (size_t)n))
            return -1;
        *bytes += (size_t)n + 1;
        i = toks[i].next;
    }
    *cnt = a->size;
    return 0;
}

static char *copy_patterns(const char *s, const wsh_json_tok_t *toks, int arr, char **dst, char *heap)
{
    if (arr < 0)
        return heap;
    uint32_t i = (uint32_t)arr + 1;
    for (uint32_t e = 0; e < toks[arr].size; e++) {
        long n = wsh_json_str_decode(s, &toks[i], heap, WSH_GRANT_PATTERN_MAX + 1);
        dst[e] = heap;
        heap += n + 1;
        i = toks[i].next;
    }
    return heap;
}

static bool audience_matches(const char *s, const wsh_json_tok_t *toks, int aud, const char *want)
{
    char v[WSH_JWT_ID_MAX + 1];
    if (toks[aud].type == WSH_JSON_STRING)
        return get_string(s, &toks[aud], v, sizeof v) > 0 && strcmp(v, want) == 0;
    if (toks[aud].type != WSH_JSON_ARRAY)
        return false;
    uint32_t i = (uint32_t)aud + 1;
    for (uint32_t e = 0; e < toks[aud].size; e++) {
        if (get_string(s, &toks[i], v, sizeof v) > 0 && strcmp(v, want) == 0)
            return true;
        i = toks[i].next;
    }
    return false;
}

static int read_claims(const wsh_jwt_policy_t *p, const char *s, size_t len, uint64_t now_s, wsh_identity_t **out,
                       const char **why)
{
    wsh_json_tok_t toks[CLAIM_TOKENS];
    int n = wsh_json_parse(s, len, toks, CLAIM_TOKENS, 2, JSON_MAX_DEPTH, NULL);
    if (n < 0 || toks[0].type != WSH_JSON_OBJECT)
        return fail(why, "malformed claims");
    char user[WSH_JWT_ID_MAX + 1];
    int t = wsh_json_obj_get(s, toks, 0, "sub");
    long user_len = t >= 0 ? get_string(s, &toks[t], user, sizeof user) : -1;
    if (user_len < 0)
        return fail(why, "missing or invalid sub");
    uint64_t exp = 0, nbf = 0;
    if ((t = wsh_json_obj_get(s, toks, 0, "exp")) >= 0) {
        if (get_numeric_date(s, &toks[t], &exp) < 0)
            return fail(why, "invalid exp");
        /* RFC 7519 §4.1.4: the current time must be before exp. */
        if (now_s >= exp + p->leeway_s)
            return fail(why, "token expired");
    }
    if ((t = wsh_json_obj_get(s, toks, 0, "nbf")) >= 0) {
        if (get_numeric_date(s, &toks[t], &nbf) < 0)
            return fail(why, "invalid nbf");
        if (now_s + p->leeway_s < nbf)
            return fail(why, "token not yet valid");
    }
    if (p->audience) {
        t = wsh_json_obj_get(s, toks, 0, "aud");
        if (t < 0 || !audience_matches(s, toks, t, p->audience))
            return fail(why, "wrong audience");
    }
    if (p->issuer) {
        char iss[WSH_JWT_ID_MAX + 1];
        t = wsh_json_obj_get(s, toks, 0, "iss");
        if (t < 0 || get_string(s, &toks[t], iss, sizeof iss) < 0 || strcmp(iss, p->issuer) != 0)
            return fail(why, "wrong issuer");
    }
    int subs = wsh_json_obj_get(s, toks, 0, "subs");
    int pubs = wsh_json_obj_get(s, toks, 0, "pubs");
    uint32_t sub_cnt = 0, pub_cnt = 0;
    size_t bytes = (size_t)user_len + 1;
    if ((subs >= 0 && measure_patterns(s, toks, subs, &sub_cnt, &bytes) < 0) ||
        (pubs >= 0 && measure_patterns(s, toks, pubs, &pub_cnt, &bytes) < 0))
        return fail(why, "invalid subs or pubs (want arrays of channel patterns)");
    /* One block: the struct, both pointer arrays, then the strings. */
    size_t ptrs = (size_t)(sub_cnt + pub_cnt) * sizeof(char *);
    wsh_identity_t *id = wsh_xmalloc(sizeof *id + ptrs + bytes);
    char **arr = (char **)(id + 1);
    char *heap = (char *)arr + ptrs;
    id->subs = arr;
    id->pubs = arr + sub_cnt;
    id->sub_cnt = sub_cnt;
    id->pub_cnt = pub_cnt;
    id->exp = exp;
    id->user = heap;
    memcpy(heap, user, (size_t)user_len + 1);
    heap += user_len + 1;
    heap = copy_patterns(s, toks, subs, id->subs, heap);
    copy_patterns(s, toks, pubs, id->pubs, heap);
    *out = id;
    return 0;
}

int wsh_jwt_verify(const wsh_jwt_policy_t *p, const char *token, size_t len, uint64_t now_s, wsh_identity_t **out,
                   const char **why)
{
    *out = NULL;
    if (len > WSH_JWT_MAX_LEN)
        return fail(why, "token too large");
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return fail(why, "malformed token (want three base64url parts)");
    uint8_t header[PART_MAX];
    long hlen = decode_part(token, (size_t)(d1 - token), header, sizeof header, true);
    wsh_json_tok_t ht[HEADER_TOKENS];
    if (hlen <= 0 || wsh_json_parse((const char *)header, (size_t)hlen, ht, HEADER_TOKENS, 1, JSON_MAX_DEPTH,
                                    NULL) < 0 ||
        ht[0].type != WSH_JSON_OBJECT)
        return fail(why, "malformed token header");
    const char *hs = (const char *)header;
    int t = wsh_json_obj_get(hs, ht, 0, "alg");
    wsh_jwt_alg_t alg = 0;
    for (int a = WSH_JWT_HS256; t >= 0 && a <= WSH_JWT_ES256; a++)
        if (wsh_json_str_eq(hs, &ht[t], wsh_jwt_alg_name((wsh_jwt_alg_t)a)))
            alg = (wsh_jwt_alg_t)a;
    /* RFC 8725 §3.1: a fixed list of algorithms; "none" is never on it. */
    if (!alg)
        return fail(why, "unsupported algorithm");
    /* RFC 7515 §4.1.11: extensions we do not understand must be refused. */
    if (wsh_json_obj_get(hs, ht, 0, "crit") >= 0)
        return fail(why, "unsupported critical header");
    char kid[WSH_JWT_ID_MAX + 1] = "";
    if ((t = wsh_json_obj_get(hs, ht, 0, "kid")) >= 0 && get_string(hs, &ht[t], kid, sizeof kid) < 0)
        return fail(why, "malformed kid");
    uint8_t sig[SIG_MAX];
    long sig_len = decode_part(d2 + 1, len - (size_t)(d2 + 1 - token), sig, sizeof sig, false);
    if (sig_len <= 0)
        return fail(why, "malformed signature");
    /* Rotation: the keys named by kid when any is, else every key of the
     * token's algorithm; a key of another algorithm is never tried, which is
     * what stops RS256 public keys being used as HMAC secrets. */
    const wsh_jwt_keyset_t *ks = p->keys;
    bool kid_known = false, have_alg = false, ok = false;
    for (size_t i = 0; kid[0] && i < ks->cnt; i++)
        kid_known |= ks->keys[i].alg == alg && strcmp(ks->keys[i].kid, kid) == 0;
    for (size_t i = 0; i < ks->cnt && !ok; i++) {
        const wsh_jwt_key_t *k = &ks->keys[i];
        if (k->alg != alg || (kid_known && strcmp(k->kid, kid) != 0))
            continue;
        have_alg = true;
        ok = verify_with(k, token, (size_t)(d2 - token), sig, (size_t)sig_len);
    }
    if (!have_alg)
        return fail(why, "no key for the token's algorithm");
    if (!ok)
        return fail(why, "bad signature");
    uint8_t payload[PART_MAX];
    long plen = decode_part(d1 + 1, (size_t)(d2 - d1 - 1), payload, sizeof payload, true);
    if (plen <= 0)
        return fail(why, "malformed claims");
    return read_claims(p, (const char *)payload, (size_t)plen, now_s, out, why);
}

/* ---- signing (wshub token) ---- */

static long sign_pkey(const wsh_jwt_key_t *k, const char *input, size_t len, uint8_t *sig, size_t cap)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[SIG_MAX];
    size_t der_len = sizeof der;
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestSign(ctx, der, &der_len, (const uint8_t *)input, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    if (k->alg == WSH_JWT_RS256) {
        if (der_len > cap)
            return -1;
        memcpy(sig, der, der_len);
        return (long)der_len;
    }
    /* ES256: DER back to the fixed-width R||S of RFC 7518 §3.4. */
    const uint8_t *pp = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &pp, (long)der_len);
    if (!es)
        return -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    ok = cap >= 64 && BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    return ok ? 64 : -1;
}

char *wsh_jwt_sign(const wsh_jwt_key_t *key, const char *payload, size_t payload_len, const char **why)
{
    char header[WSH_JWT_ID_MAX + 64];
    int hn = snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s}", wsh_jwt_alg_name(key->alg),
                      key->kid[0] ? ",\"kid\":\"" : "", key->kid, key->kid[0] ? "\"" : "");
    size_t cap = WSH_B64URL_ENCODED_LEN((size_t)hn) + WSH_B64URL_ENCODED_LEN(payload_len) +
                 WSH_B64URL_ENCODED_LEN(SIG_MAX) + 3;
    char *out = wsh_xmalloc(cap);
    size_t o = wsh_b64url_encode((const uint8_t *)header, (size_t)hn, out);
    out[o++] = '.';
    o += wsh_b64url_encode((const uint8_t *)payload, payload_len, out + o);
    uint8_t sig[SIG_MAX];
    long sig_len;
    if (key->alg == WSH_JWT_HS256) {
        unsigned n = 0;
        sig_len = HMAC(EVP_sha256(), key->secret, (int)key->secret_len, (const uint8_t *)out, o, sig, &n) ? (long)n
                                                                                                        : -1;
    } else {
        sig_len = sign_pkey(key, out, o, sig, sizeof sig);
    }
    if (sig_len < 0) {
        *why = "signing failed (is the key a private key?)";
        free(out);
        return NULL;
    }
    out[o++] = '.';
    o += wsh_b64url_encode(sig, (size_t)sig_len, out + o);
    out[o] = '\0';
    return out;
}
