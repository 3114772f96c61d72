/* SPDX-License-Identifier: MIT */
/*
 * The pool model (see pools.h): freeing, look-ups, address counts and the allocation
 * order. Parsing lives in pools-yaml.c; nothing here does I/O or reports diagnostics.
 */
#include <string.h>

#include "pools.h"

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void pool_clear(Pool *p)
{
        free(p->name);
        labels_clear(&p->labels);
        free(p->ranges);
        free(p->range_pos);
        strv_free(p->namespaces, p->n_namespaces);
        selectors_free(p->namespace_selectors, p->n_namespace_selectors);
        selectors_free(p->service_selectors, p->n_service_selectors);
        free(p->interface);
        *p = (Pool){0};
}

void advert_clear(Advert *a)
{
        free(a->name);
        selectors_free(a->node_selectors, a->n_node_selectors);
        selectors_free(a->preferred_node_selectors, a->n_preferred_node_selectors);
        strv_free(a->interfaces, a->n_interfaces);
        selectors_free(a->service_selectors, a->n_service_selectors);
        free(a->pools);
        *a = (Advert){0};
}

PoolSet *pool_set_free(PoolSet *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_pools; i++)
                pool_clear(&s->pools[i]);
        free(s->pools);
        for (size_t i = 0; i < s->n_adverts; i++)
                advert_clear(&s->adverts[i]);
        free(s->adverts);
        free(s->order);
        free(s->file);
        free(s);
        return NULL;
}

const Pool *pool_set_find(const PoolSet *s, const char *name)
{
        for (size_t i = 0; s && name && i < s->n_pools; i++)
                if (s->pools[i].name && strcmp(s->pools[i].name, name) == 0)
                        return &s->pools[i];
        return NULL;
}

bool pool_is_announced(const PoolSet *s, size_t pool_index)
{
        for (size_t i = 0; s && i < s->n_adverts; i++)
                for (size_t j = 0; j < s->adverts[i].n_pools; j++)
                        if (s->adverts[i].pools[j] == pool_index)
                                return true;
        return false;
}

void pool_count(const Pool *p, AddrCount *v4, AddrCount *v6)
{
        for (size_t i = 0; i < p->n_ranges; i++)
                addr_count_add_range(addr_is_v4(p->ranges[i].first) ? v4 : v6, &p->ranges[i]);
}

/*
 * Allocation order, checked against MetalLB's allocator (internal/allocator/allocator.go):
 *   - Allocate() first tries the "pinned" pools: pools whose serviceAllocation matches the
 *     Service (pinnedPoolsForService() collects them from Pools.ByNamespace and
 *     Pools.ByServiceSelector), sorted by sortPools(): priority > 0 ascending, a pool
 *     with priority 0 (unset) after every pool with a priority. MetalLB uses the
 *     unstable sort.Slice there, so equal priorities come out in no defined order (its
 *     docs say "the choice will be random"); mlbd keeps file order, which is one of the
 *     orders MetalLB may pick.
 *   - Only then every autoAssign pool WITHOUT serviceAllocation, taken from the
 *     Pools.ByName map, i.e. in Go's random map order; again mlbd uses file order.
 *   - A pool with serviceAllocation is never used for a Service it does not match
 *     (isPoolCompatibleWithService() and the ServiceAllocations != nil skip in the second
 *     pass). That filter is the allocator's job; this order only ranks the pools.
 */
static int order_key(const Pool *p)
{
        if (!p->has_service_allocation)
                return 2;
        return p->priority > 0 ? 0 : 1;
}

static int order_cmp(const void *a, const void *b, void *userdata)
{
        const PoolSet *s = userdata;
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        const Pool *x = &s->pools[i], *y = &s->pools[j];
        int kx = order_key(x), ky = order_key(y);

        if (kx != ky)
                return kx < ky ? -1 : 1;
        if (kx == 0 && x->priority != y->priority)
                return x->priority < y->priority ? -1 : 1;
        return i < j ? -1 : i > j ? 1 : 0; /* file order: makes the sort stable */
}

int pools_order(PoolSet *s)
{
        size_t *order = NULL;

        if (s->n_pools > 0) {
                order = calloc(s->n_pools, sizeof(*order));
                if (!order)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_pools; i++)
                        order[i] = i;
                qsort_r(order, s->n_pools, sizeof(*order), order_cmp, s);
        }
        free(s->order);
        s->order = order;
        return 0;
}
