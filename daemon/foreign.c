/* SPDX-License-Identifier: MIT */
/* Whether an address is someone else's here; see foreign.h. */
#include <linux/if_addr.h>
#include <stdio.h>
#include <string.h>

#include "foreign.h"

bool foreign_addr_is_mlbd(const NlAddr *a, bool tags)
{
        /* the kernel keeps IFA_F_NODAD for IPv6 only */
        uint32_t sig = IFA_F_NOPREFIXROUTE | (addr_is_v4(a->addr) ? 0 : IFA_F_NODAD);

        if (tags)
                return a->proto == MLBD_IFA_PROTO;
        return a->prefixlen == addr_bits(a->addr) && (a->flags & sig) == sig;
}

static ForeignKind classify(const NlAddr *a, size_t n, bool tags, const NlGateway *g, size_t n_g,
                            u128 addr, int *ret_ifindex)
{
        bool ours = false;

        *ret_ifindex = 0;
        for (size_t i = 0; i < n; i++) {
                if (a[i].addr != addr)
                        continue;
                if (!foreign_addr_is_mlbd(&a[i], tags)) {
                        *ret_ifindex = a[i].ifindex;
                        return FOREIGN_LOCAL;
                }
                ours = true;
        }
        for (size_t i = 0; i < n_g; i++)
                if (g[i].addr == addr) {
                        *ret_ifindex = g[i].ifindex;
                        return FOREIGN_GATEWAY;
                }
        return ours ? FOREIGN_MLBD : FOREIGN_NONE;
}

ForeignKind foreign_classify(const NlAddr *a, size_t n, bool tags, const NlGateway *g, size_t n_g,
                             u128 addr, int *ret_ifindex)
{
        return classify(a, n, tags, g, n_g, addr, ret_ifindex);
}

static int cmp_addr(const void *x, const void *y)
{
        const NlAddr *a = x, *b = y;
        return a->addr < b->addr ? -1 : a->addr > b->addr;
}

void foreign_cache_done(ForeignCache *c)
{
        free(c->addrs);
        free(c->gateways);
        *c = (ForeignCache){};
}

static int cache_fill(ForeignCache *c, uint64_t stamp, Netlink *nl)
{
        _cleanup_free_ NlAddr *a = NULL;
        _cleanup_free_ NlGateway *g = NULL;
        size_t n = 0, n_g = 0;
        int r;

        if (c->valid && c->stamp == stamp)
                return 0;
        r = netlink_addr_dump(nl, AF_UNSPEC, &a, &n);
        if (r < 0)
                return r;
        r = netlink_gateway_list(nl, AF_UNSPEC, &g, &n_g);
        if (r < 0)
                return r;
        /* sorted, so that each check costs O(log n), not a walk of every address */
        if (n > 0)
                qsort(a, n, sizeof(*a), cmp_addr);
        foreign_cache_done(c);
        *c = (ForeignCache){true, stamp, netlink_has_ifa_proto(), TAKE_PTR(a), n, TAKE_PTR(g), n_g};
        return 0;
}

int foreign_check(ForeignCache *c, uint64_t stamp, Netlink *nl, u128 addr, const char *node,
                  char *reason, size_t len)
{
        _cleanup_(foreign_cache_done) ForeignCache once = {};
        char buf[ADDR_STR_MAX];
        NlLink link = {};
        int r, ifindex;

        if (!c)
                c = &once;
        r = cache_fill(c, stamp, nl);
        if (r < 0)
                return r;
        /* the run of entries for addr (one per interface it is on) */
        size_t lo = 0, hi = c->n_addrs;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->addrs[mid].addr < addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (hi = lo; hi < c->n_addrs && c->addrs[hi].addr == addr; hi++)
                ;
        r = classify(c->addrs + lo, hi - lo, c->tags, c->gateways, c->n_gateways, addr, &ifindex);
        if (r != FOREIGN_LOCAL && r != FOREIGN_GATEWAY)
                return r;
        node = node ? node : "this node";
        addr_format(addr, buf);
        if (r == FOREIGN_GATEWAY)
                snprintf(reason, len, "address %s is the default gateway of %s", buf, node);
        else if (ifindex > 0 && netlink_link_get(nl, ifindex, &link) >= 0 && link.name[0])
                snprintf(reason, len, "address %s is already on %s of %s (not added by mlbd)", buf,
                         link.name, node);
        else
                snprintf(reason, len, "address %s is already on %s (not added by mlbd)", buf, node);
        return r;
}

int foreign_exclude_nodes(Allocator *alloc, const Model *model)
{
        _cleanup_free_ const void **nodes = NULL;
        _cleanup_free_ AllocExcluded *x = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n = 0, k = 0, total = 0, at = 0;
        uint64_t tag;
        int r;

        if (allocator_excluded_tag(alloc, &tag) && tag == model->generation)
                return 0;
        r = model_list_sorted(model, OBJ_NODE, &nodes, &n);
        if (r < 0)
                return r;
        /* one block for every "NODE's TYPE" text: two passes, sizes first */
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < n; i++) {
                        const Node *node = nodes[i];
                        for (size_t j = 0; j < node->n_addresses; j++) {
                                const NodeAddress *na = &node->addresses[j];
                                u128 v;
                                if (!na->type || !na->address ||
                                    (strcmp(na->type, "InternalIP") != 0 &&
                                     strcmp(na->type, "ExternalIP") != 0) ||
                                    !addr_parse(na->address, &v))
                                        continue;
                                size_t l = strlen(node->meta.name) + strlen(na->type) + 4;
                                if (pass == 0) {
                                        total += l;
                                        k++;
                                        continue;
                                }
                                snprintf(text + at, l, "%s's %s", node->meta.name, na->type);
                                x[k++] = (AllocExcluded){v, text + at};
                                at += l;
                        }
                }
                if (pass == 0) {
                        x = calloc(k + 1, sizeof(*x));
                        text = malloc(total + 1);
                        if (!x || !text)
                                return -ENOMEM;
                        k = 0;
                }
        }
        return allocator_set_excluded(alloc, x, k, model->generation);
}
