/* SPDX-License-Identifier: MIT */
/*
 * foreign.c: what an address is on this host (mlbd's, someone else's, the gateway) from
 * address and route dumps, with and without IFA_PROTO in the kernel; the Nodes' addresses
 * handed to the allocator; and one live check against this host's own kernel.
 */
#include <linux/if_addr.h>
#include <string.h>

#include "foreign.h"
#include "tap.h"

static u128 A(const char *s)
{
        u128 v = 0;
        if (!addr_parse(s, &v))
                abort();
        return v;
}

#define MLBD_FLAGS (IFA_F_NODAD | IFA_F_NOPREFIXROUTE)

static void classify(void)
{
        /* a kernel that keeps IFA_PROTO (::1 and fe80:: carry the kernel's tags) */
        NlAddr a[] = {
            {1, A("127.0.0.1"), 8, 0, 0, 0},
            {1, A("::1"), 128, 0, 1, 0},
            {2, A("192.0.2.1"), 24, 0, 0, 0},
            {2, A("fe80::1"), 64, 0, 3, 0},
            {2, A("192.0.2.150"), 32, 0, MLBD_IFA_PROTO, MLBD_FLAGS},
            {2, A("192.0.2.77"), 32, 0, 0, MLBD_FLAGS}, /* by hand, with mlbd's flags */
            {3, A("192.0.2.150"), 32, 0, 0, 0},         /* 192.0.2.151 on two interfaces: */
            {2, A("192.0.2.151"), 32, 0, MLBD_IFA_PROTO, MLBD_FLAGS}, /* one is mlbd's, */
            {3, A("192.0.2.151"), 32, 0, 0, 0},                       /* one is not */
        };
        NlGateway g[] = {{2, A("192.0.2.254")}, {4, A("2001:db8::fe")}};
        size_t n = ELEMENTSOF(a);
        int ifindex = -1;

        ok(foreign_addr_is_mlbd(&a[4], true), "tagged 0x6d: mlbd's");
        ok(!foreign_addr_is_mlbd(&a[5], true), "untagged with mlbd's flags: not mlbd's");

        is_int(foreign_classify(a, 5, true, g, 2, A("192.0.2.1"), &ifindex), FOREIGN_LOCAL,
               "the node's own 192.0.2.1/24: someone else's");
        is_int(ifindex, 2, "on interface 2");
        is_int(foreign_classify(a, 5, true, g, 2, A("192.0.2.150"), &ifindex), FOREIGN_MLBD,
               "192.0.2.150 tagged: mlbd's");
        is_int(foreign_classify(a, 6, true, g, 2, A("192.0.2.77"), &ifindex), FOREIGN_LOCAL,
               "192.0.2.77 added by hand: someone else's, even with nodad noprefixroute");
        is_int(foreign_classify(a, n, true, g, 2, A("192.0.2.151"), &ifindex), FOREIGN_LOCAL,
               "mlbd's on one interface, untagged on another: someone else's");
        is_int(ifindex, 3, "naming the interface of the untagged one");
        is_int(foreign_classify(a, n, true, g, 2, A("192.0.2.254"), &ifindex), FOREIGN_GATEWAY,
               "the default gateway");
        is_int(ifindex, 2, "on interface 2");
        is_int(foreign_classify(a, n, true, g, 2, A("2001:db8::fe"), &ifindex), FOREIGN_GATEWAY,
               "an IPv6 default gateway");
        is_int(foreign_classify(a, n, true, g, 2, A("192.0.2.200"), &ifindex), FOREIGN_NONE,
               "an address that is nowhere here: free");
        is_int(ifindex, 0, "no interface");
        is_int(foreign_classify(NULL, 0, true, NULL, 0, A("192.0.2.1"), &ifindex), FOREIGN_NONE,
               "empty dumps: free");

        /* a kernel before 5.18 keeps no tag: mlbd's addresses are told by their shape */
        NlAddr old[] = {
            {1, A("127.0.0.1"), 8, 0, 0, 0},
            {2, A("192.0.2.1"), 24, 0, 0, 0},
            {2, A("192.0.2.150"), 32, 0, 0, IFA_F_NOPREFIXROUTE}, /* as IPv4 keeps it */
            {2, A("192.0.2.77"), 32, 0, 0, 0},
            {2, A("192.0.2.78"), 32, 0, 0, IFA_F_NODAD},
            {2, A("2001:db8::150"), 128, 0, 0, MLBD_FLAGS | IFA_F_PERMANENT},
            {2, A("2001:db8::151"), 64, 0, 0, MLBD_FLAGS},
            {2, A("2001:db8::152"), 128, 0, 0, IFA_F_NOPREFIXROUTE},
        };
        size_t m = ELEMENTSOF(old);
        is_int(foreign_classify(old, m, false, NULL, 0, A("192.0.2.150"), &ifindex), FOREIGN_MLBD,
               "old kernel: /32 noprefixroute is mlbd's");
        is_int(foreign_classify(old, m, false, NULL, 0, A("2001:db8::150"), &ifindex), FOREIGN_MLBD,
               "old kernel: /128 nodad noprefixroute is mlbd's");
        is_int(foreign_classify(old, m, false, NULL, 0, A("192.0.2.77"), &ifindex), FOREIGN_LOCAL,
               "old kernel: a plain /32 is someone else's");
        is_int(foreign_classify(old, m, false, NULL, 0, A("192.0.2.78"), &ifindex), FOREIGN_LOCAL,
               "old kernel: /32 nodad without noprefixroute is someone else's");
        is_int(foreign_classify(old, m, false, NULL, 0, A("2001:db8::151"), &ifindex),
               FOREIGN_LOCAL, "old kernel: a /64 with mlbd's flags is someone else's");
        is_int(foreign_classify(old, m, false, NULL, 0, A("2001:db8::152"), &ifindex),
               FOREIGN_LOCAL, "old kernel: a /128 without nodad is someone else's");
        is_int(foreign_classify(old, m, false, NULL, 0, A("192.0.2.1"), &ifindex), FOREIGN_LOCAL,
               "old kernel: the node's own address is someone else's");
}

