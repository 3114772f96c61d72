/* SPDX-License-Identifier: MIT */
/*
 * The allocator: address math at the edges, pool order, selectors, auto_assign, requested
 * addresses, dual stack, sharing, release/reuse, exhaustion texts, stats, rebuild, and a
 * randomized run checked after every operation against a naive model (plain array scans).
 */
#include "tap.h"
#include "test-alloc.h"

#define U128_MAX (~(u128)0)

static const char *fmt(u128 a)
{
        static char buf[4][ADDR_STR_MAX];
        static unsigned i;
        return addr_format(a, buf[i++ % 4]);
}

static int svc(Allocator *a, TReq *t, AllocResult *res)
{
        memset(res, 0, sizeof(*res));
        return alloc_service(a, &t->r, res);
}

/* Allocates key (single-stack IPv4 unless told) and returns the first address or 0. */
static u128 take(Allocator *a, const char *key, int f)
{
        TReq t;
        AllocResult res;
        treq_init(&t, key);
        t.r.families[0] = f;
        return svc(a, &t, &res) == 0 ? res.addrs[0] : 0;
}

static void edges(void)
{
        PoolSet *s = tset_new();
        Allocator *a;

        tset_add(s, "zero", (const char *[]){"::/126", NULL});
        tset_add(s, "top", (const char *[]){"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", NULL});
        tset_add(s, "v6", (const char *[]){"2001:db8:1::/64", NULL});
        tset_add(s, "buggy", (const char *[]){"198.51.100.254-198.51.101.1", NULL})
            ->avoid_buggy_ips = true;
        for (size_t i = 0; i < s->n_pools; i++)
                s->pools[i].auto_assign = false;
        is_int(allocator_new(&a, s), 0, "allocator for edge pools");

        TReq t;
        AllocResult res;
        treq_init(&t, "demo/web");
        treq_families(&t, ALLOC_SINGLE_STACK, AF_INET6, 0);
        t.r.pool = "zero";
        for (unsigned i = 0; i < 4; i++) {
                char key[32];
                snprintf(key, sizeof(key), "demo/z%u", i);
                snprintf(t.key, sizeof(t.key), "%s", key);
                is_int(svc(a, &t, &res), 0, "::/126 allocation %u", i);
                ok(res.addrs[0] == i, "::/126 allocation %u is ::%u (got %s)", i, i,
                   fmt(res.addrs[0]));
        }
        snprintf(t.key, sizeof(t.key), "demo/z4");
        is_int(svc(a, &t, &res), ALLOC_E_EXHAUSTED, "::/126 is full after 4");
        is_str(res.reason, "no available addresses in pool \"zero\" (4 of 4 in use)",
               "exhaustion text for ::/126");

        t.r.pool = "top";
        snprintf(t.key, sizeof(t.key), "demo/t0");
        is_int(svc(a, &t, &res), 0, "top pool first");
        ok(res.addrs[0] == U128_MAX - 1, "first is ffff:...:fffe");
        snprintf(t.key, sizeof(t.key), "demo/t1");
        is_int(svc(a, &t, &res), 0, "top pool second");
        ok(res.addrs[0] == U128_MAX, "second is the very last address");
        snprintf(t.key, sizeof(t.key), "demo/t2");
        is_int(svc(a, &t, &res), ALLOC_E_EXHAUSTED, "no wrap-around past ffff:...:ffff");
        is_int(alloc_release(a, "demo/t1"), 1, "release the last address");
        is_int(svc(a, &t, &res), 0, "the last address again");
        ok(res.addrs[0] == U128_MAX, "got ffff:...:ffff back");

        /* last address of a /64 through a request */
        t.r.pool = NULL;
        t.r.requested[0] = A("2001:db8:1::ffff:ffff:ffff:ffff");
        t.r.n_requested = 1;
        snprintf(t.key, sizeof(t.key), "demo/last64");
        is_int(svc(a, &t, &res), 0, "the last address of a /64 can be requested");
        t.r.requested[0] = A("2001:db8:1:1::");
        snprintf(t.key, sizeof(t.key), "demo/past64");
        is_int(svc(a, &t, &res), ALLOC_E_NOT_IN_POOL, "the address after the /64 cannot");
        is_str(res.reason, "2001:db8:1:1:: is in no pool",
               "reason names the address and the Service");

        /* avoid_buggy_ips across .255/.0 */
        t.r.n_requested = 0;
        treq_families(&t, ALLOC_SINGLE_STACK, AF_INET, 0);
        t.r.pool = "buggy";
        snprintf(t.key, sizeof(t.key), "demo/b0");
        is_int(svc(a, &t, &res), 0, "buggy pool first");
        is_str(fmt(res.addrs[0]), "198.51.100.254", "first is .254");
        snprintf(t.key, sizeof(t.key), "demo/b1");
        is_int(svc(a, &t, &res), 0, "buggy pool second");
        is_str(fmt(res.addrs[0]), "198.51.101.1", ".255 and .0 are skipped");
        snprintf(t.key, sizeof(t.key), "demo/b2");
        is_int(svc(a, &t, &res), ALLOC_E_EXHAUSTED, "buggy pool holds 2");
        is_str(res.reason, "no available addresses in pool \"buggy\" (2 of 2 in use)",
               "size counts without .0/.255");
        t.r.pool = NULL;
        t.r.requested[0] = A("198.51.100.255");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_NOT_IN_POOL, "a .255 address cannot be requested");
        is_str(res.reason,
               "198.51.100.255 is in pool \"buggy\", which avoids addresses ending in .0 or "
               ".255",
               "reason for a buggy address");

        AllocPoolStats st;
        is_int(alloc_pool_stats(a, 3, &st), 0, "stats of the buggy pool");
        ok(st.size.n == 2 && st.used == 2 && st.free.n == 0, "buggy pool: size 2, used 2");
        is_int(alloc_pool_stats(a, 2, &st), 0, "stats of the /64");
        char buf[COUNT_STR_MAX];
        is_str(addr_count_format(&st.size, buf), "2^64", "/64 size is 2^64");
        ok(st.used == 1, "/64 used 1");
        ok(st.free.n == ((u128)1 << 64) - 1, "/64 free is 2^64-1");

        allocator_free(a);
        tset_free(s);
}

static void seed_pool(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        TReq t;
        AllocResult res;
        bool all = true;

        tset_add(s, "cheap", (const char *[]){"192.0.2.150-192.0.2.200", NULL});
        is_int(allocator_new(&a, s), 0, "allocator for the seed pool");
        for (unsigned i = 0; i < 51; i++) {
                char key[32];
                snprintf(key, sizeof(key), "demo/svc%u", i);
                treq_init(&t, key);
                if (svc(a, &t, &res) != 0 || res.addrs[0] != A("192.0.2.150") + i)
                        all = false;
        }
        ok(all, "51 Services get 192.0.2.150 .. 192.0.2.200 in order");
        treq_init(&t, "demo/web");
        is_int(svc(a, &t, &res), ALLOC_E_EXHAUSTED, "the 52nd is refused");
        is_str(res.reason, "no available addresses in pool \"cheap\" (51 of 51 in use)",
               "with the operator's reason");
        ok(!alloc_lookup(a, "demo/web", &res), "and holds nothing");

        is_int(alloc_release(a, "demo/svc30"), 1, "release .180");
        is_int(alloc_release(a, "demo/svc10"), 1, "release .160");
        is_int(alloc_release(a, "demo/svc10"), 0, "release is idempotent");
        is_str(fmt(take(a, "demo/n1", AF_INET)), "192.0.2.160", "lowest freed is reused first");
        is_str(fmt(take(a, "demo/n2", AF_INET)), "192.0.2.180", "then the next");
        AllocPoolStats st;
        alloc_pool_stats(a, 0, &st);
        ok(st.size.n == 51 && st.used == 51 && st.free.n == 0, "stats: 51 size, 51 used, 0 free");
        is_int(allocator_count(a), 51, "51 allocations");
        ok(alloc_lookup(a, "demo/n2", &res) && res.addrs[0] == A("192.0.2.180") && res.pool == 0,
           "lookup by key");
        allocator_free(a);
        tset_free(s);
}

