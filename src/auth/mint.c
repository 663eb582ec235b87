/* The token subcommand: claims from flags, signed with a secret or a key. */
#include "auth/mint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/grants.h"
#include "auth/jwt.h"
#include "core/buf.h"
#include "core/clock.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: wshub token (--secret SECRET | --key FILE) --user USER [options]\n\n"
                 "Prints a signed JWT for wshub (docs/security.md).\n\n"
                 "options:\n"
                 "  --secret SECRET   HS256 secret (at least 32 bytes)\n"
                 "  --key FILE        PEM private key: RSA → RS256, EC P-256 → ES256\n"
                 "  --kid KID         key id to put in the header\n"
                 "  --user USER       the sub claim (required)\n"
                 "  --sub PATTERN     channel pattern the token may subscribe to, repeatable\n"
                 "  --pub PATTERN     channel pattern the token may publish to, repeatable\n"
                 "  --ttl DURATION    lifetime: exp = now + DURATION (default 1h; 0 = no exp)\n"
                 "  --aud AUD         the aud claim\n"
                 "  --iss ISS         the iss claim\n");
}

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "wshub token: %s \"%s\"\n", what, value);
    return 2;
}

/* Appends s as a JSON string. */
static int append_str(wsh_buf_t *b, const char *s)
{
    int rc = wsh_buf_append(b, "\"", 1);
    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = wsh_buf_appendf(b, "\\%c", c);
        else if (c < 0x20)
            rc = wsh_buf_appendf(b, "\\u%04x", c);
        else
            rc = wsh_buf_append(b, s, 1);
    }
    return rc ? rc : wsh_buf_append(b, "\"", 1);
}

static int append_list(wsh_buf_t *b, const char *name, char **items, size_t cnt)
{
    if (!cnt)
        return 0;
    int rc = wsh_buf_appendf(b, ",\"%s\":[", name);
    for (size_t i = 0; !rc && i < cnt; i++) {
        rc = i ? wsh_buf_append(b, ",", 1) : 0;
        rc = rc ? rc : append_str(b, items[i]);
    }
    return rc ? rc : wsh_buf_append(b, "]", 1);
}

int wsh_token_main(int argc, char **argv, wsh_ns_duration_fn parse_duration)
{
    const char *secret = NULL, *key_file = NULL, *kid = NULL, *user = NULL, *aud = NULL, *iss = NULL;
    char *subs[WSH_GRANT_MAX], *pubs[WSH_GRANT_MAX];
    size_t sub_cnt = 0, pub_cnt = 0;
    uint64_t ttl_ms = 3600000;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc)
            return bad("missing value or unknown argument", a);
        char *v = argv[++i];
        if (strcmp(a, "--secret") == 0) {
            secret = v;
        } else if (strcmp(a, "--key") == 0) {
            key_file = v;
        } else if (strcmp(a, "--kid") == 0) {
            kid = v;
        } else if (strcmp(a, "--user") == 0) {
            user = v;
        } else if (strcmp(a, "--aud") == 0) {
            aud = v;
        } else if (strcmp(a, "--iss") == 0) {
            iss = v;
        } else if (strcmp(a, "--ttl") == 0) {
            if (parse_duration(v, &ttl_ms) < 0)
                return bad("--ttl: invalid duration", v);
        } else if (strcmp(a, "--sub") == 0 || strcmp(a, "--pub") == 0) {
            bool is_sub = a[2] == 's';
            size_t *cnt = is_sub ? &sub_cnt : &pub_cnt;
            if (!wsh_grant_pattern_is_valid(v, strlen(v)))
                return bad("invalid channel pattern (want NAME, NAME* or *)", v);
            if (*cnt == WSH_GRANT_MAX)
                return bad("too many patterns, at most 64 of each", v);
            (is_sub ? subs : pubs)[(*cnt)++] = v;
        } else {
            return bad("unknown option", a);
        }
    }
    if (!user || !*user || strlen(user) > WSH_JWT_ID_MAX) {
        usage(stderr);
        return bad("--user: required, 1-256 bytes", user ? user : "");
    }
    if (!secret == !key_file) {
        usage(stderr);
        return bad("want exactly one of --secret and --key", "");
    }
    wsh_jwt_keyset_t ks = {0};
    const char *why = NULL;
    int rc = secret ? wsh_jwt_keyset_add_secret(&ks, kid, (const uint8_t *)secret, strlen(secret), &why)
                    : wsh_jwt_keyset_add_pem_file(&ks, key_file, true, &why);
    if (rc < 0)
        return bad(why, secret ? "(hidden)" : key_file);
    if (kid && strlen(kid) > WSH_JWT_ID_MAX) {
        wsh_jwt_keyset_dispose(&ks);
        return bad("--kid: at most 256 bytes", kid);
    }
    if (key_file && kid) /* the file name is the default kid; --kid replaces it */
        strcpy(ks.keys[0].kid, kid);
    uint64_t now = wsh_clock_wall_ms() / 1000;
    wsh_buf_t b;
    wsh_buf_init(&b);
    rc = wsh_buf_append(&b, "{\"sub\":", 7);
    rc = rc ? rc : append_str(&b, user);
    rc = rc ? rc : wsh_buf_appendf(&b, ",\"iat\":%llu", (unsigned long long)now);
    if (!rc && ttl_ms)
        rc = wsh_buf_appendf(&b, ",\"exp\":%llu", (unsigned long long)(now + (ttl_ms + 999) / 1000));
    if (!rc && aud) {
        rc = wsh_buf_append(&b, ",\"aud\":", 7);
        rc = rc ? rc : append_str(&b, aud);
    }
    if (!rc && iss) {
        rc = wsh_buf_append(&b, ",\"iss\":", 7);
        rc = rc ? rc : append_str(&b, iss);
    }
    rc = rc ? rc : append_list(&b, "subs", subs, sub_cnt);
    rc = rc ? rc : append_list(&b, "pubs", pubs, pub_cnt);
    rc = rc ? rc : wsh_buf_append(&b, "}", 1);
    char *tok = rc ? NULL : wsh_jwt_sign(&ks.keys[0], (const char *)b.data, b.len, &why);
    wsh_buf_dispose(&b);
    wsh_jwt_keyset_dispose(&ks);
    if (!tok)
        return bad(why ? why : "out of memory", key_file ? key_file : "(hidden)");
    printf("%s\n", tok);
    free(tok);
    return 0;
}
