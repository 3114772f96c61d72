/* SPDX-License-Identifier: MIT */
/* String -> size_t hash map on util/htable.h; see keymap.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/htable.h"
#include "util/keymap.h"

typedef struct Node {
        HNode h; /* first member */
        const char *key;
        size_t value;
} Node;

struct KeyMap {
        HTable t;
        HKey k;
};

int keymap_new(KeyMap **ret)
{
        KeyMap *m = calloc(1, sizeof(*m));

        if (!m || ht_init(&m->t, 16) < 0 || ht_key_init(&m->k) < 0) {
                if (m)
                        ht_done(&m->t);
                free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

KeyMap *keymap_free(KeyMap *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->t.nb; i++)
                for (HNode *n = m->t.b[i], *next; n; n = next) {
                        next = n->next;
                        free(n);
                }
        ht_done(&m->t);
        free(m);
        return NULL;
}

static Node *find(const KeyMap *m, const char *key)
{
        uint64_t h = ht_hash_str(&m->k, key);

        for (HNode *n = ht_chain(&m->t, h); n; n = n->next)
                if (n->hash == h && strcmp(((Node *)n)->key, key) == 0)
                        return (Node *)n;
        return NULL;
}

int keymap_put(KeyMap *m, const char *key, size_t value)
{
        Node *n = find(m, key);

        if (n) {
                n->key = key;
                n->value = value;
                return 0;
        }
        n = malloc(sizeof(*n));
        if (!n)
                return -ENOMEM;
        *n = (Node){.h.hash = ht_hash_str(&m->k, key), .key = key, .value = value};
        ht_insert(&m->t, &n->h);
        return 0;
}

bool keymap_get(const KeyMap *m, const char *key, size_t *ret)
{
        Node *n = find(m, key);

        if (n && ret)
                *ret = n->value;
        return n != NULL;
}

bool keymap_remove(KeyMap *m, const char *key)
{
        Node *n = find(m, key);

        if (!n)
                return false;
        ht_remove(&m->t, &n->h);
        free(n);
        return true;
}

size_t keymap_size(const KeyMap *m)
{
        return m->t.n;
}