static void order_and_rules(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        TReq t;
        AllocResult res;

        Pool *p;
        tset_add(s, "general", (const char *[]){"192.0.2.0/30", NULL});
        p = tset_add(s, "team", (const char *[]){"198.51.100.0/30", NULL});
        tsel_add(&p->namespace_selectors, &p->n_namespace_selectors, "team", "blue");
        tpool_namespace(p, "ops");
        p->priority = 1;
        p = tset_add(s, "web", (const char *[]){"203.0.113.0/30", NULL});
        tsel_add(&p->service_selectors, &p->n_service_selectors, "app", "web");
        p->has_service_allocation = true;
        p->priority = 2;
        p = tset_add(s, "manual", (const char *[]){"203.0.113.100/30", NULL});
        p->auto_assign = false;
        tset_order(s, (const size_t[]){1, 2, 0, 3});
        is_int(allocator_new(&a, s), 0, "allocator with rules");

        Labels blue = {}, web = {};
        labels_set(&blue, "team", "blue");
        labels_set(&web, "app", "web");

        treq_init(&t, "demo/plain");
        is_int(svc(a, &t, &res), 0, "plain Service");
        is_str(a ? s->pools[res.pool].name : "", "general", "gets the unrestricted pool");

        treq_init(&t, "ops/x");
        is_int(svc(a, &t, &res), 0, "Service in a listed namespace");
        is_str(s->pools[res.pool].name, "team", "priority 1 pool is tried first");

        treq_init(&t, "demo/blue");
        t.r.namespace_labels = &blue;
        is_int(svc(a, &t, &res), 0, "Service in a namespace matched by a selector");
        is_str(s->pools[res.pool].name, "team", "namespaces and selectors are one set");

        treq_init(&t, "demo/w");
        t.r.service_labels = &web;
        is_int(svc(a, &t, &res), 0, "Service with matching labels");
        is_str(s->pools[res.pool].name, "web", "service selector pool before the general one");

        treq_init(&t, "demo/w2");
        t.r.service_labels = &web;
        t.r.namespace_labels = &blue;
        is_int(svc(a, &t, &res), 0, "Service matching both");
        is_str(s->pools[res.pool].name, "team", "priority 1 beats priority 2");

        treq_init(&t, "demo/named");
        t.r.pool = "manual";
        is_int(svc(a, &t, &res), 0, "auto_assign=false pool serves a Service naming it");
        is_str(fmt(res.addrs[0]), "203.0.113.100", "from the manual pool");

        treq_init(&t, "demo/req-manual");
        t.r.requested[0] = A("203.0.113.102");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), 0, "and one asking for one of its addresses");

        treq_init(&t, "demo/teamreq");
        t.r.pool = "team";
        is_int(svc(a, &t, &res), ALLOC_E_NO_POOL, "named pool that does not allow the Service");
        is_str(res.reason,
               "pool \"team\" does not allow demo/teamreq (namespace \"demo\" is neither one of "
               "its namespaces nor matched by its namespace selectors)",
               "reason says why");
        t.r.pool = "nope";
        is_int(svc(a, &t, &res), ALLOC_E_NO_POOL, "unknown pool");
        is_str(res.reason, "pool \"nope\" does not exist", "reason for an unknown pool");

        t.r.pool = NULL;
        t.r.requested[0] = A("198.51.100.1");
        t.r.n_requested = 1;
        t.r.requested_source = "metallb.io/loadBalancerIPs";
        is_int(svc(a, &t, &res), ALLOC_E_NOT_IN_POOL, "requested address in a refusing pool");
        is_str(res.reason,
               "198.51.100.1 (requested by annotation metallb.io/loadBalancerIPs) is in pool "
               "\"team\", which does not allow demo/teamreq (namespace \"demo\" is neither one "
               "of its namespaces nor matched by its namespace selectors)",
               "reason names the pool and the rule");
        t.r.requested[0] = A("192.0.2.99");
        is_int(svc(a, &t, &res), ALLOC_E_NOT_IN_POOL, "address outside every pool");
        is_str(res.reason,
               "192.0.2.99 (requested by annotation metallb.io/loadBalancerIPs) is in no pool",
               "reason for an address outside every pool");
        t.r.requested[0] = A("192.0.2.3");
        t.r.requested_source = "spec.loadBalancerIP";
        t.r.pool = "manual";
        is_int(svc(a, &t, &res), ALLOC_E_NOT_IN_POOL, "address outside the named pool");
        is_str(res.reason,
               "192.0.2.3 (requested in spec.loadBalancerIP) is in pool \"general\", not in the "
               "requested pool \"manual\"",
               "reason for a pool/address mismatch");
        t.r.pool = NULL;
        t.r.requested[0] = A("192.0.2.0");
        is_int(svc(a, &t, &res), ALLOC_E_IN_USE, "requested address taken");
        is_str(res.reason,
               "192.0.2.0 is already in use by demo/plain (this Service has no sharing key)",
               "reason names the holder");
        t.r.requested[0] = A("192.0.2.1");
        is_int(svc(a, &t, &res), 0, "free requested address in an allowing pool");
        is_str(fmt(res.addrs[0]), "192.0.2.1", "gets exactly it");

        /* fill "general" (4 addresses: .0 .1 taken) */
        take(a, "demo/g1", AF_INET);
        take(a, "demo/g2", AF_INET);
        treq_init(&t, "demo/full");
        is_int(svc(a, &t, &res), ALLOC_E_EXHAUSTED, "the only auto pool for demo/full is full");
        is_str(res.reason, "no available addresses in pool \"general\" (4 of 4 in use)",
               "exhaustion names only pools that allow the Service");
        treq_init(&t, "demo/v6");
        treq_families(&t, ALLOC_SINGLE_STACK, AF_INET6, 0);
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "no IPv6 anywhere");
        is_str(res.reason, "no pool that allows demo/v6 has IPv6 addresses", "family reason");

        /* a reload that drops the team pool's namespace rule for ops, keeps others */
        PoolSet *s2 = tset_new();
        tset_add(s2, "general", (const char *[]){"192.0.2.0/30", NULL});
        p = tset_add(s2, "team", (const char *[]){"198.51.100.0/30", NULL});
        tpool_namespace(p, "elsewhere");
        Allocator *b = NULL;
        AllocDropped *dropped = NULL;
        size_t n_dropped = 0;
        is_int(allocator_rebuild(a, s2, &b, &dropped, &n_dropped), 0, "rebuild on reload");
        size_t before = allocator_count(a);
        is_int(n_dropped + allocator_count(b), before, "every allocation is kept or reported");
        bool reported_ops = false, reported_named = false;
        for (size_t i = 0; i < n_dropped; i++) {
                if (strcmp(dropped[i].key, "ops/x") == 0 && dropped[i].error == ALLOC_E_NOT_IN_POOL)
                        reported_ops = true;
                if (strcmp(dropped[i].key, "demo/named") == 0)
                        reported_named = true;
        }
        ok(reported_ops, "ops/x no longer allowed: reported");
        ok(reported_named, "address of a removed pool: reported");
        ok(alloc_lookup(b, "demo/plain", &res) && res.addrs[0] == A("192.0.2.0"),
           "demo/plain keeps 192.0.2.0");
        ok(alloc_lookup(a, "ops/x", &res), "the old allocator is unchanged");
        alloc_dropped_free(dropped, n_dropped);
        allocator_free(b);
        tset_free(s2);

        labels_clear(&blue);
        labels_clear(&web);
        allocator_free(a);
        tset_free(s);
}

