/* SPDX-License-Identifier: MIT */
/* Intrusive chained hash table; see htable.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/htable.h"

int ht_init(HTable *t, size_t nb_min)
{
        t->nb = nb_min;
        t->n = 0;
        t->b = calloc(t->nb, sizeof(*t->b));
        return t->b ? 0 : -ENOMEM;
}

void ht_done(HTable *t)
{
        free(t->b);
        *t = (HTable){0};
}

static void ht_grow(HTable *t)
{
        size_t nb = t->nb * 2;
        HNode **b = nb > t->nb ? calloc(nb, sizeof(*b)) : NULL;
        if (!b)
                return;
        for (size_t i = 0; i < t->nb; i++)
                for (HNode *n = t->b[i], *next; n; n = next) {
                        next = n->next;
                        n->next = b[n->hash & (nb - 1)];
                        b[n->hash & (nb - 1)] = n;
                }
        free(t->b);
        t->b = b;
        t->nb = nb;
}

void ht_insert(HTable *t, HNode *n)
{
        if (t->n >= t->nb)
                ht_grow(t);
        HNode **head = &t->b[n->hash & (t->nb - 1)];
        n->next = *head;
        *head = n;
        t->n++;
}

void ht_remove(HTable *t, HNode *n)
{
        for (HNode **p = &t->b[n->hash & (t->nb - 1)]; *p; p = &(*p)->next)
                if (*p == n) {
                        *p = n->next;
                        t->n--;
                        return;
                }
}

int ht_key_init(HKey *k)
{
        /* randombytes_buf() needs no sodium_init() for its default implementation, but
         * calling it keeps libsodium's documented contract; it is idempotent. */
        if (sodium_init() < 0)
                return -EIO;
        randombytes_buf(k->k, sizeof(k->k));
        return 0;
}

uint64_t ht_hash(const HKey *k, const void *p, size_t len)
{
        unsigned char out[crypto_shorthash_BYTES];
        uint64_t h;

        crypto_shorthash(out, p, len, k->k);
        memcpy(&h, out, sizeof(h));
        return h;
}

uint64_t ht_hash_str(const HKey *k, const char *s)
{
        return ht_hash(k, s, strlen(s));
}