static Node *node(const char *name, const char *const *addrs)
{
        Node *n = obj_new(OBJ_NODE);
        size_t k = 0;

        if (!n || obj_set_name(&n->meta, NULL, name) < 0)
                abort();
        while (addrs[2 * k])
                k++;
        n->addresses = calloc(k + 1, sizeof(*n->addresses));
        for (size_t i = 0; i < k; i++)
                n->addresses[i] = (NodeAddress){strdup(addrs[2 * i]), strdup(addrs[2 * i + 1])};
        n->n_addresses = k;
        return n;
}

static void exclude_nodes(void)
{
        PoolSet *ps = calloc(1, sizeof(*ps));
        Allocator *alloc = NULL;
        Model *model = NULL;
        AllocResult res;
        uint64_t tag = 0;

        is_int(model_new(&model), 0, "model");
        is_int(allocator_new(&alloc, ps), 0, "allocator");
        model_upsert(
            model, node("node2", (const char *const[]){"InternalIP", "192.0.2.2", "ExternalIP",
                                                       "203.0.113.2", "Hostname", "node2", NULL}));
        model_upsert(model,
                     node("node1", (const char *const[]){"InternalIP", "192.0.2.1", "InternalIP",
                                                         "2001:db8::1", "InternalDNS", "192.0.2.9",
                                                         "ExternalIP", "not-an-ip", NULL}));
        is_int(foreign_exclude_nodes(alloc, model), 0, "exclude the Nodes' addresses");
        ok(allocator_excluded_tag(alloc, &tag) && tag == model->generation,
           "tagged with the model generation");

        /* a requested address in no pool is refused for that first; a pool makes the
         * exclusion visible */
        allocator_free(alloc);
        free(ps);
        DiagList d = {0};
        const char *y = "pools:\n  - name: p\n    addresses: [192.0.2.0/24, 203.0.113.0/24, "
                        "\"2001:db8::/120\"]\n";
        ps = NULL;
        is_int(pools_parse("t.yaml", y, strlen(y), &ps, &d), 0, "a pool");
        is_int(allocator_new(&alloc, ps), 0, "allocator with the pool");
        is_int(foreign_exclude_nodes(alloc, model), 0, "exclude again");
        const struct {
                const char *addr, *reason;
        } want[] = {
            {"192.0.2.1", "address 192.0.2.1 is node1's InternalIP"},
            {"2001:db8::1", "address 2001:db8::1 is node1's InternalIP"},
            {"192.0.2.2", "address 192.0.2.2 is node2's InternalIP"},
            {"203.0.113.2", "address 203.0.113.2 is node2's ExternalIP"},
            {"192.0.2.9", ""}, /* InternalDNS: not an address of the node */
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                AllocRequest r = {.key = "demo/web", .namespace = "demo"};
                r.requested[0] = A(want[i].addr);
                r.n_requested = 1;
                r.families[0] = addr_family(r.requested[0]);
                r.n_families = 1;
                memset(&res, 0, sizeof(res));
                int k = alloc_service(alloc, &r, &res);
                is_int(k, want[i].reason[0] ? ALLOC_E_IN_USE : 0, "request %s", want[i].addr);
                is_str(res.reason, want[i].reason, "reason for %s", want[i].addr);
        }

        /* unchanged model: nothing rebuilt; a change: rebuilt */
        uint64_t g = model->generation;
        is_int(model_delete(model, OBJ_NODE, NULL, "node1", NULL), MODEL_DELETED, "node1 goes");
        ok(model->generation != g, "the generation moved");
        is_int(foreign_exclude_nodes(alloc, model), 0, "exclude after the change");
        AllocRequest r = {.key = "demo/other", .namespace = "demo"};
        r.requested[0] = A("192.0.2.1");
        r.n_requested = 1;
        memset(&res, 0, sizeof(res));
        is_int(alloc_service(alloc, &r, &res), 0, "192.0.2.1 is free once node1 is gone");

        allocator_free(alloc);
        pool_set_free(ps);
        model_free(model);
        diag_list_clear(&d);
}