static void dual_stack(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        TReq t;
        AllocResult res;

        tset_add(s, "v4only", (const char *[]){"192.0.2.0/31", NULL});
        tset_add(s, "dual", (const char *[]){"2001:db8::/127", "198.51.100.0/31", NULL});
        tset_add(s, "v6only", (const char *[]){"2001:db8:6::/127", NULL});
        is_int(allocator_new(&a, s), 0, "allocator for dual stack");

        treq_init(&t, "demo/req");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET6, AF_INET);
        is_int(svc(a, &t, &res), 0, "RequireDualStack");
        ok(res.n_addrs == 2 && res.addrs[0] == A("2001:db8::") && res.addrs[1] == A("198.51.100.0"),
           "both from the dual pool, IPv6 first as in ipFamilies");

        treq_init(&t, "demo/single6");
        treq_families(&t, ALLOC_SINGLE_STACK, AF_INET6, 0);
        is_int(svc(a, &t, &res), 0, "SingleStack IPv6");
        ok(res.n_addrs == 1 && res.addrs[0] == A("2001:db8::1"), "first pool with IPv6");

        treq_init(&t, "demo/pref");
        treq_families(&t, ALLOC_PREFER_DUAL_STACK, AF_INET, AF_INET6);
        is_int(svc(a, &t, &res), 0, "PreferDualStack, dual pool has only IPv4 left");
        ok(res.n_addrs == 1 && res.addrs[0] == A("192.0.2.0"),
           "falls back to the first pool with the primary family");

        treq_init(&t, "demo/req2");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET, AF_INET6);
        is_int(svc(a, &t, &res), ALLOC_E_EXHAUSTED, "RequireDualStack with no IPv6 left in dual");
        is_str(res.reason,
               "no available addresses in pool \"dual\" (1 of 2 IPv4 addresses in use, 2 of 2 "
               "IPv6 addresses in use)",
               "reason lists the family counts");
        ok(!alloc_lookup(a, "demo/req2", &res), "and nothing is held");
        AllocPoolStats st;
        alloc_pool_stats(a, 0, &st);
        ok(st.used == 1, "v4only still has one used address");

        is_int(alloc_release(a, "demo/single6"), 1, "free an IPv6 address of dual");
        treq_init(&t, "demo/pref");
        treq_families(&t, ALLOC_PREFER_DUAL_STACK, AF_INET, AF_INET6);
        is_int(svc(a, &t, &res), 0, "PreferDualStack again (same key)");
        ok(res.n_addrs == 1 && res.addrs[0] == A("192.0.2.0"),
           "keeps its address; its pool has no IPv6 to add");

        treq_init(&t, "demo/pref6");
        treq_families(&t, ALLOC_PREFER_DUAL_STACK, AF_INET6, AF_INET);
        t.r.requested[0] = A("2001:db8:6::1");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), 0, "PreferDualStack with one requested address");
        t.r.n_requested = 0;
        is_int(svc(a, &t, &res), 0, "same Service without the request");
        ok(res.n_addrs == 1 && res.addrs[0] == A("2001:db8:6::1"), "keeps it");

        treq_init(&t, "demo/fam");
        t.r.requested[0] = A("2001:db8::1");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "IPv6 request for a single-stack IPv4 Service");
        is_str(res.reason, "demo/fam is single-stack IPv4 but 2001:db8::1 is IPv6",
               "family reason for a request");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET, AF_INET6);
        t.r.requested[0] = A("198.51.100.1");
        t.r.requested[1] = A("2001:db8:6::");
        t.r.n_requested = 2;
        is_int(svc(a, &t, &res), ALLOC_E_NOT_IN_POOL, "two requested addresses in two pools");
        t.r.requested[1] = A("198.51.100.0");
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "two requested addresses of one family");
        t.r.requested[1] = A("2001:db8::1");
        is_int(svc(a, &t, &res), 0, "two requested addresses of one pool");
        ok(res.n_addrs == 2 && res.addrs[0] == A("198.51.100.1") &&
               res.addrs[1] == A("2001:db8::1"),
           "in ipFamilies order");

        allocator_free(a);
        tset_free(s);
}

static void sharing(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        TReq t;
        AllocResult res;
        const char *users[4];

        tset_add(s, "p", (const char *[]){"192.0.2.10-192.0.2.12", NULL});
        is_int(allocator_new(&a, s), 0, "allocator for sharing");

        treq_init(&t, "demo/dns-tcp");
        t.r.sharing_key = "dns";
        treq_port(&t, IPPROTO_TCP, 53);
        is_int(svc(a, &t, &res), 0, "first sharer");
        u128 first = res.addrs[0];

        /* the same request again (every reconcile does this): the Service is the only
         * member of its group, which must survive being re-committed (a use after free
         * under ASan before) */
        is_int(svc(a, &t, &res), 0, "first sharer again, alone in its group");
        ok(res.addrs[0] == first, "keeps its address");
        is_int(svc(a, &t, &res), 0, "and once more");

        treq_init(&t, "demo/dns-udp");
        t.r.sharing_key = "dns";
        treq_port(&t, IPPROTO_UDP, 53);
        is_int(svc(a, &t, &res), 0, "second sharer, other protocol");
        ok(res.addrs[0] == first, "shares the address of its key");
        is_int(alloc_users(a, first, users, 4), 2, "two users on the address");

        treq_init(&t, "demo/dns-tcp2");
        t.r.sharing_key = "dns";
        treq_port(&t, IPPROTO_TCP, 53);
        is_int(svc(a, &t, &res), 0, "same key, clashing port, no address requested");
        ok(res.addrs[0] != first, "gets a new address instead");
        is_int(alloc_release(a, "demo/dns-tcp2"), 1, "release it");

        t.r.requested[0] = first;
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_PORT_CLASH, "same key, clashing port, requested");
        is_str(res.reason, "port TCP/53 on 192.0.2.10 is already used by demo/dns-tcp",
               "port clash reason");

        t.r.sharing_key = "other";
        t.ports[0].port = 80;
        is_int(svc(a, &t, &res), ALLOC_E_IN_USE, "different key");
        is_str(res.reason,
               "192.0.2.10 is already in use by demo/dns-tcp and 1 other Service (sharing key "
               "\"dns\" differs)",
               "different key reason");

        t.r.sharing_key = "dns";
        t.r.traffic_local = true;
        t.r.pod_selector = "app=dns";
        is_int(svc(a, &t, &res), ALLOC_E_IN_USE, "Local against Cluster");

        /* Local Services: same pods may share, other pods may not */
        treq_init(&t, "demo/l1");
        t.r.sharing_key = "loc";
        t.r.traffic_local = true;
        t.r.pod_selector = "app=a";
        treq_port(&t, IPPROTO_TCP, 80);
        is_int(svc(a, &t, &res), 0, "Local sharer");
        u128 loc = res.addrs[0];
        treq_init(&t, "demo/l2");
        t.r.sharing_key = "loc";
        t.r.traffic_local = true;
        t.r.pod_selector = "app=a";
        treq_port(&t, IPPROTO_TCP, 443);
        is_int(svc(a, &t, &res), 0, "Local, same pods");
        ok(res.addrs[0] == loc, "shares");
        treq_init(&t, "demo/l3");
        t.r.sharing_key = "loc";
        t.r.traffic_local = true;
        t.r.pod_selector = "app=b";
        treq_port(&t, IPPROTO_TCP, 8080);
        t.r.requested[0] = loc;
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_IN_USE, "Local, other pods");
        is_str(res.reason,
               "192.0.2.11 is already in use by demo/l1 and 1 other Service (sharing needs "
               "externalTrafficPolicy Cluster on both, or both Local and selecting the same "
               "pods)",
               "Local selector reason");

        is_int(alloc_release(a, "demo/l1"), 1, "release one sharer");
        is_int(alloc_users(a, loc, users, 4), 1, "address stays with the other");
        is_str(users[0], "demo/l2", "held by demo/l2");
        is_int(alloc_release(a, "demo/l2"), 1, "release the last sharer");
        is_int(alloc_users(a, loc, users, 4), 0, "address is free");
        is_str(fmt(take(a, "demo/after", AF_INET)), "192.0.2.11", "and handed out again");

        /* adopt follows the same checks */
        treq_init(&t, "demo/adopt");
        u128 x = first;
        is_int(alloc_adopt(a, &t.r, &x, 1, &res), ALLOC_E_IN_USE, "adopting a held address");
        x = A("192.0.2.99");
        is_int(alloc_adopt(a, &t.r, &x, 1, &res), ALLOC_E_NOT_IN_POOL, "adopting outside pools");
        x = A("192.0.2.12");
        is_int(alloc_release(a, "demo/dns-tcp2"), 0, "nothing to release");
        ok(alloc_lookup(a, "demo/after", &res), "demo/after holds something");
        alloc_release(a, "demo/after");
        is_int(alloc_adopt(a, &t.r, &x, 1, &res), 0, "adopting a free address");
        AllocPoolStats st;
        alloc_pool_stats(a, 0, &st);
        ok(st.used == 2, "two addresses used (shared .10 and adopted .12)");

        allocator_free(a);
        tset_free(s);
}

