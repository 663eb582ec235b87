/* Incremental UTF-8 validator (RFC 3629) built as a shift-based DFA with an
 * ASCII fast path; it validates, it does not decode code points. */
#include "ws/utf8.h"

#include <string.h>

/* Design. Every byte falls into one of 12 classes (below). The automaton has 9
 * states; each state is stored as a bit offset (a multiple of 6) so that the
 * transition for one byte class is a single 64-bit word holding, for every
 * state s, the next state in bits [s, s+6). One step is then
 *     st = (class_row[cls[byte]] >> st) & 63
 * whose dependency chain is a shift and a mask: the table loads do not depend
 * on the state, so they overlap with the previous step.
 *
 * States and the bytes they accept (RFC 3629 §4, "UTF8-octets" grammar):
 *   ACC  between characters
 *   REJ  invalid; absorbing
 *   N1   need 1 more continuation byte (80..BF)
 *   N2   need 2 more (80..BF, then N1)
 *   N3   need 3 more (80..BF, then N2)
 *   E0   after E0: next must be A0..BF (else the 3-byte form is overlong)
 *   ED   after ED: next must be 80..9F (else a UTF-16 surrogate D800..DFFF)
 *   F0   after F0: next must be 90..BF (else the 4-byte form is overlong)
 *   F4   after F4: next must be 80..8F (else above U+10FFFF) */
#define ST_ACC 0u
#define ST_REJ 6u
#define ST_N1 12u
#define ST_N2 18u
#define ST_N3 24u
#define ST_E0 30u
#define ST_ED 36u
#define ST_F0 42u
#define ST_F4 48u

/* Byte classes. */
enum {
    C_ASCII = 0, /* 00..7F */
    C_80,        /* 80..8F continuation */
    C_90,        /* 90..9F continuation */
    C_A0,        /* A0..BF continuation */
    C_BAD,       /* C0, C1 (overlong 2-byte leads), F5..FF (beyond U+10FFFF or not UTF-8) */
    C_L2,        /* C2..DF lead of a 2-byte sequence */
    C_E0,        /* E0 */
    C_L3,        /* E1..EC, EE, EF lead of a 3-byte sequence */
    C_ED,        /* ED */
    C_F0,        /* F0 */
    C_L4,        /* F1..F3 lead of a 4-byte sequence */
    C_F4,        /* F4 */
};

static const uint8_t cls[256] = {
    /* 00..7F */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 80..8F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 90..9F */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* A0..BF */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /* C0..DF: C0 and C1 could only encode U+0000..U+007F (overlong) */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* E0..EF */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7,
    /* F0..FF: F5 and above lead to code points over U+10FFFF or are not UTF-8 */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

/* TO(from, to): the bits of a class row that send state `from` to `to`. */
#define TO(from, to) ((uint64_t)(to) << (from))
/* A row where every state goes to REJ (REJ itself included: it is absorbing). */
#define ALL_REJ                                                                                    \
    (TO(ST_ACC, ST_REJ) | TO(ST_REJ, ST_REJ) | TO(ST_N1, ST_REJ) | TO(ST_N2, ST_REJ) |             \
     TO(ST_N3, ST_REJ) | TO(ST_E0, ST_REJ) | TO(ST_ED, ST_REJ) | TO(ST_F0, ST_REJ) |               \
     TO(ST_F4, ST_REJ))
/* Overrides one transition of a row. */
#define SET(row, from, to) (((row) & ~TO(from, 63u)) | TO(from, to))
/* A continuation byte advances every "need more" state whose range admits it. */
#define CONT_COMMON(row) SET(SET(SET(row, ST_N1, ST_ACC), ST_N2, ST_N1), ST_N3, ST_N2)

static const uint64_t class_row[12] = {
    [C_ASCII] = SET(ALL_REJ, ST_ACC, ST_ACC),
    [C_80] = SET(SET(CONT_COMMON(ALL_REJ), ST_ED, ST_N1), ST_F4, ST_N2),
    [C_90] = SET(SET(CONT_COMMON(ALL_REJ), ST_ED, ST_N1), ST_F0, ST_N2),
    [C_A0] = SET(SET(CONT_COMMON(ALL_REJ), ST_E0, ST_N1), ST_F0, ST_N2),
    [C_BAD] = ALL_REJ,
    [C_L2] = SET(ALL_REJ, ST_ACC, ST_N1),
    [C_E0] = SET(ALL_REJ, ST_ACC, ST_E0),
    [C_L3] = SET(ALL_REJ, ST_ACC, ST_N2),
    [C_ED] = SET(ALL_REJ, ST_ACC, ST_ED),
    [C_F0] = SET(ALL_REJ, ST_ACC, ST_F0),
    [C_L4] = SET(ALL_REJ, ST_ACC, ST_N3),
    [C_F4] = SET(ALL_REJ, ST_ACC, ST_F4),
};

#define HIGH_BITS 0x8080808080808080ull

static inline uint32_t step(uint32_t st, uint8_t byte)
{
    return (uint32_t)(class_row[cls[byte]] >> st) & 63u;
}

/* Public states are ACCEPT (0), REJECT (1) and, mid-sequence, the internal
 * offsets 12..48; only REJECT differs between the two encodings. */
size_t wsh_utf8_validate(uint32_t *state, const uint8_t *data, size_t len)
{
    uint32_t st = *state;
    if (st == WSH_UTF8_REJECT)
        return 0;
    size_t i = 0;
    while (i < len) {
        if (st == ST_ACC) {
            /* ASCII fast path: between characters, whole words of bytes below
             * 0x80 cannot fail and leave the state at ACC. memcpy loads are
             * alignment- and aliasing-safe and compile to plain loads. */
            while (len - i >= 16) {
                uint64_t a, b;
                memcpy(&a, data + i, 8);
                memcpy(&b, data + i + 8, 8);
                if ((a | b) & HIGH_BITS)
                    break;
                i += 16;
            }
            if (len - i >= 8) {
                uint64_t a;
                memcpy(&a, data + i, 8);
                if (!(a & HIGH_BITS))
                    i += 8;
            }
            if (i == len)
                break;
        }
        /* Run the automaton over a block without a branch per byte: REJ is
         * absorbing, so one check after the block tells whether any byte
         * failed, and only then is the block replayed to find which. */
        size_t end = len - i > 16 ? i + 16 : len;
        uint32_t st0 = st;
        size_t i0 = i;
        for (; i < end; i++)
            st = step(st, data[i]);
        if (st == ST_REJ) {
            st = st0;
            for (i = i0; (st = step(st, data[i])) != ST_REJ; i++)
                ;
            *state = WSH_UTF8_REJECT;
            return i;
        }
    }
    *state = st;
    return len;
}

bool wsh_utf8_is_valid(const uint8_t *data, size_t len)
{
    uint32_t st = WSH_UTF8_ACCEPT;
    return wsh_utf8_validate(&st, data, len) == len && st == WSH_UTF8_ACCEPT;
}
