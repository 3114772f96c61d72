/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat wire format v1 (pure: no I/O, no globals) and the cluster key file.
 * docs/heartbeat.md is the reference; in short, all integers big-endian:
 *
 *   off  size  field
 *     0     4  magic "MLBH"
 *     4     1  version (1)
 *     5     1  flags: bit0 LEAVING, bit1 OWNED_TRUNCATED, the others 0
 *     6     2  name length N (1..253)
 *     8     8  incarnation
 *    16     8  sequence
 *    24     2  owned count K
 *    26     N  node name (printable ASCII, no '/', no space, no NUL)
 *     .     .  K entries: family (u8, 4 or 6) + 4 or 16 address bytes
 *     .    32  tag: crypto_auth (HMAC-SHA-512-256) with the cluster key over all bytes above
 *
 * Invariants: a decoded Heartbeat has passed the tag check before any other field was
 * looked at (hb_names() peeks at the name only to decide whether to check the tag); its
 * owned list is sorted and free of duplicates; IPv4 addresses are mapped (addr.h), and a
 * family-6 entry holding a mapped address is malformed, so each address has exactly one
 * encoding.
 */
#pragma once

#include <sys/types.h>

#include "addr.h"

#define HB_MAGIC "MLBH"
#define HB_VERSION 1
#define HB_FLAG_LEAVING 0x01u
#define HB_FLAG_OWNED_TRUNCATED 0x02u
#define HB_HEADER_SIZE 26
#define HB_TAG_SIZE 32 /* crypto_auth_BYTES */
#define HB_KEY_SIZE 32 /* crypto_auth_KEYBYTES */
#define HB_NAME_MAX 253
#define HB_MAX_PACKET 65000
#define HB_MIN_PACKET (HB_HEADER_SIZE + HB_TAG_SIZE)
#define HB_KEY_B64_LEN 44 /* 32 bytes in padded base64 */

/* Why a received heartbeat was dropped; every reason is counted by peers.c. */
typedef enum HbDrop {
        HB_DROP_TRUNCATED,    /* shorter than header + tag */
        HB_DROP_OVERSIZE,     /* longer than HB_MAX_PACKET */
        HB_DROP_FORGED,       /* tag does not verify with our key */
        HB_DROP_VERSION,      /* authentic, but bad magic or unknown version */
        HB_DROP_MALFORMED,    /* authentic, but inconsistent contents */
        HB_DROP_REPLAY,       /* (incarnation, sequence) not newer than the last accepted */
        HB_DROP_UNKNOWN_PEER, /* name not a member, or source address not the member's */
        HB_DROP_SELF,         /* carries our own name */
        _HB_DROP_MAX,
} HbDrop;

/* "truncated", "oversize", "forged", "version", "malformed", "replay", "unknown_peer",
 * "self"; NULL for anything else. Stable: used in logs, metrics and mlbctl. */
const char *hb_drop_to_string(HbDrop d);

typedef struct Heartbeat {
        char name[HB_NAME_MAX + 1];
        uint64_t incarnation;
        uint64_t sequence;
        bool leaving;
        bool owned_truncated;
        u128 *owned; /* sorted, unique; malloc'ed (NULL when n_owned == 0) */
        size_t n_owned;
} Heartbeat;

/* Frees hb->owned and zeroes *hb. */
void heartbeat_done(Heartbeat *hb);

/* Whether s is acceptable as a node name on the wire (1..253 bytes, printable ASCII,
 * no '/', no space). */
bool hb_name_valid(const char *s);

/*
 * Writes a heartbeat into buf (at least HB_MAX_PACKET bytes). owned is sorted; as many
 * entries as fit below HB_MAX_PACKET are written, in order, and OWNED_TRUNCATED is set
 * when not all fit. Returns the packet length (> 0), or -EINVAL for a bad name.
 * If ret_n_written is not NULL it receives the number of entries written.
 */
ssize_t hb_encode(uint8_t *buf, const uint8_t key[static HB_KEY_SIZE], const char *name,
                  uint64_t incarnation, uint64_t sequence, bool leaving, const u128 *owned,
                  size_t n_owned, size_t *ret_n_written);

/* Size hb_encode() produces for a name of name_len bytes and the given address counts
 * (before truncation). */
static inline size_t hb_packet_size(size_t name_len, size_t n_v4, size_t n_v6)
{
        return HB_HEADER_SIZE + name_len + 5 * n_v4 + 17 * n_v6 + HB_TAG_SIZE;
}

enum {
        HB_OK = 0,      /* *ret filled */
        HB_DROPPED = 1, /* *ret_drop says why; *ret untouched */
};

/*
 * Checks, in this order: length (TRUNCATED, OVERSIZE), tag (FORGED; nothing else is read
 * before it verifies), magic and version (VERSION), contents (MALFORMED). Returns HB_OK,
 * HB_DROPPED, or -ENOMEM.
 */
int hb_decode(const uint8_t *buf, size_t len, const uint8_t key[static HB_KEY_SIZE], Heartbeat *ret,
              HbDrop *ret_drop);

/* Whether the (not yet authenticated) packet carries `name` in its name field. Only a
 * filter deciding whether the tag is worth computing; never trust the answer. */
bool hb_names(const uint8_t *buf, size_t len, const char *name);

/* The replay rule: (inc, seq) is accepted only if strictly newer than the last accepted
 * pair, comparing the incarnation first. */
static inline bool hb_is_newer(uint64_t inc, uint64_t seq, uint64_t last_inc, uint64_t last_seq)
{
        return inc > last_inc || (inc == last_inc && seq > last_seq);
}

/*
 * Key file: one line holding exactly 32 bytes in base64 (original alphabet, padded, so 44
 * characters), optionally followed by one newline; nothing else.
 *
 * hb_key_parse() checks text already read; on error returns -EINVAL and sets *error to
 * "FILE:LINE:COL: problem" (malloc'ed).
 *
 * hb_key_load() reads path. Returns 0, or HB_KEY_LOOSE_MODE (positive) when the key was
 * loaded but the file is readable or writable by group or others (then *error holds the
 * warning text to log), or -errno with *error set ("PATH: strerror" for a missing or
 * unreadable file, or the parse error). *error is NULL when 0 is returned.
 */
enum {
        HB_KEY_LOOSE_MODE = 1,
};
int hb_key_parse(const char *file, const char *buf, size_t len, uint8_t key[static HB_KEY_SIZE],
                 char **error);
int hb_key_load(const char *path, uint8_t key[static HB_KEY_SIZE], char **error);

/* Creates path (O_EXCL, mode 0600) holding a new random key in the format above, and
 * fsyncs it. An existing file is never overwritten (-EEXIST). Returns 0 or -errno with
 * *error set (malloc'ed). */
int hb_key_generate(const char *path, char **error);
