/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the pools.yaml parser (both forms). Besides the sanitizers it checks
 * what pools.h promises: an error and a PoolSet never both; every diagnostic points into
 * the input; an accepted set has unique names, non-empty pools, disjoint well-formed
 * ranges, an order that is a permutation and adverts that name existing pools.
 */
#include <string.h>

#include "pools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int range_cmp(const void *a, const void *b)
{
        const AddrRange *x = a, *y = b;
        return x->first < y->first ? -1 : x->first > y->first;
}

static void check_set(const PoolSet *s)
{
        size_t n = 0, k = 0;

        for (size_t i = 0; i < s->n_pools; i++) {
                const Pool *p = &s->pools[i];
                if (!p->name || !*p->name || p->n_ranges == 0 || pool_set_find(s, p->name) != p)
                        __builtin_trap();
                n += p->n_ranges;
        }
        AddrRange *all = calloc(n + 1, sizeof(*all));
        if (!all)
                return;
        for (size_t i = 0; i < s->n_pools; i++)
                for (size_t j = 0; j < s->pools[i].n_ranges; j++) {
                        AddrRange r = s->pools[i].ranges[j];
                        if (r.first > r.last || addr_is_v4(r.first) != addr_is_v4(r.last) ||
                            s->pools[i].range_pos[j].line == 0)
                                __builtin_trap();
                        all[k++] = r;
                }
        qsort(all, n, sizeof(*all), range_cmp);
        for (size_t i = 1; i < n; i++)
                if (all[i].first <= all[i - 1].last)
                        __builtin_trap();
        free(all);

        bool *seen = calloc(s->n_pools + 1, sizeof(bool));
        if (!seen)
                return;
        for (size_t i = 0; i < s->n_pools; i++) {
                if (s->order[i] >= s->n_pools || seen[s->order[i]])
                        __builtin_trap();
                seen[s->order[i]] = true;
        }
        free(seen);
        for (size_t i = 0; i < s->n_adverts; i++)
                for (size_t j = 0; j < s->adverts[i].n_pools; j++)
                        if (s->adverts[i].pools[j] >= s->n_pools)
                                __builtin_trap();
        for (size_t i = 0; i < s->n_pools; i++) {
                AddrCount v4 = {0}, v6 = {0};
                pool_count(&s->pools[i], &v4, &v6);
                if (!v4.n && !v4.overflow && !v6.n && !v6.overflow)
                        __builtin_trap();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        DiagList d = {0};
        PoolSet *s = NULL;
        unsigned lines = 1;
        int r;

        if (size > 65536)
                return 0;
        /* libyaml also breaks lines at CR, NEL (C2 85) and LS/PS (E2 80 A8/A9) */
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xa8 ||
                         data[i] == 0xa9;

        r = pools_parse("pools.yaml", (const char *)data, size, &s, &d);
        if (r == -ENOMEM)
                goto out;
        if ((r == 0) != (d.n_errors == 0) || (r == 0) != (s != NULL))
                __builtin_trap();
        for (size_t i = 0; i < d.n; i++) {
                char *t = diag_format(&d.items[i]);
                if (!t || d.items[i].line > lines)
                        __builtin_trap();
                free(t);
        }
        if (s)
                check_set(s);
out:
        pool_set_free(s);
        diag_list_clear(&d);
        return 0;
}
