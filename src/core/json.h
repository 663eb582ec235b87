/* Strict RFC 8259 JSON validator and span tokenizer: it checks a whole
 * document and records where the top-level values lie, so a value such as a
 * publish's `data` can be forwarded byte for byte without rebuilding it. It
 * does not build a tree, decode numbers beyond integers, or allocate. The
 * input must already be valid UTF-8 (WebSocket text is; HTTP bodies are
 * checked first). */
#ifndef WSH_CORE_JSON_H
#define WSH_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    WSH_JSON_OBJECT = 1,
    WSH_JSON_ARRAY,
    WSH_JSON_STRING,
    WSH_JSON_NUMBER,
    WSH_JSON_TRUE,
    WSH_JSON_FALSE,
    WSH_JSON_NULL,
} wsh_json_type_t;

/* One recorded value. For strings start/end include the quotes. For objects
 * and arrays `size` is the member (pair) or element count; for an object the
 * recorded children alternate key, value. `next` is the index of the token
 * after this value's recorded subtree, so siblings can be walked. */
typedef struct wsh_json_tok {
    uint8_t type;
    bool has_escape;  /* string contains a backslash escape */
    uint32_t start, end;
    uint32_t size;
    uint32_t next;
} wsh_json_tok_t;

/* Validates s[0..len) as exactly one JSON value (whitespace around it
 * allowed) and records tokens for values at nesting depth <= record_depth
 * (0 = the root only, 1 = the root and its direct children, ...). Deeper
 * values are validated but not recorded, so any payload fits in a few tokens.
 * Nesting deeper than max_depth is refused.
 * Returns the number of tokens recorded (>= 1), or WSH_EBADREQ for invalid
 * JSON (with *err_pos, if non-NULL, set to the offending offset), or
 * WSH_ETOOBIG when more than cap tokens would be recorded or max_depth is
 * exceeded. */
int wsh_json_parse(const char *s, size_t len, wsh_json_tok_t *toks, size_t cap, unsigned record_depth,
                   unsigned max_depth, size_t *err_pos);

/* In the object at toks[obj], the value token index for key (compared after
 * unescaping), or -1. Needs the object's children recorded. */
int wsh_json_obj_get(const char *s, const wsh_json_tok_t *toks, int obj, const char *key);

/* True if string token t equals lit (after unescaping). */
bool wsh_json_str_eq(const char *s, const wsh_json_tok_t *t, const char *lit);

/* wsh_json_str_eq with the literal's length n given (lit may hold NULs), so
 * a caller comparing against a fixed table need not measure it each time. */
bool wsh_json_str_eq_n(const char *s, const wsh_json_tok_t *t, const char *lit, size_t n);

/* Decodes string token t into out (NUL-terminated, at most cap-1 bytes).
 * Returns the decoded length or -1 if it does not fit. */
long wsh_json_str_decode(const char *s, const wsh_json_tok_t *t, char *out, size_t cap);

/* Reads number token t as an unsigned integer (no sign, fraction or
 * exponent, <= UINT64_MAX). 0 or -1. */
int wsh_json_get_u64(const char *s, const wsh_json_tok_t *t, uint64_t *out);

#endif
