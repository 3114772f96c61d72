/* SPDX-License-Identifier: MIT */
/*
 * The pool model (see pools.h): freeing, look-ups, address counts and the allocation
 * order. Parsing lives in pools-yaml.c; nothing here does I/O or reports diagnostics.
 */
#include <stdio.h>
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
        free(a->preferred_weights);
        strv_free(a->interfaces, a->n_interfaces);
        selectors_free(a->service_selectors, a->n_service_selectors);
        free(a->pools);
        *a = (Advert){0};
}

unsigned advert_node_score(const Advert *a, const Labels *node_labels)
{
        unsigned score = 0;

        for (size_t i = 0; i < a->n_preferred_node_selectors; i++)
                if (selector_matches(&a->preferred_node_selectors[i], node_labels))
                        score += a->preferred_weights[i];
        return score;
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
        for (size_t i = 0; i < s->n_files; i++)
                free(s->files[i]);
        free(s->files);
        free(s->file_metallb);
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

/* Ranges no pool may reach into: the host itself, "this network", link-local, multicast,
 * broadcast and reserved space (RFC 6890 and RFC 4291). The limited broadcast comes
 * before 240.0.0.0/4, which holds it, so that it is named when a range reaches it. */
#define V4(a, b, c, d) (ADDR_V4_BASE | (u128)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define V6(hi16) ((u128)(hi16) << 112)
static const struct {
        bool v6; /* an IPv6 entry (the IPv4-mapped block is one) */
        u128 first, last;
        const char *cidr, *what;
} special[] = {
    {false, V4(0, 0, 0, 0), V4(0, 255, 255, 255), "0.0.0.0/8", "\"this network\""},
    {false, V4(127, 0, 0, 0), V4(127, 255, 255, 255), "127.0.0.0/8", "loopback"},
    {false, V4(169, 254, 0, 0), V4(169, 254, 255, 255), "169.254.0.0/16", "link-local"},
    {false, V4(224, 0, 0, 0), V4(239, 255, 255, 255), "224.0.0.0/4", "multicast"},
    {false, V4(255, 255, 255, 255), V4(255, 255, 255, 255), "255.255.255.255", "limited broadcast"},
    {false, V4(240, 0, 0, 0), V4(255, 255, 255, 255), "240.0.0.0/4", "reserved"},
    {true, 0, 0, "::", "unspecified address"},
    {true, 1, 1, "::1", "loopback"},
    {true, ADDR_V4_BASE, ADDR_V4_BASE | 0xffffffff, "::ffff:0:0/96", "IPv4-mapped"},
    {true, V6(0xfe80), V6(0xfec0) - 1, "fe80::/10", "link-local"},
    {true, V6(0xff00), ~(u128)0, "ff00::/8", "multicast"},
};

bool pool_range_is_special(const AddrRange *r, char *why, size_t len)
{
        bool v4 = addr_is_v4(r->first);

        for (size_t i = 0; i < ELEMENTSOF(special); i++) {
                AddrRange s = {special[i].first, special[i].last};
                char buf[RANGE_STR_MAX];

                /* IPv4 lives in ::ffff:0:0/96: an IPv4 range is only checked against
                 * IPv4 entries, an IPv6 one against IPv6 entries (the mapped block too,
                 * which an IPv6 range such as ::fffe:0:0-::1:0:0:0 can span) */
                if (special[i].v6 == v4)
                        continue;
                if (!range_overlaps(r, &s))
                        continue;
                snprintf(why, len, "%s %s %s (%s); a pool cannot hold these addresses",
                         range_format_cidr(r, buf),
                         r->first >= s.first && r->last <= s.last ? "is in" : "reaches into",
                         special[i].cidr, special[i].what);
                return true;
        }
        return false;
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
