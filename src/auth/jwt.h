/* JSON Web Tokens as wshub accepts them: compact JWS (RFC 7515) signed with
 * HS256, RS256 or ES256 (RFC 7518 §3), claims per RFC 7519, verified against
 * a set of keys so keys can rotate. Produces the identity a connection
 * carries. Not the transport of tokens (routes.c, hub/access.c) and not the
 * permission decisions. */
#ifndef WSH_AUTH_JWT_H
#define WSH_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in characters (the whole compact serialization). */
#define WSH_JWT_MAX_LEN 4096
/* Keys held at once (rotation needs two or three; 16 is generous). */
#define WSH_JWT_MAX_KEYS 16
/* Longest `kid`, `sub`, `aud` or `iss` value accepted. */
#define WSH_JWT_ID_MAX 256
/* Shortest HS256 secret: RFC 7518 §3.2 wants at least the hash size. */
#define WSH_JWT_SECRET_MIN 32

/* The accepted algorithms; everything else, `none` first, is refused. */
typedef enum { WSH_JWT_HS256 = 1, WSH_JWT_RS256 = 2, WSH_JWT_ES256 = 3 } wsh_jwt_alg_t;

struct evp_pkey_st;

/* One key. HS256: secret (owned). RS256/ES256: pkey (owned; public for
 * verifying, private for minting). kid is "" when the key has none. */
typedef struct wsh_jwt_key {
    wsh_jwt_alg_t alg;
    char kid[WSH_JWT_ID_MAX + 1];
    uint8_t *secret;
    size_t secret_len;
    struct evp_pkey_st *pkey;
} wsh_jwt_key_t;

/* Caller-owned; zero-initialise, add keys, wsh_jwt_keyset_dispose. */
typedef struct wsh_jwt_keyset {
    wsh_jwt_key_t keys[WSH_JWT_MAX_KEYS];
    size_t cnt;
} wsh_jwt_keyset_t;

/* Adds an HS256 secret (copied; at least WSH_JWT_SECRET_MIN bytes) with an
 * optional kid (NULL or ""). 0, or -1 with *why. */
int wsh_jwt_keyset_add_secret(wsh_jwt_keyset_t *ks, const char *kid, const uint8_t *secret, size_t len,
                              const char **why);
/* Adds a PEM key from path: a public key (SubjectPublicKeyInfo) when
 * is_private is false, else a private key. The algorithm follows the key:
 * RSA of at least 2048 bits → RS256, EC P-256 → ES256; anything else is
 * refused. The kid is the file name without directory and extension
 * ("keys/2026-01.pem" → "2026-01"). 0, or -1 with *why. */
int wsh_jwt_keyset_add_pem_file(wsh_jwt_keyset_t *ks, const char *path, bool is_private, const char **why);
/* Same from PEM text in memory, with an explicit kid (NULL or ""). */
int wsh_jwt_keyset_add_pem(wsh_jwt_keyset_t *ks, const char *kid, const char *pem, size_t len, bool is_private,
                           const char **why);
void wsh_jwt_keyset_dispose(wsh_jwt_keyset_t *ks);

/* What a token must satisfy besides its signature. */
typedef struct wsh_jwt_policy {
    const wsh_jwt_keyset_t *keys;
    const char *audience;   /* NULL: `aud` is not checked */
    const char *issuer;     /* NULL: `iss` is not checked */
    uint64_t leeway_s;      /* clock skew allowed on exp and nbf */
} wsh_jwt_policy_t;

/* A verified token's identity. One allocation (free with free()): the
 * pattern arrays and strings live in the same block, so a connection holds
 * one pointer and subscriptions never copy grants. */
typedef struct wsh_identity {
    char *user;          /* `sub` */
    uint64_t exp;        /* `exp` in seconds since the Unix epoch; 0: none */
    char **subs;         /* patterns from "subs" (auth/grants.h) */
    char **pubs;         /* patterns from "pubs" */
    uint32_t sub_cnt;
    uint32_t pub_cnt;
} wsh_identity_t;

/* Verifies token[0..len) at time now_s (seconds since the Unix epoch):
 * shape (three base64url parts, at most WSH_JWT_MAX_LEN), header (alg one of
 * the three, no `crit`), signature with a key of that algorithm (the keys
 * whose kid equals the token's `kid` when any does, else every key of the
 * algorithm), then claims: `sub` a string, `exp`/`nbf` NumericDates checked
 * with leeway, `aud` (string or array) and `iss` when the policy names them,
 * "subs"/"pubs" arrays of valid patterns. Returns 0 and *out (caller frees),
 * or WSH_EUNAUTH with *why set to a short static reason. */
int wsh_jwt_verify(const wsh_jwt_policy_t *p, const char *token, size_t len, uint64_t now_s, wsh_identity_t **out,
                   const char **why);

/* Signs a token with key: header {"alg":...,"typ":"JWT"[,"kid":...]} and the
 * given payload JSON (not checked). Returns a malloc'd NUL-terminated token,
 * or NULL with *why (a key without private part, or a signing failure). */
char *wsh_jwt_sign(const wsh_jwt_key_t *key, const char *payload, size_t payload_len, const char **why);

/* "HS256", "RS256" or "ES256". */
const char *wsh_jwt_alg_name(wsh_jwt_alg_t alg);

#endif
