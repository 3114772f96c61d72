/* SPDX-License-Identifier: MIT */
/*
 * Rendezvous (highest-random-weight) ownership: owner(addr) = the eligible node with the
 * highest rdv_score(addr, node). No leader and no exchange: every mlbd that sees the same
 * eligible set computes the same owner, and removing a node moves only the addresses it
 * owned (each address's ranking of the other nodes does not change).
 *
 * The score is SipHash-2-4 (libsodium crypto_shorthash) keyed with RDV_KEY, a fixed public
 * constant: all nodes must agree on it without exchanging anything, and it is not a secret
 * (ownership is not a security boundary; heartbeats are authenticated elsewhere). Hashed
 * input, byte for byte, on every architecture:
 *     16 bytes  the address as a big-endian 128-bit integer (IPv4 as ::ffff:a.b.c.d)
 *     n bytes   the node name, without its terminating NUL (at most RDV_NAME_MAX bytes;
 *               a longer name is hashed by its first RDV_NAME_MAX bytes)
 * and the 8-byte SipHash output is read as a little-endian uint64 (SipHash's own output
 * convention). Changing the key, the layout or the byte order changes every owner in a
 * cluster: a mixed-version cluster would double-claim, so test-rendezvous pins two values.
 *
 * Order: a ranks before b if score(a) > score(b), or the scores are equal and a's name is
 * byte-wise smaller (strcmp); equal names keep input order (duplicate names are the
 * caller's bug). The order is total over distinct names, so the result never depends on
 * the order of the input arrays.
 *
 * Pure: no I/O, no globals. Only rdv_rank() allocates (a scratch array of scores), and it
 * still ranks correctly, only slower, if that allocation fails.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "addr.h"

/* SipHash-2-4 key, ASCII "mlbd-rendezvous1". Part of the wire contract between nodes. */
#define RDV_KEY "mlbd-rendezvous1"
#define RDV_KEY_LEN 16
/* A Kubernetes node name is a DNS subdomain: at most 253 bytes. */
#define RDV_NAME_MAX 253

uint64_t rdv_score(u128 addr, const char *node_name);

/* True if (score_a, name_a) ranks strictly before (score_b, name_b). */
static inline bool rdv_before(uint64_t score_a, const char *name_a, uint64_t score_b,
                              const char *name_b)
{
        if (score_a != score_b)
                return score_a > score_b;
        return strcmp(name_a, name_b) < 0;
}

/* Index of the owner among names[0..n) where eligible[i] (eligible NULL: all are), or -1
 * if none is eligible. */
ssize_t rdv_owner(u128 addr, const char *const *names, const bool *eligible, size_t n);

/* Fills order[] (room for n) with the eligible indices, best first; returns how many.
 * order[0] == rdv_owner(); order[1] is where the address goes if that node leaves. */
size_t rdv_rank(u128 addr, const char *const *names, const bool *eligible, size_t n, size_t *order);

/* rdv_rank() with caller-provided scratch for n scores (no allocation), or scores == NULL
 * to recompute scores per comparison (O(n log n) hashes). Same result either way. */
size_t rdv_rank_scratch(u128 addr, const char *const *names, const bool *eligible, size_t n,
                        size_t *order, uint64_t *scores);
