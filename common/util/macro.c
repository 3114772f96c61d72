/* SPDX-License-Identifier: MIT */
/* Growable arrays and string helpers shared by every module. */
#include <string.h>

#include "util/macro.h"

int grow_array(void **items, size_t *cap, size_t need, size_t elem_size)
{
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap : 4;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        return -ENOMEM;
                n *= 2;
        }
        if (n > SIZE_MAX / elem_size)
                return -ENOMEM;
        void *p = realloc(*items, n * elem_size);
        if (!p)
                return -ENOMEM;
        *items = p;
        *cap = n;
        return 0;
}

char *strdup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}