/* A sharer request on key k with the given TCP ports (0-terminated), at addr if non-zero. */
static int sharer(Allocator *a, const char *key, const char *k, u128 addr, AllocResult *res,
                  const uint16_t *ports)
{
        TReq t;
        treq_init(&t, key);
        t.r.sharing_key = k;
        for (size_t i = 0; ports[i]; i++)
                treq_port(&t, IPPROTO_TCP, ports[i]);
        if (addr) {
                t.r.requested[0] = addr;
                t.r.n_requested = 1;
        }
        return svc(a, &t, res);
}

/* The (protocol, port) set of a shared address follows its users through re-commits
 * (every reconcile re-commits each Service: it moves to the end of the users) and
 * releases; a clash names the earliest user, as it always has. */
static void sharing_ports(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        AllocResult res;
        const char *users[8];

        tset_add(s, "p",
                 (const char *[]){"192.0.2.20-192.0.2.21", "2001:db8::20-2001:db8::21", NULL});
        is_int(allocator_new(&a, s), 0, "allocator for port sets");
        is_int(sharer(a, "demo/a", "k", 0, &res, (const uint16_t[]){80, 53, 0}), 0, "a");
        u128 x = res.addrs[0];
        is_int(sharer(a, "demo/b", "k", 0, &res, (const uint16_t[]){443, 0}), 0, "b");
        ok(res.addrs[0] == x, "b shares a's address");
        is_int(sharer(a, "demo/c", "k", 0, &res, (const uint16_t[]){8443, 0}), 0, "c");
        ok(res.addrs[0] == x, "c too");

        /* d's first clashing port is b's, but a came first */
        is_int(sharer(a, "demo/d", "k", x, &res, (const uint16_t[]){443, 80, 0}),
               ALLOC_E_PORT_CLASH, "d clashes with a and b");
        is_str(res.reason, "port TCP/80 on 192.0.2.20 is already used by demo/a",
               "the earliest user is named");

        is_int(sharer(a, "demo/a", "k", 0, &res, (const uint16_t[]){80, 53, 0}), 0,
               "a re-committed");
        is_int(alloc_users(a, x, users, 8), 3, "three users");
        ok(strcmp(users[0], "demo/b") == 0 && strcmp(users[1], "demo/c") == 0 &&
               strcmp(users[2], "demo/a") == 0,
           "a moved to the end");
        is_int(sharer(a, "demo/d", "k", x, &res, (const uint16_t[]){443, 80, 0}),
               ALLOC_E_PORT_CLASH, "d clashes again");
        is_str(res.reason, "port TCP/443 on 192.0.2.20 is already used by demo/b",
               "now b is the earliest");

        is_int(sharer(a, "demo/b", "k", 0, &res, (const uint16_t[]){444, 0}), 0,
               "b re-committed with another port");
        ok(res.addrs[0] == x, "b keeps the address");
        is_int(sharer(a, "demo/d", "k", x, &res, (const uint16_t[]){443, 80, 0}),
               ALLOC_E_PORT_CLASH, "d still clashes with a");
        is_str(res.reason, "port TCP/80 on 192.0.2.20 is already used by demo/a",
               "443 was given up by b");
        is_int(sharer(a, "demo/e", "k", x, &res, (const uint16_t[]){444, 0}), ALLOC_E_PORT_CLASH,
               "b's new port is taken");
        is_str(res.reason, "port TCP/444 on 192.0.2.20 is already used by demo/b", "by b");

        is_int(alloc_release(a, "demo/a"), 1, "release a");
        is_int(sharer(a, "demo/d", "k", x, &res, (const uint16_t[]){443, 80, 0}), 0,
               "a's port is free again");
        is_int(sharer(a, "demo/e", "k", x, &res, (const uint16_t[]){53, 0}), 0,
               "and its other port");
        is_int(sharer(a, "demo/f", "k", x, &res, (const uint16_t[]){80, 0}), ALLOC_E_PORT_CLASH,
               "80 is d's now");
        is_str(res.reason, "port TCP/80 on 192.0.2.20 is already used by demo/d", "by d");

        /* a Service listing one port twice: given up once, on release */
        is_int(sharer(a, "demo/g", "k", x, &res, (const uint16_t[]){9000, 9000, 0}), 0,
               "a port listed twice");
        is_int(sharer(a, "demo/g", "k", x, &res, (const uint16_t[]){9000, 9000, 0}), 0,
               "re-committed");
        is_int(sharer(a, "demo/h", "k", x, &res, (const uint16_t[]){9000, 0}), ALLOC_E_PORT_CLASH,
               "held");
        is_int(alloc_release(a, "demo/g"), 1, "release g");
        is_int(sharer(a, "demo/h", "k", x, &res, (const uint16_t[]){9000, 0}), 0,
               "free after the release");

        /* the Service itself is not counted among the others */
        is_int(alloc_users(a, x, users, 8), 5, "c, b, d, e, h");
        is_int(sharer(a, "demo/b", NULL, x, &res, (const uint16_t[]){444, 0}), ALLOC_E_IN_USE,
               "b without its sharing key");
        is_str(res.reason,
               "192.0.2.20 is already in use by demo/c and 3 other Services (this Service has "
               "no sharing key)",
               "b is not one of the others");

        /* dual stack: one Service on two shared addresses */
        TReq t;
        treq_init(&t, "demo/v1");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET, AF_INET6);
        t.r.sharing_key = "dual";
        treq_port(&t, IPPROTO_TCP, 80);
        is_int(svc(a, &t, &res), 0, "dual-stack sharer");
        u128 y4 = res.addrs[0], y6 = res.addrs[1];
        ok(y4 != x && res.n_addrs == 2, "on the other IPv4 address and an IPv6 one");
        treq_init(&t, "demo/v2");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET, AF_INET6);
        t.r.sharing_key = "dual";
        treq_port(&t, IPPROTO_TCP, 81);
        is_int(svc(a, &t, &res), 0, "second dual-stack sharer");
        ok(res.addrs[0] == y4 && res.addrs[1] == y6, "shares both");
        treq_init(&t, "demo/v1");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET, AF_INET6);
        t.r.sharing_key = "dual";
        treq_port(&t, IPPROTO_TCP, 82);
        is_int(svc(a, &t, &res), 0, "first re-committed with port 82");
        is_int(alloc_users(a, y6, users, 8), 2, "two on the IPv6 address");
        ok(strcmp(users[0], "demo/v2") == 0 && strcmp(users[1], "demo/v1") == 0, "in order");
        treq_init(&t, "demo/v3");
        treq_families(&t, ALLOC_SINGLE_STACK, AF_INET6, 0);
        t.r.sharing_key = "dual";
        treq_port(&t, IPPROTO_TCP, 82);
        t.r.requested[0] = y6;
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_PORT_CLASH, "82 on the IPv6 address");
        is_str(res.reason, "port TCP/82 on 2001:db8::20 is already used by demo/v1", "by v1");
        t.ports[0].port = 80;
        is_int(svc(a, &t, &res), 0, "80 was given up there");
        is_int(alloc_release(a, "demo/v1"), 1, "release v1");
        is_int(alloc_users(a, y4, users, 8), 1, "v2 alone on IPv4");
        is_int(alloc_users(a, y6, users, 8), 2, "v2 and v3 on IPv6");

        allocator_free(a);
        tset_free(s);
}

/* ---- randomized run against a naive model ---- */

static unsigned long long rng;
static unsigned rnd(unsigned n)
{
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return (unsigned)((rng * 2685821657736338717ULL) >> 33) % n;
}

