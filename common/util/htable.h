/* SPDX-License-Identifier: MIT */
/*
 * An intrusive chained hash table: callers embed an HNode (usually as the first member),
 * set its hash and insert it; lookups walk ht_chain() and compare their own keys. The
 * table only links nodes, it never allocates or frees them. Hashes are SipHash-2-4
 * (libsodium crypto_shorthash) under a per-table random key (ht_key_init), so keys chosen
 * by users cannot make chains long. Used by alloc.c, model.c and keymap.c.
 */
#pragma once

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

typedef struct HNode {
        struct HNode *next;
        uint64_t hash;
} HNode;

typedef struct HTable {
        HNode **b;
        size_t nb, n; /* nb is a power of two */
} HTable;

typedef struct HKey {
        unsigned char k[crypto_shorthash_KEYBYTES];
} HKey;

/* 0 or -ENOMEM; nb_min a power of two. */
int ht_init(HTable *t, size_t nb_min);
/* Frees the bucket array (not the nodes). */
void ht_done(HTable *t);
/* Links n (n->hash set); doubles the buckets when they are all in use (a failed doubling
 * only makes chains longer). */
void ht_insert(HTable *t, HNode *n);
/* Unlinks n if it is in t. */
void ht_remove(HTable *t, HNode *n);
#define ht_chain(t, h) ((t)->b[(h) & ((t)->nb - 1)])

/* A random key: 0, or -EIO when libsodium cannot start. */
int ht_key_init(HKey *k);
uint64_t ht_hash(const HKey *k, const void *p, size_t len);
uint64_t ht_hash_str(const HKey *k, const char *s);
