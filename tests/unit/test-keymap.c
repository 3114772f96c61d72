/* SPDX-License-Identifier: MIT */
/* util/keymap.c: string -> size_t map with borrowed keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/keymap.h"

#define N 20000

int main(void)
{
        static char keys[N][32];
        KeyMap *m = NULL;
        size_t v = 0, wrong = 0, missing = 0;

        ok(keymap_new(&m) == 0 && m, "keymap_new");
        if (!m)
                return tap_done();
        ok(!keymap_get(m, "demo/web", &v), "empty: nothing found");
        ok(!keymap_remove(m, "demo/web"), "empty: nothing removed");
        for (size_t i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "ns%zu/svc-%zu", i % 97, i);
                if (keymap_put(m, keys[i], i) < 0)
                        break;
        }
        is_int(keymap_size(m), N, "20,000 keys in (the table grew many times)");
        for (size_t i = 0; i < N; i++) {
                if (!keymap_get(m, keys[i], &v))
                        missing++;
                else if (v != i)
                        wrong++;
        }
        is_int(missing, 0, "every key found");
        is_int(wrong, 0, "every value right");
        char probe[32];
        snprintf(probe, sizeof(probe), "%s", keys[123]);
        ok(keymap_get(m, probe, &v) && v == 123, "lookup compares contents, not pointers");
        is_int(keymap_put(m, keys[5], 777), 0, "put on an existing key");
        ok(keymap_get(m, keys[5], &v) && v == 777, "replaces its value");
        is_int(keymap_size(m), N, "and adds nothing");
        size_t not_removed = 0;
        for (size_t i = 0; i < N; i += 2)
                not_removed += !keymap_remove(m, keys[i]);
        is_int(not_removed, 0, "every other key removed");
        is_int(keymap_size(m), N / 2, "half removed");
        missing = wrong = 0;
        for (size_t i = 0; i < N; i++) {
                bool found = keymap_get(m, keys[i], &v);
                if (i % 2 == 0 && found)
                        wrong++;
                if (i % 2 == 1 && (!found || v != (i == 5 ? 777 : i)))
                        missing++;
        }
        is_int(wrong, 0, "removed keys are gone");
        is_int(missing, 0, "the others are intact");
        ok(!keymap_remove(m, keys[0]), "removing twice: false");
        keymap_free(m);
        ok(keymap_free(NULL) == NULL, "keymap_free(NULL)");
        return tap_done();
}