#define NKEYS 80

typedef struct Ref {
        bool live;
        char key[16], ns[4];
        const char *pool_req, *skey, *backend;
        AllocFamilyPolicy policy;
        int fam[2];
        size_t nf;
        AllocPort ports[2];
        size_t np;
        size_t pool, n;
        u128 addrs[2];
} Ref;

static Ref ref[NKEYS];

static bool ref_buggy(u128 x)
{
        return addr_is_v4(x) && (addr_to_v4(x) % 256 == 0 || addr_to_v4(x) % 256 == 255);
}
static const PoolSet *rset;

static bool ref_allows(const Pool *p, const Ref *s)
{
        if (p->n_namespaces == 0)
                return true;
        for (size_t i = 0; i < p->n_namespaces; i++)
                if (strcmp(p->namespaces[i], s->ns) == 0)
                        return true;
        return false;
}

static bool ref_pool_of(u128 x, size_t *pool)
{
        for (size_t i = 0; i < rset->n_pools; i++)
                for (size_t j = 0; j < rset->pools[i].n_ranges; j++)
                        if (range_contains(&rset->pools[i].ranges[j], x)) {
                                if (rset->pools[i].avoid_buggy_ips && ref_buggy(x))
                                        return false;
                                *pool = i;
                                return true;
                        }
        return false;
}

static bool ref_used(u128 x)
{
        for (size_t i = 0; i < NKEYS; i++)
                for (size_t j = 0; ref[i].live && j < ref[i].n; j++)
                        if (ref[i].addrs[j] == x)
                                return true;
        return false;
}

static int ref_sharing(u128 x, const Ref *s)
{
        for (size_t i = 0; i < NKEYS; i++) {
                const Ref *o = &ref[i];
                if (!o->live || strcmp(o->key, s->key) == 0)
                        continue;
                bool holds = false;
                for (size_t j = 0; j < o->n; j++)
                        holds = holds || o->addrs[j] == x;
                if (!holds)
                        continue;
                if (!s->skey || !o->skey || strcmp(s->skey, o->skey) != 0 ||
                    strcmp(s->backend, o->backend) != 0)
                        return ALLOC_E_IN_USE;
        }
        for (size_t i = 0; i < NKEYS; i++) {
                const Ref *o = &ref[i];
                if (!o->live || strcmp(o->key, s->key) == 0)
                        continue;
                for (size_t j = 0; j < o->n; j++)
                        if (o->addrs[j] == x)
                                for (size_t k = 0; k < s->np; k++)
                                        for (size_t l = 0; l < o->np; l++)
                                                if (s->ports[k].protocol == o->ports[l].protocol &&
                                                    s->ports[k].port == o->ports[l].port)
                                                        return ALLOC_E_PORT_CLASH;
        }
        return 0;
}

static bool ref_two(const Ref *s)
{
        return s->policy == ALLOC_REQUIRE_DUAL_STACK ||
               (s->policy == ALLOC_PREFER_DUAL_STACK && s->nf == 2);
}

/* s = the candidate (holding the new request); checks addrs like check_addrs() */
static int ref_check(const Ref *s, const u128 *in, size_t n, u128 *out, size_t *pool)
{
        int prim = s->fam[0];
        if (n == 0 || n > 2)
                return ALLOC_E_INVALID;
        if (n == 2 && addr_family(in[0]) == addr_family(in[1]))
                return ALLOC_E_FAMILY;
        if (s->policy == ALLOC_SINGLE_STACK && (n == 2 || addr_family(in[0]) != prim))
                return ALLOC_E_FAMILY;
        if (s->policy == ALLOC_REQUIRE_DUAL_STACK && n != 2)
                return ALLOC_E_FAMILY;
        if (s->policy == ALLOC_PREFER_DUAL_STACK && !ref_two(s))
                for (size_t i = 0; i < n; i++)
                        if (addr_family(in[i]) != prim)
                                return ALLOC_E_FAMILY;
        out[0] = in[0];
        out[1] = n == 2 ? in[1] : 0;
        if (n == 2 && addr_family(in[0]) != prim) {
                out[0] = in[1];
                out[1] = in[0];
        }
        for (size_t i = 0; i < n; i++) {
                size_t p;
                if (!ref_pool_of(out[i], &p))
                        return ALLOC_E_NOT_IN_POOL;
                if (s->pool_req && strcmp(s->pool_req, rset->pools[p].name) != 0)
                        return ALLOC_E_NOT_IN_POOL;
                if (!ref_allows(&rset->pools[p], s))
                        return ALLOC_E_NOT_IN_POOL;
                if (i == 1 && p != *pool)
                        return ALLOC_E_NOT_IN_POOL;
                *pool = p;
        }
        for (size_t i = 0; i < n; i++) {
                int e = ref_sharing(out[i], s);
                if (e)
                        return e;
        }
        return 0;
}

static bool ref_pick(size_t pool, int f, const Ref *s, u128 *ret)
{
        const Pool *p = &rset->pools[pool];
        bool found = false;
        if (s->skey)
                for (size_t i = 0; i < NKEYS; i++) {
                        const Ref *o = &ref[i];
                        if (!o->live || !o->skey || strcmp(o->skey, s->skey) != 0 ||
                            o->pool != pool)
                                continue;
                        for (size_t j = 0; j < o->n; j++)
                                if (addr_family(o->addrs[j]) == f &&
                                    (!found || o->addrs[j] < *ret) &&
                                    ref_sharing(o->addrs[j], s) == 0) {
                                        *ret = o->addrs[j];
                                        found = true;
                                }
                }
        if (found)
                return true;
        for (size_t j = 0; j < p->n_ranges; j++) {
                if (addr_family(p->ranges[j].first) != f)
                        continue;
                for (u128 x = p->ranges[j].first;; x++) {
                        if (!(p->avoid_buggy_ips && ref_buggy(x)) && !ref_used(x)) {
                                *ret = x;
                                return true;
                        }
                        if (x == p->ranges[j].last)
                                break;
                }
        }
        return false;
}

static bool ref_has(size_t pool, int f)
{
        for (size_t j = 0; j < rset->pools[pool].n_ranges; j++)
                if (addr_family(rset->pools[pool].ranges[j].first) == f)
                        return true;
        return false;
}

/* The reference for alloc_service(): s is the new request (not live); old may be live. */
static int ref_service(Ref *s, const u128 *req, size_t n_req, Ref *old)
{
        u128 addrs[2] = {};
        size_t pool = 0, n = 0;
        int e;
        /* the candidate is compared against everyone but the key itself */
        bool was_live = old->live;

        if (n_req > 0) {
                e = ref_check(s, req, n_req, addrs, &pool);
                if (e)
                        return e;
                n = n_req;
                goto done;
        }
        if (was_live && ref_check(s, old->addrs, old->n, addrs, &pool) == 0) {
                n = old->n;
                if (n == 1 && s->policy == ALLOC_PREFER_DUAL_STACK && ref_two(s)) {
                        int other = addr_family(addrs[0]) == AF_INET ? AF_INET6 : AF_INET;
                        if (ref_pick(pool, other, s, &addrs[1])) {
                                if (addr_family(addrs[0]) != s->fam[0]) {
                                        u128 t = addrs[0];
                                        addrs[0] = addrs[1];
                                        addrs[1] = t;
                                }
                                n = 2;
                        }
                }
                goto done;
        }
        size_t cand[8], nc = 0;
        if (s->pool_req) {
                size_t i;
                for (i = 0; i < rset->n_pools; i++)
                        if (strcmp(rset->pools[i].name, s->pool_req) == 0)
                                break;
                if (i == rset->n_pools || !ref_allows(&rset->pools[i], s))
                        return ALLOC_E_NO_POOL;
                cand[nc++] = i;
        } else {
                for (size_t k = 0; k < rset->n_pools; k++) {
                        size_t i = rset->order[k];
                        if (rset->pools[i].auto_assign && ref_allows(&rset->pools[i], s))
                                cand[nc++] = i;
                }
                if (nc == 0)
                        return ALLOC_E_NO_POOL;
        }
        int prim = s->fam[0], sec = prim == AF_INET ? AF_INET6 : AF_INET;
        bool two = ref_two(s), require = s->policy == ALLOC_REQUIRE_DUAL_STACK;
        bool have_p = false, have_s = false;
        size_t pp = 0, sp = 0;
        u128 pa = 0, sa = 0;
        for (size_t k = 0; k < nc; k++) {
                u128 x = 0, y = 0;
                bool hx = ref_pick(cand[k], prim, s, &x);
                bool hy = two && ref_pick(cand[k], sec, s, &y);
                if (hx && (hy || !two)) {
                        addrs[0] = x;
                        addrs[1] = y;
                        n = hy ? 2 : 1;
                        pool = cand[k];
                        goto done;
                }
                if (require)
                        continue;
                if (hx && !have_p) {
                        have_p = true;
                        pp = cand[k];
                        pa = x;
                }
                if (hy && !have_s) {
                        have_s = true;
                        sp = cand[k];
                        sa = y;
                }
        }
        if (have_p || have_s) {
                pool = have_p ? pp : sp;
                addrs[0] = have_p ? pa : sa;
                n = 1;
                goto done;
        }
        bool any = false;
        for (size_t k = 0; k < nc; k++)
                any = any || (require ? ref_has(cand[k], prim) && ref_has(cand[k], sec)
                              : two   ? ref_has(cand[k], prim) || ref_has(cand[k], sec)
                                      : ref_has(cand[k], prim));
        return any ? ALLOC_E_EXHAUSTED : ALLOC_E_FAMILY;
done:
        *old = *s;
        old->live = true;
        old->pool = pool;
        old->n = n;
        old->addrs[0] = addrs[0];
        old->addrs[1] = n == 2 ? addrs[1] : 0;
        return 0;
}

