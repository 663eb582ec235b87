/* libFuzzer target for src/auth/jwt.c (and base64url, grants): verifies
 * each input as a token against an HS256 secret and an ES256 public key.
 * Inputs starting with "sign:" are HEADER\nPAYLOAD JSON texts that the
 * target signs with the HS256 secret first, so the fuzzer also reaches the
 * claims parser behind the signature check. Checks the identity's
 * invariants whenever a token is accepted. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/b64url.h"
#include "auth/grants.h"
#include "auth/jwt.h"
#include "core/err.h"

static const char SECRET[] = "fuzz-secret-fuzz-secret-fuzz-secret!";
static wsh_jwt_keyset_t keys;

static void init_keys(void)
{
    const char *why;
    if (wsh_jwt_keyset_add_secret(&keys, "hs", (const uint8_t *)SECRET, strlen(SECRET), &why) < 0)
        abort();
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, ec);
    char *pem;
    long n = BIO_get_mem_data(bio, &pem);
    if (wsh_jwt_keyset_add_pem(&keys, "es", pem, (size_t)n, false, &why) < 0)
        abort();
    BIO_free(bio);
    EVP_PKEY_free(ec);
}

static void check(const char *tok, size_t len)
{
    static const wsh_jwt_policy_t policies[] = {
        {&keys, NULL, NULL, 0},
        {&keys, "hub", "iss", 60},
    };
    for (size_t p = 0; p < 2; p++) {
        wsh_identity_t *id = (wsh_identity_t *)1;
        const char *why = NULL;
        int rc = wsh_jwt_verify(&policies[p], tok, len, 1800000000, &id, &why);
        if (rc != 0) {
            if (rc != WSH_EUNAUTH || id || !why)
                abort();
            continue;
        }
        if (!id || !id->user[0] || strlen(id->user) > WSH_JWT_ID_MAX)
            abort();
        for (uint32_t i = 0; i < id->sub_cnt; i++)
            if (!wsh_grant_pattern_is_valid(id->subs[i], strlen(id->subs[i])))
                abort();
        for (uint32_t i = 0; i < id->pub_cnt; i++)
            if (!wsh_grant_pattern_is_valid(id->pubs[i], strlen(id->pubs[i])))
                abort();
        free(id);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keys.cnt)
        init_keys();
    if (size > 5 && memcmp(data, "sign:", 5) == 0) {
        const uint8_t *h = data + 5, *nl = memchr(h, '\n', size - 5);
        if (!nl)
            return 0;
        size_t hlen = (size_t)(nl - h), plen = size - 5 - hlen - 1;
        char *tok = malloc(WSH_B64URL_ENCODED_LEN(hlen) + WSH_B64URL_ENCODED_LEN(plen) + 64);
        size_t o = wsh_b64url_encode(h, hlen, tok);
        tok[o++] = '.';
        o += wsh_b64url_encode(nl + 1, plen, tok + o);
        uint8_t mac[32];
        unsigned mac_len = 0;
        HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const uint8_t *)tok, o, mac, &mac_len);
        tok[o++] = '.';
        o += wsh_b64url_encode(mac, mac_len, tok + o);
        check(tok, o);
        free(tok);
        return 0;
    }
    check((const char *)data, size);
    /* The codec alone: decode must never write past cap. */
    uint8_t out[64];
    long n = wsh_b64url_decode((const char *)data, size, out, sizeof out);
    if (n > (long)sizeof out)
        abort();
    return 0;
}
