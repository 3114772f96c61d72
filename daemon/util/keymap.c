/* SPDX-License-Identifier: MIT */
/* String -> size_t hash map; see keymap.h. */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/keymap.h"

typedef struct Node {
        struct Node *next;
        const char *key;
        size_t value;
} Node;

struct KeyMap {
        Node **buckets;
        size_t n_buckets; /* a power of two */
        size_t n;
        unsigned char seed[crypto_shorthash_KEYBYTES];
};

static size_t bucket(const KeyMap *m, const char *key)
{
        unsigned char out[crypto_shorthash_BYTES];
        uint64_t h;

        crypto_shorthash(out, (const unsigned char *)key, strlen(key), m->seed);
        memcpy(&h, out, sizeof(h));
        return (size_t)h & (m->n_buckets - 1);
}

int keymap_new(KeyMap **ret)
{
        KeyMap *m = calloc(1, sizeof(*m));

        if (!m || !(m->buckets = calloc(16, sizeof(Node *)))) {
                free(m);
                return -ENOMEM;
        }
        m->n_buckets = 16;
        crypto_shorthash_keygen(m->seed);
        *ret = m;
        return 0;
}

KeyMap *keymap_free(KeyMap *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_buckets; i++)
                for (Node *n = m->buckets[i], *next; n; n = next) {
                        next = n->next;
                        free(n);
                }
        free(m->buckets);
        free(m);
        return NULL;
}

static Node **find(const KeyMap *m, const char *key)
{
        Node **pp = &m->buckets[bucket(m, key)];

        while (*pp && strcmp((*pp)->key, key) != 0)
                pp = &(*pp)->next;
        return pp;
}

/* Doubles the table when it holds more than one entry per bucket; keeps it on failure. */
static void grow(KeyMap *m)
{
        size_t nb = m->n_buckets * 2;
        Node **b = calloc(nb, sizeof(Node *));
        Node **old = m->buckets;
        size_t old_n = m->n_buckets;

        if (!b)
                return;
        m->buckets = b;
        m->n_buckets = nb;
        for (size_t i = 0; i < old_n; i++)
                for (Node *n = old[i], *next; n; n = next) {
                        next = n->next;
                        size_t k = bucket(m, n->key);
                        n->next = b[k];
                        b[k] = n;
                }
        free(old);
}

int keymap_put(KeyMap *m, const char *key, size_t value)
{
        Node **pp = find(m, key);
        Node *n;

        if (*pp) {
                (*pp)->key = key;
                (*pp)->value = value;
                return 0;
        }
        n = malloc(sizeof(*n));
        if (!n)
                return -ENOMEM;
        *n = (Node){.key = key, .value = value};
        *pp = n;
        if (++m->n > m->n_buckets)
                grow(m);
        return 0;
}

bool keymap_get(const KeyMap *m, const char *key, size_t *ret)
{
        Node *n = *find(m, key);

        if (n && ret)
                *ret = n->value;
        return n != NULL;
}

bool keymap_remove(KeyMap *m, const char *key)
{
        Node **pp = find(m, key);
        Node *n = *pp;

        if (!n)
                return false;
        *pp = n->next;
        free(n);
        m->n--;
        return true;
}

size_t keymap_size(const KeyMap *m)
{
        return m->n;
}