static const char *const skeys[] = {NULL, "s1", "s2"};
static const char *const pools_req[] = {NULL, NULL, NULL, NULL, "dual", "manual", "nope"};

static u128 random_addr(void)
{
        unsigned k = rnd(10);
        if (k == 0)
                return A("192.0.2.99"); /* outside every pool */
        const Pool *p = &rset->pools[rnd(rset->n_pools)];
        const AddrRange *r = &p->ranges[rnd(p->n_ranges)];
        u128 span = r->last - r->first;
        u128 x = r->first + (span < 1000 ? rnd((unsigned)span + 1) : rnd(1000));
        return k == 1 ? r->last + 1 : x;
}

static void random_request(Ref *s, TReq *t, unsigned i)
{
        static const int fams[][2] = {
            {AF_INET, 0}, {AF_INET6, 0}, {AF_INET, AF_INET6}, {AF_INET6, AF_INET}};
        memset(s, 0, sizeof(*s));
        snprintf(s->key, sizeof(s->key), "%s/s%u", i % 2 ? "a" : "b", i / 2);
        snprintf(s->ns, sizeof(s->ns), "%s", i % 2 ? "a" : "b");
        s->policy = (AllocFamilyPolicy)rnd(3);
        const int *f = fams[s->policy == ALLOC_SINGLE_STACK ? rnd(2) : 2 + rnd(2)];
        if (s->policy == ALLOC_PREFER_DUAL_STACK && rnd(3) == 0)
                f = fams[rnd(2)]; /* a single-family cluster */
        s->fam[0] = f[0];
        s->fam[1] = f[1];
        s->nf = f[1] ? 2 : 1;
        s->pool_req = pools_req[rnd(ELEMENTSOF(pools_req))];
        s->skey = skeys[rnd(3)];
        bool local = rnd(4) == 0;
        s->backend = local ? (rnd(2) ? "app=x" : "app=y") : "";
        s->np = rnd(3);
        for (size_t k = 0; k < s->np; k++)
                s->ports[k] =
                    (AllocPort){rnd(2) ? IPPROTO_TCP : IPPROTO_UDP, (uint16_t)(80 + rnd(3))};

        treq_init(t, s->key);
        treq_families(t, s->policy, s->fam[0], s->fam[1]);
        t->r.pool = s->pool_req;
        t->r.sharing_key = s->skey;
        t->r.traffic_local = local;
        t->r.pod_selector = local ? s->backend : NULL;
        for (size_t k = 0; k < s->np; k++)
                treq_port(t, s->ports[k].protocol, s->ports[k].port);
}

static bool same_as_ref(Allocator *a, unsigned i)
{
        AllocResult res;
        bool has = alloc_lookup(a, ref[i].key, &res);
        if (has != ref[i].live)
                return false;
        if (!has)
                return true;
        return res.n_addrs == ref[i].n && res.pool == ref[i].pool &&
               res.addrs[0] == ref[i].addrs[0] &&
               (res.n_addrs < 2 || res.addrs[1] == ref[i].addrs[1]);
}

static void randomized(unsigned ops)
{
        PoolSet *s = tset_new();
        Allocator *a;
        Pool *p;

        tset_add(s, "v4a", (const char *[]){"192.0.2.250-192.0.3.5", "192.0.2.10-192.0.2.12", NULL})
            ->avoid_buggy_ips = true;
        p = tset_add(s, "dual",
                     (const char *[]){"198.51.100.0/29", "2001:db8:1::fffe-2001:db8:1::1:3", NULL});
        tpool_namespace(p, "a");
        tset_add(s, "v6", (const char *[]){"2001:db8:2::/126", NULL});
        p = tset_add(s, "manual", (const char *[]){"203.0.113.0/30", "2001:db8:3::/127", NULL});
        p->auto_assign = false;
        tset_order(s, (const size_t[]){1, 0, 2, 3});
        rset = s;
        memset(ref, 0, sizeof(ref));
        if (allocator_new(&a, s) < 0)
                abort();

        unsigned bad = 0, n_ok = 0, n_refused = 0, first_bad = 0;
        for (unsigned op = 0; op < ops; op++) {
                unsigned i = rnd(NKEYS), kind = rnd(10);
                AllocResult res;
                Ref cand;
                TReq t;
                int got, want;

                if (kind < 2) {
                        /* release (live or not) */
                        got = alloc_release(a, ref[i].key[0] ? ref[i].key : "a/none");
                        want = ref[i].live;
                        ref[i].live = false;
                } else if (kind < 4) {
                        /* same request again for a live key, else a fresh one */
                        if (ref[i].live) {
                                cand = ref[i];
                                treq_init(&t, cand.key);
                                treq_families(&t, cand.policy, cand.fam[0], cand.fam[1]);
                                t.r.pool = cand.pool_req;
                                t.r.sharing_key = cand.skey;
                                t.r.traffic_local = cand.backend[0] != 0;
                                t.r.pod_selector = cand.backend;
                                for (size_t k = 0; k < cand.np; k++)
                                        treq_port(&t, cand.ports[k].protocol, cand.ports[k].port);
                        } else
                                random_request(&cand, &t, i);
                        got = svc(a, &t, &res);
                        want = ref_service(&cand, NULL, 0, &ref[i]);
                } else if (kind < 7) {
                        random_request(&cand, &t, i);
                        got = svc(a, &t, &res);
                        want = ref_service(&cand, NULL, 0, &ref[i]);
                } else if (kind < 9) {
                        random_request(&cand, &t, i);
                        t.r.n_requested = 1 + rnd(2);
                        for (size_t k = 0; k < t.r.n_requested; k++)
                                t.r.requested[k] = random_addr();
                        got = svc(a, &t, &res);
                        want = ref_service(&cand, t.r.requested, t.r.n_requested, &ref[i]);
                } else {
                        random_request(&cand, &t, i);
                        u128 x[2] = {random_addr(), random_addr()};
                        size_t n = 1 + rnd(2);
                        got = alloc_adopt(a, &t.r, x, n, &res);
                        u128 sorted[2];
                        size_t pool = 0;
                        want = ref_check(&cand, x, n, sorted, &pool);
                        if (want == 0) {
                                ref[i] = cand;
                                ref[i].live = true;
                                ref[i].pool = pool;
                                ref[i].n = n;
                                ref[i].addrs[0] = sorted[0];
                                ref[i].addrs[1] = n == 2 ? sorted[1] : 0;
                        }
                }
                if (got > 0)
                        n_refused++;
                else
                        n_ok++;
                bool good = got == want && same_as_ref(a, i);
                if (got > 0 && !res.reason[0] && kind >= 2)
                        good = false; /* every refusal says why */
                for (size_t k = 0; k < s->n_pools && good; k++) {
                        AllocPoolStats st;
                        size_t used = 0;
                        alloc_pool_stats(a, k, &st);
                        for (const Pool *pp = &s->pools[k]; pp; pp = NULL)
                                for (size_t j = 0; j < pp->n_ranges; j++)
                                        for (u128 x = pp->ranges[j].first;; x++) {
                                                used += ref_used(x);
                                                if (x == pp->ranges[j].last)
                                                        break;
                                        }
                        good = st.used == used;
                }
                if (op % 200 == 0)
                        for (unsigned k = 0; k < NKEYS && good; k++)
                                good = same_as_ref(a, k);
                if (!good) {
                        if (!bad)
                                first_bad = op;
                        bad++;
                        if (bad < 5)
                                printf("# op %u kind %u key %s: got %d want %d (%s)\n", op, kind,
                                       ref[i].key, got, want, res.reason);
                }
        }
        unsigned k;
        for (k = 0; k < NKEYS && same_as_ref(a, k); k++)
                ;
        ok(!bad && k == NKEYS,
           "randomized: %u operations (%u granted, %u refused) identical to the naive model%s", ops,
           n_ok, n_refused, bad ? " (see diagnostics)" : "");
        if (bad)
                printf("# first mismatch at op %u, %u mismatches\n", first_bad, bad);
        ok(n_ok > ops / 4 && n_refused > ops / 20, "randomized run exercises both outcomes");
        allocator_free(a);
        tset_free(s);
}

