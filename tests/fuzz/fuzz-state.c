/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the state file parser, and a format/parse round trip of what it accepts. */
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        State *s = NULL, *t = NULL;
        char err[256];

        if (size > 65536)
                return 0;
        if (state_parse((const char *)data, size, &s, err, sizeof(err)) == 0) {
                char *text = state_format(s);
                if (text) {
                        if (state_parse(text, strlen(text), &t, err, sizeof(err)) != 0 ||
                            t->n_allocs != s->n_allocs || t->n_owned != s->n_owned)
                                __builtin_trap(); /* what we write, we must read back */
                        state_free(t);
                        free(text);
                }
                state_free(s);
        }
        return 0;
}