/* The host's own kernel: every address it has that mlbd did not tag is someone else's. */
static void live(void)
{
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        _cleanup_free_ NlAddr *a = NULL;
        size_t n = 0;
        char reason[256] = "";

        if (netlink_new(&nl) < 0 || netlink_addr_dump(nl, AF_UNSPEC, &a, &n) < 0) {
                ok(true, "# SKIP no rtnetlink here");
                return;
        }
        bool tags = netlink_has_ifa_proto();
        for (size_t i = 0; i < n; i++) {
                if (foreign_addr_is_mlbd(&a[i], tags))
                        continue;
                char buf[ADDR_STR_MAX], ifname[IF_NAMESIZE] = "";
                NlLink link;
                if (netlink_link_get(nl, a[i].ifindex, &link) >= 0)
                        memcpy(ifname, link.name, sizeof(ifname));
                is_int(foreign_check(NULL, 0, nl, a[i].addr, "node9", reason, sizeof(reason)),
                       FOREIGN_LOCAL, "this host's %s is someone else's",
                       addr_format(a[i].addr, buf));
                char want[256];
                snprintf(want, sizeof(want),
                         "address %s is already on %s of node9 (not added by mlbd)", buf, ifname);
                is_str(reason, want, "the reason names the interface and the node");
                ForeignCache c = {};
                is_int(foreign_check(&c, 7, nl, a[i].addr, "node9", reason, sizeof(reason)),
                       FOREIGN_LOCAL, "the same through a cache");
                ok(c.valid && c.stamp == 7 && c.n_addrs == n, "the cache holds the dump");
                c.n_addrs = 0; /* a cache with stamp 7 is used as it is: nothing there */
                is_int(foreign_check(&c, 7, nl, a[i].addr, "node9", reason, sizeof(reason)),
                       FOREIGN_NONE, "same stamp: the cached dump is used");
                is_int(foreign_check(&c, 8, nl, a[i].addr, "node9", reason, sizeof(reason)),
                       FOREIGN_LOCAL, "a new stamp: dumped again");
                foreign_cache_done(&c);
                return;
        }
        ok(true, "# SKIP this host has no address");
}

int main(void)
{
        classify();
        exclude_nodes();
        live();
        return tap_done();
}