/* Addresses that are the Nodes' own: skipped by the automatic choice (also with
 * avoid_buggy_ips, and across the end of a range), refused on request, on adoption and
 * for a Service that already holds one; carried over by a rebuild. */
static void excluded(void)
{
        PoolSet *s = tset_new();
        Allocator *a, *b = NULL;
        AllocDropped *dropped = NULL;
        size_t n_dropped = 0;
        uint64_t tag = 0;
        TReq t;
        AllocResult res;

        tset_add(s, "lan",
                 (const char *[]){"192.0.2.10-192.0.2.12", "192.0.2.20-192.0.2.21", NULL});
        is_int(allocator_new(&a, s), 0, "allocator");
        ok(!allocator_excluded_tag(a, &tag), "no excluded set yet");
        ok(take(a, "demo/early", AF_INET) == A("192.0.2.10"), "before: 192.0.2.10 is handed out");
        AllocExcluded x[] = {
            {A("192.0.2.11"), "node2's InternalIP"},
            {A("192.0.2.12"), "node2's ExternalIP"},
            {A("192.0.2.10"), "node1's InternalIP"},
            {A("192.0.2.11"), "node3's InternalIP"}, /* the same address again: first wins */
        };
        is_int(allocator_set_excluded(a, x, ELEMENTSOF(x), 7), 0, "set the Nodes' addresses");
        ok(allocator_excluded_tag(a, &tag) && tag == 7, "tag 7 kept");

        ok(take(a, "demo/auto", AF_INET) == A("192.0.2.20"),
           "the automatic choice skips .11 and .12 (and the end of the first range)");

        treq_init(&t, "demo/ask");
        t.r.requested[0] = A("192.0.2.11");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_IN_USE, "requesting node2's InternalIP: refused");
        is_str(res.reason, "address 192.0.2.11 is node2's InternalIP", "the reason names it");
        t.r.requested[0] = A("192.0.2.12");
        is_int(svc(a, &t, &res), ALLOC_E_IN_USE, "requesting node2's ExternalIP: refused");
        is_str(res.reason, "address 192.0.2.12 is node2's ExternalIP", "the reason names it");

        u128 y = A("192.0.2.11");
        treq_init(&t, "demo/status");
        is_int(alloc_adopt(a, &t.r, &y, 1, &res), ALLOC_E_IN_USE, "adopting it: refused");

        /* a Service that got 192.0.2.10 before it became a Node's address moves */
        treq_init(&t, "demo/early");
        is_int(svc(a, &t, &res), 0, "the early Service again");
        ok(res.addrs[0] == A("192.0.2.21"), "it moves to 192.0.2.21 (got %s)", fmt(res.addrs[0]));
        ok(take(a, "demo/full", AF_INET) == 0, "the pool is full without the Nodes' addresses");

        PoolSet *s2 = tset_new();
        tset_add(s2, "lan",
                 (const char *[]){"192.0.2.10-192.0.2.12", "192.0.2.20-192.0.2.21", NULL});
        is_int(allocator_rebuild(a, s2, &b, &dropped, &n_dropped), 0, "rebuild");
        is_int((int)n_dropped, 0, "nothing dropped");
        ok(b && allocator_excluded_tag(b, &tag) && tag == 7, "the rebuilt allocator has the set");
        treq_init(&t, "demo/ask");
        t.r.requested[0] = A("192.0.2.10");
        t.r.n_requested = 1;
        is_int(b ? svc(b, &t, &res) : -1, ALLOC_E_IN_USE, "and refuses node1's InternalIP");
        is_str(res.reason, "address 192.0.2.10 is node1's InternalIP", "naming node1");

        is_int(allocator_set_excluded(a, NULL, 0, 8), 0, "an empty set");
        t.r.requested[0] = A("192.0.2.11");
        is_int(svc(a, &t, &res), 0, "192.0.2.11 can be requested again");
        alloc_dropped_free(dropped, n_dropped);
        allocator_free(b);
        allocator_free(a);
        tset_free(s2);
        tset_free(s);

        /* avoid_buggy_ips: .0 and .255 and the excluded ones are all skipped */
        s = tset_new();
        tset_add(s, "b", (const char *[]){"198.51.100.254-198.51.101.2", NULL})->avoid_buggy_ips =
            true;
        is_int(allocator_new(&a, s), 0, "allocator (avoid_buggy_ips)");
        AllocExcluded z[] = {{A("198.51.100.254"), "n's InternalIP"}, {A("198.51.101.1"), "m's"}};
        is_int(allocator_set_excluded(a, z, 2, 1), 0, "set");
        ok(take(a, "demo/a", AF_INET) == A("198.51.101.2"), "skips .254, .255, .0 and .1");
        ok(take(a, "demo/b", AF_INET) == 0, "then nothing is left");
        allocator_free(a);
        tset_free(s);
}

/* Pre-vetting's view of the allocator: alloc_next_free() walks the addresses the automatic
 * choice hands out, in that order, and the avoided ones are skipped by that choice only. */
