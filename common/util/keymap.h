/* SPDX-License-Identifier: MIT */
/*
 * KeyMap: string -> size_t on the intrusive hash table of util/htable.h (SipHash-2-4
 * under a random per-table key, so names chosen by users cannot make lookups slow). Keys are
 * borrowed: the caller keeps each key alive and unchanged while it is in the map. Used where a
 * linear search by Service key made every reconcile O(n^2) (manager.c: 12,000 Services took ~150 ms
 * per reconcile, 90% in strcmp).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/macro.h"

typedef struct KeyMap KeyMap;

int keymap_new(KeyMap **ret);
KeyMap *keymap_free(KeyMap *m);
DEFINE_FREEP(KeyMap, keymap_free)
/* Sets key to value (replacing an existing value); 0 or -ENOMEM. */
int keymap_put(KeyMap *m, const char *key, size_t value);
bool keymap_get(const KeyMap *m, const char *key, size_t *ret);
/* true if key was there */
bool keymap_remove(KeyMap *m, const char *key);
size_t keymap_size(const KeyMap *m);