static void next_free_and_avoided(void)
{
        PoolSet *s = tset_new();
        Allocator *a, *b = NULL;
        AllocDropped *dropped = NULL;
        size_t n_dropped = 0;
        AllocCursor c = {0};
        u128 v, got[8];
        size_t n = 0;
        TReq t;
        AllocResult res;

        /* written order: the higher range first, with an IPv6 range between */
        tset_add(s, "lan",
                 (const char *[]){"192.0.2.20-192.0.2.21", "2001:db8::1-2001:db8::2",
                                  "192.0.2.10-192.0.2.12", NULL});
        is_int(allocator_new(&a, s), 0, "allocator");
        AllocExcluded x[] = {{A("192.0.2.11"), "node2's InternalIP"}};
        is_int(allocator_set_excluded(a, x, 1, 1), 0, "exclude 192.0.2.11");
        ok(take(a, "demo/first", AF_INET) == A("192.0.2.20"), "the first goes to .20");
        while (n < 8 && alloc_next_free(a, 0, AF_INET, &c, &v))
                got[n++] = v;
        is_int((int)n, 3, "three IPv4 addresses are free and not excluded");
        ok(n == 3 && got[0] == A("192.0.2.21") && got[1] == A("192.0.2.10") &&
               got[2] == A("192.0.2.12"),
           "in the written order of the ranges: .21, .10, .12");
        c = (AllocCursor){0};
        ok(alloc_next_free(a, 0, AF_INET6, &c, &v) && v == A("2001:db8::1"), "IPv6: ::1 first");
        ok(alloc_next_free(a, 0, AF_INET6, &c, &v) && v == A("2001:db8::2"), "then ::2");
        ok(!alloc_next_free(a, 0, AF_INET6, &c, &v), "then no more");
        c = (AllocCursor){0};
        ok(!alloc_next_free(a, 1, AF_INET, &c, &v), "no pool 1");

        u128 avoid[] = {A("192.0.2.10"), A("192.0.2.21"), A("192.0.2.21")};
        is_int(allocator_set_avoided(a, avoid, ELEMENTSOF(avoid)), 0, "avoid .10 and .21");
        ok(alloc_is_avoided(a, A("192.0.2.10")) && !alloc_is_avoided(a, A("192.0.2.12")),
           "alloc_is_avoided");
        ok(take(a, "demo/second", AF_INET) == A("192.0.2.12"),
           "the automatic choice skips the avoided .21 and .10");
        c = (AllocCursor){0};
        ok(alloc_next_free(a, 0, AF_INET, &c, &v) && v == A("192.0.2.21"),
           "alloc_next_free still lists the avoided ones (.21)");
        ok(take(a, "demo/third", AF_INET) == 0, "only avoided ones left: exhausted");

        treq_init(&t, "demo/ask");
        t.r.requested[0] = A("192.0.2.10");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), 0, "asking for an avoided address by name is not refused here");

        PoolSet *s2 = tset_new();
        tset_add(s2, "lan", (const char *[]){"192.0.2.20-192.0.2.21", "192.0.2.12", NULL});
        is_int(allocator_rebuild(a, s2, &b, &dropped, &n_dropped), 0, "rebuild with .10 gone");
        ok(b && alloc_is_avoided(b, A("192.0.2.21")) && !alloc_is_avoided(b, A("192.0.2.10")),
           "the rebuild keeps .21 avoided and drops .10 (in no pool now)");
        is_int(allocator_set_avoided(a, NULL, 0), 0, "an empty set");
        ok(take(a, "demo/third", AF_INET) == A("192.0.2.21"), ".21 is handed out again");
        alloc_dropped_free(dropped, n_dropped);
        allocator_free(b);
        allocator_free(a);
        tset_free(s2);
        tset_free(s);
}

/* Issue 10 item 1: with no pool configured every request says so, whatever it asks. */
static void no_pools(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        TReq t;
        AllocResult res;

        is_int(allocator_new(&a, s), 0, "allocator without pools");
        treq_init(&t, "demo/web");
        is_int(svc(a, &t, &res), ALLOC_E_NO_POOL, "no pools: automatic refused");
        is_str(res.reason, "no pool is configured: demo/web gets no address until a pool is added",
               "no pools: automatic reason");
        t.r.requested[0] = A("192.0.2.10");
        t.r.n_requested = 1;
        is_int(svc(a, &t, &res), ALLOC_E_NO_POOL, "no pools: requested refused");
        is_str(res.reason, "no pool is configured: demo/web gets no address until a pool is added",
               "no pools: requested reason");
        t.r.n_requested = 0;
        t.r.pool = "cheap";
        is_int(svc(a, &t, &res), ALLOC_E_NO_POOL, "no pools: named pool refused");
        is_str(res.reason, "no pool is configured: demo/web gets no address until a pool is added",
               "no pools: named pool reason");
        u128 had = A("192.0.2.10");
        is_int(alloc_adopt(a, &t.r, &had, 1, &res), ALLOC_E_NO_POOL, "no pools: adopt refused");
        is_int(allocator_count(a), 0, "no pools: nothing allocated");
        allocator_free(a);
        tset_free(s);
}

/* Issue 10 item 5: a dual-stack refusal names the family it lacks, from the request. */
static void family_refusals(void)
{
        PoolSet *s = tset_new();
        Allocator *a;
        TReq t;
        AllocResult res;

        tset_add(s, "v4", (const char *[]){"192.0.2.0/30", NULL});
        tset_add(s, "v6", (const char *[]){"2001:db8::/126", NULL});
        is_int(allocator_new(&a, s), 0, "allocator for single-family pools");
        treq_init(&t, "demo/d");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET6, AF_INET);
        t.r.pool = "v6";
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "RequireDualStack IPv6 first, IPv6 pool");
        is_str(res.reason,
               "pool \"v6\" has no IPv4 addresses (RequireDualStack asks for IPv6 and IPv4)",
               "names IPv4, the family the named pool lacks");
        t.r.pool = "v4";
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "RequireDualStack IPv6 first, IPv4 pool");
        is_str(res.reason,
               "pool \"v4\" has no IPv6 addresses (RequireDualStack asks for IPv6 and IPv4)",
               "names IPv6, the family the named pool lacks");
        t.r.pool = NULL;
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "RequireDualStack over two one-family pools");
        is_str(res.reason,
               "no pool that allows demo/d has both IPv6 and IPv4 addresses (RequireDualStack "
               "takes both from one pool)",
               "families in the request's order, both from one pool");
        treq_families(&t, ALLOC_SINGLE_STACK, AF_INET6, 0);
        t.r.pool = "v4";
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "single-stack IPv6 from an IPv4 pool");
        is_str(res.reason, "pool \"v4\" has no IPv6 addresses", "single-stack: the one family");
        allocator_free(a);
        tset_free(s);

        s = tset_new();
        tset_add(s, "v4", (const char *[]){"192.0.2.0/30", NULL});
        is_int(allocator_new(&a, s), 0, "allocator with an IPv4 pool only");
        treq_init(&t, "demo/d4");
        treq_families(&t, ALLOC_REQUIRE_DUAL_STACK, AF_INET, AF_INET6);
        is_int(svc(a, &t, &res), ALLOC_E_FAMILY, "RequireDualStack, no IPv6 anywhere");
        is_str(res.reason,
               "no pool that allows demo/d4 has IPv6 addresses (RequireDualStack asks for IPv4 "
               "and IPv6)",
               "names IPv6, the family no pool has");
        allocator_free(a);
        tset_free(s);
}

/* Issue 10 item 4: a Service deleted while another is created hands its address on when
 * the release comes first (what reconcile does), as MetalLB would; the other order gives
 * the newcomer the next address, the bug this guards against. */
static void release_before_allocate(void)
{
        PoolSet *s = tset_new();
        Allocator *a;

        tset_add(s, "cheap", (const char *[]){"192.0.2.150-192.0.2.200", NULL});
        is_int(allocator_new(&a, s), 0, "allocator for release-before-allocate");
        ok(take(a, "demo/old", AF_INET) == A("192.0.2.150"), "demo/old gets .150");
        ok(take(a, "demo/other", AF_INET) == A("192.0.2.151"), "demo/other gets .151");
        is_int(alloc_release(a, "demo/old"), 1, "demo/old released first");
        u128 got = take(a, "demo/new", AF_INET);
        ok(got == A("192.0.2.150"), "demo/new then gets demo/old's .150 (got %s)", fmt(got));
        /* allocate first, release after: the newcomer gets the next free address */
        got = take(a, "demo/newer", AF_INET);
        ok(got == A("192.0.2.152"), "allocating before releasing gives .152 (got %s)", fmt(got));
        is_int(alloc_release(a, "demo/new"), 1, "demo/new released");
        is_int(alloc_release(a, "demo/new"), 0, "a second release is a no-op");
        ok(take(a, "demo/again", AF_INET) == A("192.0.2.150"), ".150 handed out again");
        allocator_free(a);
        tset_free(s);
}

int main(void)
{
        no_pools();
        release_before_allocate();
        family_refusals();
        edges();
        seed_pool();
        order_and_rules();
        dual_stack();
        sharing();
        excluded();
        next_free_and_avoided();
        sharing_ports();
        rng = 0x20261124ULL;
        printf("# randomized seed 0x%llx\n", rng);
        randomized(20000);
        return tap_done();
}
