/* SPDX-License-Identifier: MIT */
/*
 * pools.yaml parser: both forms, every error kind with its exact FILE:LINE:COLUMN text,
 * MetalLB semantics (masking, L2Advertisement matching, allocation order), counts, and
 * the O(n log n) overlap check on large files. Files live in tests/data/pools/.
 */
#include <string.h>
#include <time.h>

#include "pools.h"
#include "tap.h"

static const char *srcdir(void)
{
        const char *s = getenv("top_srcdir");
        return s && *s ? s : ".";
}

/* Parses text; returns the set (or NULL) and fills d. */
static PoolSet *parse(const char *text, DiagList *d, int *ret)
{
        PoolSet *s = NULL;
        *ret = pools_parse("t.yaml", text, strlen(text), &s, d);
        return s;
}

static PoolSet *load(const char *name, DiagList *d, int *ret)
{
        char path[4096];
        PoolSet *s = NULL;
        snprintf(path, sizeof(path), "%s/tests/data/pools/%s", srcdir(), name);
        *ret = pools_load(path, &s, d);
        return s;
}

/* All diagnostics of at least `min` severity, formatted, joined by "\n". */
static char *diags_text(const DiagList *d, DiagLevel min, const char *strip)
{
        char *out = strdup("");
        for (size_t i = 0; i < d->n; i++) {
                if (d->items[i].level > min)
                        continue;
                _cleanup_free_ char *s = diag_format(&d->items[i]);
                const char *t = s;
                if (strip && strncmp(t, strip, strlen(strip)) == 0)
                        t += strlen(strip);
                char *n = NULL;
                if (asprintf(&n, "%s%s%s", out, *out ? "\n" : "", t) < 0)
                        abort();
                free(out);
                out = n;
        }
        return out;
}

/* Parses text that must fail with exactly `want` (errors and warnings, in order). */
static void check_errors(const char *name, const char *text, const char *want)
{
        DiagList d = {0};
        int r;
        PoolSet *s = parse(text, &d, &r);
        is_int(r, -EINVAL, "%s: refused", name);
        ok(s == NULL, "%s: no set", name);
        _cleanup_free_ char *got = diags_text(&d, DIAG_WARNING, NULL);
        is_str(got, want, "%s: diagnostics", name);
        pool_set_free(s);
        diag_list_clear(&d);
}

/* text parses, with no pool, and exactly these warnings */
static void check_empty(const char *name, const char *text, const char *want)
{
        DiagList d = {0};
        int r;
        PoolSet *s = parse(text, &d, &r);
        is_int(r, 0, "%s: valid", name);
        ok(s && s->n_pools == 0, "%s: no pools", name);
        _cleanup_free_ char *got = diags_text(&d, DIAG_WARNING, NULL);
        is_str(got, want, "%s: warning", name);
        pool_set_free(s);
        diag_list_clear(&d);
}

/* Item 1 of issue 10: a stream without pools is valid (with a warning). The
 * L2Advertisement-only file follows MetalLB's docs/configuration/_index.md ("Layer 2
 * configuration"), where the L2Advertisement is a separate object from the pool. */
static void test_no_pools(void)
{
        check_empty("empty file", "",
                    "t.yaml:1:1: warning: no pools defined (expected a \"pools:\" list or "
                    "MetalLB IPAddressPool documents): mlbd runs but hands out no address");
        check_empty("only empty documents", "---\n---\n# nothing\n...\n",
                    "t.yaml:1:1: warning: no pools defined (expected a \"pools:\" list or "
                    "MetalLB IPAddressPool documents): mlbd runs but hands out no address");
        check_empty("empty pools list", "pools: []\n",
                    "t.yaml:1:8: warning: no pools defined: mlbd runs but hands out no address");
        check_empty("List without items", "apiVersion: v1\nkind: List\n",
                    "t.yaml:1:1: warning: no IPAddressPool in the file: mlbd runs but hands "
                    "out no address");
        check_empty("only L2Advertisements",
                    "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                    "  name: example\n  namespace: metallb-system\nspec:\n  ipAddressPools:\n"
                    "  - first-pool\n",
                    "t.yaml:1:1: warning: no IPAddressPool in the file: mlbd runs but hands "
                    "out no address");
        check_empty("only other kinds",
                    "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata:\n  name: p\n"
                    "spec:\n  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n",
                    "t.yaml:1:1: warning: no IPAddressPool in the file: mlbd runs but hands "
                    "out no address");
}

/* Item 2 of issue 10: pools + pools_dir as one configuration. */
static int many(const char *a, const char *b, PoolSet **ret, DiagList *d)
{
        PoolSource src[2] = {{"pools.yaml", a, strlen(a)}, {"pools.d/10-b.yaml", b, strlen(b)}};
        return pools_parse_many(src, 2, ret, d);
}

static const char pool_a[] = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                             "  name: first-pool\nspec:\n  addresses:\n"
                             "  - 192.168.1.240-192.168.1.250\n";

static void test_pools_dir(void)
{
        DiagList d = {0};
        PoolSet *s = NULL;
        char path[4096], dir[4096];
        int r;

        /* the directory of tests/data/pools/split, read in name order */
        snprintf(path, sizeof(path), "%s/tests/data/pools/split/pools.yaml", srcdir());
        snprintf(dir, sizeof(dir), "%s/tests/data/pools/split/pools.d", srcdir());
        r = pools_load_all(path, dir, &s, &d);
        is_int(r, 0, "split: pools.yaml + pools.d load as one configuration");
        _cleanup_free_ char *w = diags_text(&d, DIAG_NOTICE, NULL);
        is_str(w, "", "split: no diagnostics (README, .hidden.yaml, *.yaml.bak not read)");
        if (s) {
                is_int(s->n_files, 3, "split: 3 files read");
                ok(s->n_files == 3 && strstr(s->files[1], "/10-l2.yaml") &&
                       strstr(s->files[2], "/20-labelled.yaml"),
                   "split: pools first, then pools.d in name order");
                is_int(s->n_pools, 2, "split: 2 pools");
                ok(s->n_pools == 2 && s->pools[0].file == 0 && s->pools[1].file == 2,
                   "split: each pool knows its file");
                ok(pool_is_announced(s, 0), "split: first-pool announced by 10-l2.yaml's advert");
                ok(pool_is_announced(s, 1), "split: second-pool announced by its selector");
                const Advert *ex = NULL;
                for (size_t i = 0; i < s->n_adverts; i++)
                        if (strcmp(s->adverts[i].name, "example") == 0)
                                ex = &s->adverts[i];
                ok(ex && ex->n_pools == 1 && ex->pools[0] == 0 && ex->file == 1,
                   "split: advert \"example\" (file 1) covers first-pool only");
        }
        pool_set_free(s);
        s = NULL;
        diag_list_clear(&d);

        /* a missing directory is no extra file */
        snprintf(dir, sizeof(dir), "%s/tests/data/pools/split/no-such-dir", srcdir());
        is_int(pools_load_all(path, dir, &s, &d), 0, "missing pools_dir: just the pools file");
        ok(s && s->n_files == 1 && s->n_pools == 1, "missing pools_dir: 1 file, 1 pool");
        pool_set_free(s);
        s = NULL;
        diag_list_clear(&d);

        /* overlap across files: at the later one, naming the other file */
        r = many(pool_a,
                 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                 "  name: other\nspec:\n  addresses:\n  - 192.168.1.250/32\n",
                 &s, &d);
        is_int(r, -EINVAL, "overlap across files refused");
        _cleanup_free_ char *o = diags_text(&d, DIAG_WARNING, NULL);
        is_str(o,
               "pools.d/10-b.yaml:7:5: 192.168.1.250 overlaps 192.168.1.240-192.168.1.250 of pool "
               "\"first-pool\" at pools.yaml:7:5",
               "overlap: each place names its own file");
        diag_list_clear(&d);

        /* duplicate names across files */
        r = many(pool_a,
                 "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                 "  name: first-pool\nspec:\n  addresses:\n  - 10.0.0.0/24\n",
                 &s, &d);
        is_int(r, -EINVAL, "duplicate name across files refused");
        _cleanup_free_ char *dn = diags_text(&d, DIAG_WARNING, NULL);
        is_str(dn,
               "pools.d/10-b.yaml:4:9: duplicate pool name \"first-pool\" (first defined at "
               "pools.yaml:4:9)",
               "duplicate name: both files named");
        diag_list_clear(&d);

        /* an error inside the second file names that file */
        r = many(pool_a, "pools:\n  - name: b\n    addresses: [10.0.0.9-10.0.0.1]\n", &s, &d);
        is_int(r, -EINVAL, "bad second file refused");
        _cleanup_free_ char *bad = diags_text(&d, DIAG_WARNING, NULL);
        ok(strncmp(bad, "pools.d/10-b.yaml:3:", 20) == 0, "error names the second file (%s)", bad);
        diag_list_clear(&d);

        /* a native file and a MetalLB file: each keeps its own form and rule */
        r = many("pools:\n  - name: native\n    addresses: [10.0.0.0/28]\n",
                 "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                 "  name: all\n",
                 &s, &d);
        is_int(r, 0, "native file + L2Advertisement-only file");
        _cleanup_free_ char *nm = diags_text(&d, DIAG_WARNING, NULL);
        is_str(nm, "", "no \"no pools\" warning: the set has a pool");
        ok(s && s->n_pools == 1 && pool_is_announced(s, 0), "native pool announced (its own rule)");
        pool_set_free(s);
        s = NULL;
        diag_list_clear(&d);

        /* no pool in any file: one warning */
        r = many("# nothing yet\n",
                 "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                 "  name: all\n",
                 &s, &d);
        is_int(r, 0, "no pool anywhere: valid");
        _cleanup_free_ char *np = diags_text(&d, DIAG_WARNING, NULL);
        is_str(np,
               "pools.yaml:1:1: warning: no pool in any of the 2 pools files: mlbd runs but hands "
               "out no address",
               "no pool anywhere: one warning");
        pool_set_free(s);
        diag_list_clear(&d);
}

#define PREF_POOL                                                                                  \
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: "                 \
        "production-pool\n"                                                                        \
        "spec:\n  addresses: [192.168.10.0/24]\n---\n"
#define PREF_AD(name)                                                                              \
        "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: " name "\n"     \
        "spec:\n  ipAddressPools: [production-pool]\n"

/* Item 3 of issue 10: preferredNodeSelectors as in MetalLB's design/preferred-node-l2.md
 * (its "Multi-Tier Zone Preference" and "Cumulative Weights" examples, and its rules). */
static void test_preferred(void)
{
        DiagList d = {0};
        int r;
        PoolSet *s = parse(PREF_POOL PREF_AD("tiered-zones") "  preferredNodeSelectors:\n"
                                                             "    - weight: 100\n"
                                                             "      preference:\n"
                                                             "        matchLabels:\n"
                                                             "          zone: primary\n"
                                                             "    - weight: 50\n"
                                                             "      preference:\n"
                                                             "        matchExpressions:\n"
                                                             "        - key: zone\n"
                                                             "          operator: In\n"
                                                             "          values: [secondary]\n",
                           &d, &r);
        is_int(r, 0, "preferred: the design note's tiered example loads");
        const Advert *a = s && s->n_adverts == 1 ? &s->adverts[0] : NULL;
        ok(a && a->n_preferred_node_selectors == 2 && a->preferred_weights[0] == 100 &&
               a->preferred_weights[1] == 50,
           "preferred: two preferences, weights 100 and 50");
        if (a) {
                Labels primary = {0}, secondary = {0}, none = {0};
                labels_set(&primary, "zone", "primary");
                labels_set(&secondary, "zone", "secondary");
                is_int(advert_node_score(a, &primary), 100, "score of a zone=primary node");
                is_int(advert_node_score(a, &secondary), 50, "score of a zone=secondary node");
                is_int(advert_node_score(a, &none), 0, "score of a node in neither zone");
                labels_clear(&primary);
                labels_clear(&secondary);
        }
        pool_set_free(s);
        diag_list_clear(&d);

        s = parse(PREF_POOL PREF_AD("cumulative-example") "  preferredNodeSelectors:\n"
                                                          "    - weight: 60\n"
                                                          "      preference:\n"
                                                          "        matchLabels: {zone: primary}\n"
                                                          "    - weight: 50\n"
                                                          "      preference:\n"
                                                          "        matchLabels: {gpu: \"true\"}\n",
                  &d, &r);
        a = s && s->n_adverts == 1 ? &s->adverts[0] : NULL;
        if (a) {
                Labels both = {0};
                labels_set(&both, "zone", "primary");
                labels_set(&both, "gpu", "true");
                is_int(advert_node_score(a, &both), 110, "cumulative: both preferences, 110");
                labels_clear(&both);
        } else
                ok(false, "cumulative example loads");
        pool_set_free(s);
        diag_list_clear(&d);

        check_errors("weight 0",
                     PREF_POOL PREF_AD("a") "  preferredNodeSelectors:\n  - weight: 0\n"
                                            "    preference: {matchLabels: {zone: a}}\n",
                     "t.yaml:15:13: weight: 0 is out of range (1-100)");
        check_errors("weight 101",
                     PREF_POOL PREF_AD("a") "  preferredNodeSelectors:\n  - weight: 101\n"
                                            "    preference: {matchLabels: {zone: a}}\n",
                     "t.yaml:15:13: weight: 101 is out of range (1-100)");
        check_errors("no weight",
                     PREF_POOL PREF_AD("a") "  preferredNodeSelectors:\n"
                                            "  - preference: {matchLabels: {zone: a}}\n",
                     "t.yaml:15:5: preferredNodeSelectors entry has no weight (1-100)");
        check_errors("the shape mlbd used to expect",
                     PREF_POOL PREF_AD("a") "  preferredNodeSelectors:\n"
                                            "  - matchLabels: {zone: a}\n",
                     "t.yaml:15:5: unknown key \"matchLabels\" in preferredNodeSelectors entry\n"
                     "t.yaml:15:5: preferredNodeSelectors entry has no weight (1-100)\n"
                     "t.yaml:15:5: preferredNodeSelectors entry has no preference");
        check_errors("serviceSelectors with preferredNodeSelectors",
                     PREF_POOL PREF_AD("a") "  serviceSelectors:\n  - matchLabels: {app: web}\n"
                                            "  preferredNodeSelectors:\n  - weight: 10\n"
                                            "    preference: {matchLabels: {zone: a}}\n",
                     "t.yaml:16:3: an L2Advertisement cannot set both serviceSelectors and "
                     "preferredNodeSelectors (the preference would apply to every Service of the "
                     "pool); give those Services a pool of their own");
        check_errors(
            "two preference-bearing L2Advertisements on one pool",
            PREF_POOL PREF_AD("a") "  preferredNodeSelectors:\n  - weight: 10\n"
                                   "    preference: {matchLabels: {zone: a}}\n"
                                   "---\n" PREF_AD("b") "  preferredNodeSelectors:\n"
                                                        "  - weight: 20\n    preference: {}\n",
            "t.yaml:21:9: L2Advertisement \"b\" sets preferredNodeSelectors for pool "
            "\"production-pool\", which L2Advertisement \"a\" at t.yaml:11:9 already "
            "does; a pool takes its preferences from one L2Advertisement");
}

static char *range_str(const Pool *p, size_t i)
{
        static char buf[RANGE_STR_MAX];
        return (char *)range_format_cidr(&p->ranges[i], buf);
}

static void test_native_good(void)
{
        DiagList d = {0};
        int r;
        _cleanup_(pool_set_freep) PoolSet *s = load("native-good.yaml", &d, &r);

        is_int(r, 0, "native-good: parses");
        is_int(d.n, 0, "native-good: no diagnostics");
        if (!s)
                return;
        ok(!s->metallb, "native-good: native form");
        is_int(s->n_pools, 3, "native-good: 3 pools");
        const Pool *c = pool_set_find(s, "cheap");
        ok(c && c == &s->pools[0], "native-good: find cheap");
        is_int(c->n_ranges, 3, "cheap: 3 ranges");
        is_str(range_str(c, 0), "172.16.16.150-172.16.16.200", "cheap: range kept as written");
        is_str(range_str(c, 1), "192.0.2.0/28", "cheap: CIDR second");
        is_str(range_str(c, 2), "2001:db8:1::/64", "cheap: IPv6 third");
        is_int(c->range_pos[1].line, 6, "cheap: range 1 line");
        is_int(c->range_pos[1].column, 9, "cheap: range 1 column");
        ok(c->auto_assign && !c->avoid_buggy_ips, "cheap: flags");
        is_str(c->interface, "eth0", "cheap: interface");
        ok(c->n_namespaces == 1 && strcmp(c->namespaces[0], "demo") == 0, "cheap: namespaces");
        ok(c->n_service_selectors == 1 &&
               strcmp(labels_get(&c->service_selectors[0].match_labels, "app"), "nginx") == 0,
           "cheap: service selector");
        ok(c->has_service_allocation && c->priority == 0, "cheap: service allocation, priority 0");

        const Pool *e = pool_set_find(s, "expensive");
        ok(e && !e->auto_assign && e->avoid_buggy_ips && e->priority == 5, "expensive: flags");
        is_str(range_str(e, 1), "203.0.113.8/29", "expensive: spaced range");
        ok(e->n_namespace_selectors == 1, "expensive: namespace selector");
        const Pool *pl = pool_set_find(s, "plain");
        ok(pl && !pl->has_service_allocation && pl->auto_assign, "plain: no service allocation");
        ok(!pool_set_find(s, "nope"), "find unknown pool");

        /* one implicit advert per pool */
        is_int(s->n_adverts, 3, "native: 3 implicit adverts");
        ok(s->adverts[0].n_interfaces == 1 && strcmp(s->adverts[0].interfaces[0], "eth0") == 0,
           "advert of cheap: interface eth0");
        ok(s->adverts[1].n_node_selectors == 1 && s->adverts[1].n_pools == 1 &&
               s->adverts[1].pools[0] == 1,
           "advert of expensive: node selector, pool 1");
        for (size_t i = 0; i < 3; i++)
                ok(pool_is_announced(s, i), "native pool %zu announced", i);
        /* expensive (priority 5) then cheap (service allocation, priority 0) then plain */
        ok(s->order[0] == 1 && s->order[1] == 0 && s->order[2] == 2, "native: order");

        AddrCount v4 = {0}, v6 = {0};
        pool_count(c, &v4, &v6);
        ok(v4.n == 51 + 16 && !v4.overflow, "cheap: 67 IPv4 addresses");
        ok(v6.n == (u128)1 << 64 && !v6.overflow, "cheap: a /64 counts 2^64");
        char buf[COUNT_STR_MAX];
        is_str(addr_count_format(&v6, buf), "2^64", "cheap: 2^64 formatted");
        diag_list_clear(&d);
}

static void test_metallb_docs(void)
{
        DiagList d = {0};
        int r;
        PoolSet *s = load("metallb-docs-l2.yaml", &d, &r);

        is_int(r, 0, "docs-l2: parses");
        ok(s && s->metallb && s->n_pools == 1, "docs-l2: one MetalLB pool");
        if (s) {
                is_str(range_str(&s->pools[0], 0), "192.168.1.240-192.168.1.250", "docs-l2: range");
                ok(s->n_adverts == 1 && s->adverts[0].n_pools == 1, "docs-l2: advert covers it");
                ok(pool_is_announced(s, 0), "docs-l2: announced");
                is_int(s->pools[0].pos.line, 6, "docs-l2: pool position is its name");
        }
        is_int(d.n, 0, "docs-l2: no diagnostics");
        s = pool_set_free(s);
        diag_list_clear(&d);

        s = load("metallb-simple-pool-adv-l2.yaml", &d, &r);
        is_int(r, 0, "configsamples simple_pool_adv_l2: parses");
        if (s) {
                AddrCount v4 = {0}, v6 = {0};
                pool_count(&s->pools[0], &v4, &v6);
                ok(v4.n == 256 + 5 && v6.n == 16, "simple_pool_adv_l2: 261 IPv4, 16 IPv6");
                is_str(range_str(&s->pools[0], 2), "fc00:f853:ccd:e799::/124",
                       "simple_pool_adv_l2: IPv6 /124");
        }
        s = pool_set_free(s);
        diag_list_clear(&d);

        s = load("metallb-docs-advanced.yaml", &d, &r);
        is_int(r, 0, "docs-advanced: parses");
        _cleanup_free_ char *txt = diags_text(&d, DIAG_NOTICE, srcdir());
        is_str(txt,
               "/tests/data/pools/metallb-docs-advanced.yaml:70:7: notice: ignoring BGPPeer "
               "(metallb.io/v1beta2): mlbd only reads IPAddressPool and L2Advertisement "
               "(metallb.io)\n"
               "/tests/data/pools/metallb-docs-advanced.yaml:15:9: warning: pool expensive is "
               "not announced by any L2Advertisement; its addresses are allocated but not "
               "announced",
               "docs-advanced: BGPPeer notice and unannounced warning");
        if (s) {
                is_int(s->n_pools, 3, "docs-advanced: 3 pools");
                const Pool *x = pool_set_find(s, "ippool-ns-service-alloc-sample");
                ok(x && x->has_service_allocation && x->priority == 50 && x->n_namespaces == 2 &&
                       x->n_namespace_selectors == 1 && x->n_service_selectors == 1 &&
                       x->avoid_buggy_ips,
                   "docs-advanced: serviceAllocation read");
                const SelectorExpr *e = x ? &x->service_selectors[0].exprs[0] : NULL;
                ok(e && x->service_selectors[0].n_exprs == 1 && strcmp(e->key, "app") == 0 &&
                       e->op == SELECTOR_IN && e->n_values == 1 && strcmp(e->values[0], "bar") == 0,
                   "docs-advanced: flow-style matchExpressions");
                ok(!pool_set_find(s, "expensive")->auto_assign, "docs-advanced: autoAssign false");
                ok(pool_is_announced(s, 0) && !pool_is_announced(s, 1) && pool_is_announced(s, 2),
                   "docs-advanced: expensive not announced");
                is_int(s->n_adverts, 2, "docs-advanced: 2 adverts");
                ok(s->adverts[0].n_node_selectors == 2 && s->adverts[1].n_interfaces == 2,
                   "docs-advanced: node selectors and interfaces");
                ok(s->order[0] == 2 && s->order[1] == 0 && s->order[2] == 1,
                   "docs-advanced: pool with serviceAllocation first");
        }
        s = pool_set_free(s);
        diag_list_clear(&d);

        s = load("metallb-kubectl-dump.yaml", &d, &r);
        is_int(r, 0, "kubectl dump (List, annotations, managedFields, status): parses");
        is_int(d.n, 0, "kubectl dump: no diagnostics");
        if (s) {
                ok(s->n_pools == 1 && strcmp(labels_get(&s->pools[0].labels, "tier"), "cheap") == 0,
                   "kubectl dump: pool with labels");
                ok(s->n_adverts == 1 && s->adverts[0].n_pools == 1 && pool_is_announced(s, 0),
                   "kubectl dump: advert selects the pool by an Exists expression");
        }
        s = pool_set_free(s);
        diag_list_clear(&d);
}

static void test_seed(void)
{
        DiagList d = {0};
        int r;
        PoolSet *s = load("metallb-seed-typo.yaml", &d, &r);
        _cleanup_free_ char *txt = diags_text(&d, DIAG_NOTICE, srcdir());

        is_int(r, -EINVAL, "seed typo: refused");
        ok(!s, "seed typo: no set");
        is_str(txt,
               "/tests/data/pools/metallb-seed-typo.yaml:9:5: range end 172.16.16.20 is below "
               "its start 172.16.16.150; a range is written lowest-highest\n"
               "/tests/data/pools/metallb-seed-typo.yaml: notice: no L2Advertisement in the "
               "file: every pool is announced (mlbd announces in layer 2 only)",
               "seed typo: exact message");
        diag_list_clear(&d);

        /* the manifest exactly as in the guide */
        check_errors("guide manifest",
                     "apiVersion: metallb.io/v1beta1\n"
                     "kind: IPAddressPool\n"
                     "metadata:\n"
                     "  name: cheap\n"
                     "  namespace: metallb-system\n"
                     "spec:\n"
                     "  addresses:\n"
                     "  - 172.16.16.150-172.16.16.20\n",
                     "t.yaml:8:5: range end 172.16.16.20 is below its start 172.16.16.150; a "
                     "range is written lowest-highest");

        /* the shipped example */
        char path[4096];
        snprintf(path, sizeof(path), "%s/etc/pools.yaml", srcdir());
        s = NULL;
        r = pools_load(path, &s, &d);
        is_int(r, 0, "etc/pools.yaml parses");
        ok(s && s->n_pools == 1 && s->pools[0].n_ranges == 1, "etc/pools.yaml: pool cheap");
        pool_set_free(s);
        diag_list_clear(&d);
}

static void test_errors(void)
{
        check_errors("native host bits",
                     "pools:\n  - name: a\n    addresses:\n      - 192.0.2.5/28\n",
                     "t.yaml:4:9: 192.0.2.5/28 has host bits set; the network is 192.0.2.0/28");
        check_errors("malformed address",
                     "pools:\n  - name: a\n    addresses:\n      - 192.0.2.300\n",
                     "t.yaml:4:9: \"192.0.2.300\" is not a valid IPv4 or IPv6 address, range or "
                     "CIDR");
        check_errors("reversed range",
                     "pools:\n  - name: a\n    addresses:\n      - 192.0.2.9-192.0.2.1\n",
                     "t.yaml:4:9: range end 192.0.2.1 is below its start 192.0.2.9; a range is "
                     "written lowest-highest");
        check_errors("wrong type", "pools:\n  - name: a\n    addresses: {x: y}\n",
                     "t.yaml:3:16: addresses: expected a list, got a mapping");
        check_errors("unknown key", "pools:\n  - name: a\n    adresses:\n      - 192.0.2.0/28\n",
                     "t.yaml:3:5: unknown key \"adresses\" in pool\n"
                     "t.yaml:2:5: pool \"a\" has no addresses");
        check_errors("missing name", "pools:\n  - addresses: [192.0.2.0/28]\n",
                     "t.yaml:2:5: pool has no name");
        check_errors("no addresses", "pools:\n  - name: a\n    addresses: []\n",
                     "t.yaml:3:16: pool \"a\" has no addresses");
        check_errors("duplicate names",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n"
                     "  - name: a\n    addresses: [198.51.100.0/28]\n",
                     "t.yaml:4:5: duplicate pool name \"a\" (first defined at t.yaml:2:5)");
        check_errors("overlap across pools",
                     "pools:\n  - name: a\n    addresses:\n      - 192.0.2.0/28\n"
                     "  - name: b\n    addresses:\n      - 192.0.2.8-192.0.2.20\n",
                     "t.yaml:7:9: 192.0.2.8-192.0.2.20 overlaps 192.0.2.0/28 of pool \"a\" at "
                     "t.yaml:4:9");
        check_errors("overlap inside one pool, reported at the later entry",
                     "pools:\n  - name: a\n    addresses:\n      - 192.0.2.64/26\n"
                     "      - 192.0.2.0/24\n",
                     "t.yaml:5:9: 192.0.2.0/24 overlaps 192.0.2.64/26 of pool \"a\" at t.yaml:4:9");
        check_errors("duplicate key",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n    name: b\n",
                     "t.yaml:4:5: duplicate key \"name\" in pool (first at t.yaml:2:5)");
        check_errors("bad boolean",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n    auto_assign: yes\n",
                     "t.yaml:4:18: auto_assign: expected true or false, got \"yes\"");
        check_errors("huge priority",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n"
                     "    priority: 123456789012345678901234567890\n",
                     "t.yaml:4:15: priority: 123456789012345678901234567890 is out of range "
                     "(0-2147483647)");
        check_errors("negative priority",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n    priority: -1\n",
                     "t.yaml:4:15: priority: -1 is out of range (0-2147483647)");
        check_errors("huge prefix length",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/99999999999999999999]\n",
                     "t.yaml:3:17: \"99999999999999999999\" is not a valid prefix length for IPv4 "
                     "(0-32)");
        check_errors("tab indentation", "pools:\n\t- name: a\n",
                     "t.yaml:2:1: YAML syntax error: found character that cannot start any token "
                     "(while scanning for the next token started at line 2, column 1)");
        check_errors("unclosed flow list", "pools:\n  - name: a\n    addresses: [192.0.2.1\n",
                     "t.yaml:4:1: YAML syntax error: did not find expected ',' or ']' (while "
                     "parsing a flow sequence started at line 3, column 16)");
        check_errors("syntax error at the end of a file without a final newline",
                     "pools:\n  - name: a\n  b",
                     "t.yaml:3:4: YAML syntax error: could not find expected ':' (while scanning a "
                     "simple key started at line 3, column 3)");
        check_errors("empty value at the end of a file without a final newline",
                     "pools:\n  - name: a\n    addresses:",
                     "t.yaml:3:15: addresses: expected a list, got an empty value");
        check_errors("root is a list", "- a\n- b\n",
                     "t.yaml:1:1: expected a mapping (a \"pools:\" list or a MetalLB object), got "
                     "a list");
        check_errors("bad interface",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n"
                     "    interface: a/b\n",
                     "t.yaml:4:16: interface: \"a/b\" is not a valid interface name (1-15 "
                     "characters, no '/' or ':')");
        check_errors("NUL in a name",
                     "pools:\n  - name: \"a\\0b\"\n    addresses: [192.0.2.0/28]\n",
                     "t.yaml:2:11: name: contains a NUL character");
        check_errors("mixed forms",
                     "pools:\n  - name: a\n    addresses: [192.0.2.0/28]\n---\n"
                     "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                     "metadata: {name: b}\nspec: {addresses: [198.51.100.0/28]}\n",
                     "t.yaml:5:1: this document uses the MetalLB form but the one at t.yaml:1:1 "
                     "uses the native form; use one form per file");

        /* MetalLB-specific */
        check_errors("unknown spec key, with a hint",
                     "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
                     "metadata:\n  name: x\nspec:\n  ipaddresspools:\n  - pool1\n"
                     "  nodeSelector:\n  - kubernetes.io/hostname: hostB\n",
                     "t.yaml:6:3: unknown key \"ipaddresspools\" in L2Advertisement spec; did "
                     "you mean \"ipAddressPools\"?\n"
                     "t.yaml:8:3: unknown key \"nodeSelector\" in L2Advertisement spec");
        check_errors("bad selector operator",
                     "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
                     "metadata:\n  name: x\nspec:\n  nodeSelectors:\n  - matchExpressions:\n"
                     "    - {key: a, operator: Maybe}\n    - {key: b, operator: In}\n"
                     "    - {key: c, operator: Exists, values: [x]}\n",
                     "t.yaml:8:26: operator: unknown operator \"Maybe\" (expected In, NotIn, "
                     "Exists or DoesNotExist)\n"
                     "t.yaml:8:7: label selector expression has no operator\n"
                     "t.yaml:9:7: operator In needs at least one value\n"
                     "t.yaml:10:42: operator Exists takes no values");
        check_errors("selector expression without a key",
                     "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                     "metadata: {name: a}\nspec: {addresses: [192.0.2.0/28]}\n---\n"
                     "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
                     "metadata: {name: x}\nspec:\n  ipAddressPoolSelectors:\n"
                     "  - matchExpressions: [{operator: Exists}]\n",
                     "t.yaml:11:24: label selector expression has no key");
        check_errors("duplicate namespace, bad interface in an L2Advertisement",
                     "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                     "metadata: {name: a}\nspec:\n  addresses: [192.0.2.0/28]\n"
                     "  serviceAllocation: {namespaces: [x, y, x]}\n---\n"
                     "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
                     "metadata: {name: x}\nspec: {interfaces: [eth0, averyveryverylongname]}\n",
                     "t.yaml:6:42: namespaces: \"x\" is listed twice (first at t.yaml:6:36)\n"
                     "t.yaml:11:27: interfaces: \"averyveryverylongname\" is not a valid "
                     "interface name (1-15 characters, no '/' or ':')");
        check_errors("unsupported apiVersion",
                     "apiVersion: metallb.io/v1alpha1\nkind: IPAddressPool\n"
                     "metadata: {name: a}\nspec: {addresses: [192.0.2.0/28]}\n",
                     "t.yaml:1:13: apiVersion metallb.io/v1alpha1 is not supported for "
                     "IPAddressPool (expected metallb.io/v1beta1)");
        check_errors("pool without metadata.name",
                     "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                     "metadata: {namespace: x}\nspec: {addresses: [192.0.2.0/28]}\n",
                     "t.yaml:3:11: IPAddressPool has no metadata.name");
        check_errors("no kind", "apiVersion: metallb.io/v1beta1\nmetadata: {name: a}\n",
                     "t.yaml:1:1: document has no kind (expected IPAddressPool or "
                     "L2Advertisement)");
        check_errors("MetalLB overlap across documents",
                     "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                     "metadata: {name: a}\nspec:\n  addresses:\n  - 192.0.2.0/24\n---\n"
                     "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
                     "metadata: {name: b}\nspec:\n  addresses:\n  - 192.0.2.128/25\n",
                     "t.yaml:13:5: 192.0.2.128/25 overlaps 192.0.2.0/24 of pool \"a\" at "
                     "t.yaml:6:5");

        /* five different errors, five lines */
        DiagList d = {0};
        int r;
        PoolSet *s = load("native-errors5.yaml", &d, &r);
        _cleanup_free_ char *txt = diags_text(&d, DIAG_NOTICE, NULL), *want = NULL;
        const char *F = "tests/data/pools/native-errors5.yaml";
        const char *S = srcdir();
        is_int(d.n_errors, 5, "errors5: 5 errors");
        is_int(d.n, 5, "errors5: 5 diagnostics");
        if (asprintf(
                &want,
                "%s/%s:5:9: \"192.0.2.300\" is not a valid IPv4 or IPv6 address, range or CIDR\n"
                "%s/%s:9:5: unknown key \"auto_asign\" in pool\n"
                "%s/%s:13:15: priority: 99999999999 is out of range (0-2147483647)\n"
                "%s/%s:10:5: duplicate pool name \"a\" (first defined at %s/%s:2:5)\n"
                "%s/%s:12:9: 192.0.2.8-192.0.2.20 overlaps 192.0.2.0/28 of pool \"a\" at "
                "%s/%s:4:9",
                S, F, S, F, S, F, S, F, S, F, S, F, S, F) < 0)
                abort();
        is_str(txt, want, "errors5: exact lines");
        ok(s == NULL && r == -EINVAL, "errors5: refused");
        diag_list_clear(&d);
}

static void test_masked(void)
{
        DiagList d = {0};
        int r;
        _cleanup_(pool_set_freep) PoolSet *s = load("metallb-masked.yaml", &d, &r);
        _cleanup_free_ char *txt = diags_text(&d, DIAG_NOTICE, srcdir());

        is_int(r, 0, "masked: accepted");
        is_str(txt,
               "/tests/data/pools/metallb-masked.yaml:7:5: warning: 198.51.100.10/24 has host "
               "bits set; using 198.51.100.0/24 as MetalLB does\n"
               "/tests/data/pools/metallb-masked.yaml: notice: no L2Advertisement in the file: "
               "every pool is announced (mlbd announces in layer 2 only)",
               "masked: warning with place, notice about announcing");
        is_int(d.n_warnings, 1, "masked: one warning");
        if (s) {
                is_str(range_str(&s->pools[0], 0), "198.51.100.0/24", "masked: masked range");
                ok(pool_is_announced(s, 0), "masked: announced without L2Advertisement");
        }
        diag_list_clear(&d);
}

static const char l2_file[] =
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
    "metadata:\n  name: a\n  labels: {zone: east, tier: gold}\n"
    "spec: {addresses: [192.0.2.0/28]}\n"
    "---\n"
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
    "metadata:\n  name: b\n  labels: {zone: west}\n"
    "spec: {addresses: [192.0.2.16/28]}\n"
    "---\n"
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
    "metadata:\n  name: c\n"
    "spec: {addresses: [192.0.2.32/28]}\n"
    "---\n"
    "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n" /* line 22 */
    "metadata: {name: by-label}\n"
    "spec:\n  ipAddressPoolSelectors:\n  - matchLabels: {zone: east}\n"
    "  - matchExpressions: [{key: zone, operator: NotIn, values: [east]}, "
    "{key: zone, operator: Exists}]\n"
    "---\n"
    "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
    "metadata: {name: by-name}\n"
    "spec:\n  ipAddressPools: [a, ghost]\n  interfaces: [eth1]\n";

static void test_l2(void)
{
        DiagList d = {0};
        int r;
        PoolSet *s = parse(l2_file, &d, &r);
        _cleanup_free_ char *txt = diags_text(&d, DIAG_NOTICE, NULL);

        is_int(r, 0, "l2: parses");
        is_str(txt,
               "t.yaml:33:23: notice: L2Advertisement \"by-name\" names pool \"ghost\", which is "
               "not defined here; it matches nothing\n"
               "t.yaml:18:9: warning: pool c is not announced by any L2Advertisement; its "
               "addresses are allocated but not announced",
               "l2: undefined pool notice, unannounced pool warning");
        if (s) {
                is_int(s->n_adverts, 2, "l2: two adverts");
                ok(s->adverts[0].n_pools == 2 && s->adverts[0].pools[0] == 0 &&
                       s->adverts[0].pools[1] == 1,
                   "l2: selectors pick a (matchLabels) and b (NotIn + Exists)");
                ok(s->adverts[1].n_pools == 1 && s->adverts[1].pools[0] == 0 &&
                       s->adverts[1].n_interfaces == 1,
                   "l2: by-name picks a only");
                ok(pool_is_announced(s, 0) && pool_is_announced(s, 1) && !pool_is_announced(s, 2),
                   "l2: c not announced");
                is_str(s->adverts[0].name, "by-label", "l2: advert name");
        }
        pool_set_free(s);
        diag_list_clear(&d);

        /* an L2Advertisement with an empty spec covers every pool */
        s = parse("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\n"
                  "spec: {addresses: [192.0.2.0/28]}\n---\n"
                  "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: b}\n"
                  "spec: {addresses: [\"2001:db8::/64\"]}\n---\n"
                  "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: all}\n"
                  "spec: {}\n",
                  &d, &r);
        is_int(r, 0, "l2 all: parses");
        ok(s && s->n_adverts == 1 && s->adverts[0].n_pools == 2, "l2 all: covers both pools");
        is_int(d.n, 0, "l2 all: no diagnostics");
        pool_set_free(s);
        diag_list_clear(&d);
}

static void test_order(void)
{
        DiagList d = {0};
        int r;
        /* MetalLB: pools with serviceAllocation by priority (0/unset last among them),
         * then the others, file order among equals */
        PoolSet *s = parse("pools:\n"
                           "  - {name: p0, addresses: [192.0.2.0/32]}\n"
                           "  - {name: p1, addresses: [192.0.2.1/32], namespaces: [x]}\n"
                           "  - {name: p2, addresses: [192.0.2.2/32], priority: 7}\n"
                           "  - {name: p3, addresses: [192.0.2.3/32], priority: 2}\n"
                           "  - {name: p4, addresses: [192.0.2.4/32]}\n"
                           "  - {name: p5, addresses: [192.0.2.5/32], priority: 2}\n"
                           "  - {name: p6, addresses: [192.0.2.6/32], service_selector: {a: b}}\n",
                           &d, &r);
        is_int(r, 0, "order: parses");
        if (s) {
                char got[64] = "";
                for (size_t i = 0; i < s->n_pools; i++)
                        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
                                 s->pools[s->order[i]].name);
                is_str(got, "p3 p5 p2 p1 p6 p0 p4", "order: priorities, unset, no allocation");
        }
        pool_set_free(s);
        diag_list_clear(&d);

        s = parse("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\n"
                  "spec: {addresses: [192.0.2.0/28]}\n---\n"
                  "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: b}\n"
                  "spec: {addresses: [192.0.2.16/28], serviceAllocation: {namespaces: [x]}}\n"
                  "---\n"
                  "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: c}\n"
                  "spec: {addresses: [192.0.2.32/28], serviceAllocation: {priority: 3}}\n",
                  &d, &r);
        is_int(r, 0, "order metallb: parses");
        ok(s && s->order[0] == 2 && s->order[1] == 1 && s->order[2] == 0, "order metallb: c b a");
        pool_set_free(s);
        diag_list_clear(&d);
}

static void test_misc(void)
{
        DiagList d = {0};
        int r;

        /* aliases are fine within limits; an alias bomb is stopped */
        PoolSet *s =
            parse("pools:\n  - name: a\n    addresses: &x [192.0.2.0/28]\n"
                  "  - name: b\n    addresses: [198.51.100.0/28]\n    namespaces: &ns [n]\n"
                  "  - name: c\n    addresses: [203.0.113.0/28]\n    namespaces: *ns\n",
                  &d, &r);
        is_int(r, 0, "aliases: parse");
        pool_set_free(s);
        diag_list_clear(&d);

        char *bomb = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&bomb, &len);
        fprintf(f, "pools:\n  - &p {name: a, addresses: [");
        for (int i = 0; i < 2000; i++)
                fprintf(f, "%s\"2001:db8::%x\"", i ? ", " : "", i);
        fprintf(f, "]}\n");
        for (int i = 0; i < 2000; i++)
                fprintf(f, "  - *p\n");
        fclose(f);
        clock_t t0 = clock();
        s = NULL;
        r = pools_parse("bomb.yaml", bomb, len, &s, &d);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        is_int(r, -EINVAL, "alias bomb: refused");
        _cleanup_free_ char *bm = d.n ? diag_format(&d.items[0]) : NULL;
        is_int(d.n_errors, 1, "alias bomb: one error, no cross-check noise");
        is_str(bm,
               "bomb.yaml:2:29: this document is too complex: its aliases expand it beyond 9056 "
               "nodes",
               "alias bomb: message");
        ok(secs < 10, "alias bomb: bounded time (%.3f s)", secs);
        free(bomb);
        pool_set_free(s);
        diag_list_clear(&d);

        /* other kinds are ignored with a notice naming the place */
        s = parse("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\n"
                  "spec: {addresses: [192.0.2.0/28]}\n---\n"
                  "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\n"
                  "metadata: {name: x}\nspec: {whatever: 1}\n---\n"
                  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nginx}\n",
                  &d, &r);
        _cleanup_free_ char *txt = diags_text(&d, DIAG_NOTICE, NULL);
        is_int(r, 0, "other kinds: parse");
        is_str(txt,
               "t.yaml:7:7: notice: ignoring BGPAdvertisement (metallb.io/v1beta1): mlbd only "
               "reads IPAddressPool and L2Advertisement (metallb.io)\n"
               "t.yaml:12:7: notice: ignoring Deployment (apps/v1): mlbd only reads "
               "IPAddressPool and L2Advertisement (metallb.io)\n"
               "t.yaml: notice: no L2Advertisement in the file: every pool is announced (mlbd "
               "announces in layer 2 only)",
               "other kinds: notices");
        pool_set_free(s);
        diag_list_clear(&d);

        /* ::/0 counts 2^128: overflow flag (a set built by hand: the parser refuses ::/0,
         * which reaches into ::, ::1 and more) */
        {
                AddrRange all = {0, ~(u128)0};
                Pool p = {.ranges = &all, .n_ranges = 1};
                AddrCount v4 = {0}, v6 = {0};
                pool_count(&p, &v4, &v6);
                ok(v6.overflow && v4.n == 0, "::/0 counts as overflow (2^128)");
        }

        /* missing file */
        r = pools_load("/nonexistent/pools.yaml", &s, &d);
        is_int(r, -EINVAL, "missing file: refused");
        _cleanup_free_ char *m = d.n ? diag_format(&d.items[0]) : NULL;
        is_str(m, "/nonexistent/pools.yaml: cannot read the pools file: No such file or directory",
               "missing file: message");
        diag_list_clear(&d);
}

/* Loopback, link-local, multicast, broadcast, reserved: refused at load, each at the line
 * and column of its entry, in both forms; the addresses just outside each are fine. */
static void test_special(void)
{
        DiagList d = {0};
        PoolSet *s;
        int r;

        s = load("native-special.yaml", &d, &r);
        _cleanup_free_ char *txt = diags_text(&d, DIAG_WARNING, srcdir());
        is_int(r, -EINVAL, "special ranges (native): refused");
        is_str(txt,
               "/tests/data/pools/native-special.yaml:6:9: 0.0.0.0/8 is in 0.0.0.0/8 (\"this "
               "network\"); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:7:9: 127.0.0.1 is in 127.0.0.0/8 "
               "(loopback); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:8:9: 169.254.10.0/24 is in 169.254.0.0/16 "
               "(link-local); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:11:9: 224.0.0.0/4 is in 224.0.0.0/4 "
               "(multicast); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:12:9: 255.255.255.255 is in "
               "255.255.255.255 (limited broadcast); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:13:9: 240.0.0.1-240.0.0.9 is in "
               "240.0.0.0/4 (reserved); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:14:9: 192.0.2.250-224.0.0.5 reaches into "
               "224.0.0.0/4 (multicast); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:17:9: :: is in :: (unspecified address); "
               "a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:18:9: ::1 is in ::1 (loopback); a pool "
               "cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:19:9: fe80::/64 is in fe80::/10 "
               "(link-local); a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:20:9: ff02::1 is in ff00::/8 (multicast); "
               "a pool cannot hold these addresses\n"
               "/tests/data/pools/native-special.yaml:21:9: ::fffe:0:0-::1:0:0:0 reaches into "
               "::ffff:0:0/96 (IPv4-mapped); a pool cannot hold these addresses",
               "special ranges (native): one error per entry, at its line and column");
        is_int(d.n_errors, 12, "special ranges (native): 12 errors, 2001:db8::/64 is fine");
        pool_set_free(s);
        diag_list_clear(&d);

        s = load("metallb-special.yaml", &d, &r);
        _cleanup_free_ char *txt2 = diags_text(&d, DIAG_WARNING, srcdir());
        is_int(r, -EINVAL, "special ranges (MetalLB): refused");
        is_str(txt2,
               "/tests/data/pools/metallb-special.yaml:10:5: 127.0.0.0/8 is in 127.0.0.0/8 "
               "(loopback); a pool cannot hold these addresses\n"
               "/tests/data/pools/metallb-special.yaml:11:5: warning: fe80::1/64 has host bits "
               "set; using fe80::/64 as MetalLB does\n"
               "/tests/data/pools/metallb-special.yaml:11:5: fe80::/64 is in fe80::/10 "
               "(link-local); a pool cannot hold these addresses",
               "special ranges (MetalLB): the same errors, at their line and column");
        pool_set_free(s);
        diag_list_clear(&d);

        check_errors("a range reaching loopback from below",
                     "pools:\n  - name: a\n    addresses:\n      - 126.255.255.0-127.0.0.0\n",
                     "t.yaml:4:9: 126.255.255.0-127.0.0.0 reaches into 127.0.0.0/8 (loopback); a "
                     "pool cannot hold these addresses");
        check_errors("0.0.0.0/0", "pools:\n  - name: a\n    addresses: [0.0.0.0/0]\n",
                     "t.yaml:3:17: 0.0.0.0/0 reaches into 0.0.0.0/8 (\"this network\"); a pool "
                     "cannot hold these addresses");
        check_errors("::/0", "pools:\n  - name: a\n    addresses: [\"::/0\"]\n",
                     "t.yaml:3:17: ::/0 reaches into :: (unspecified address); a pool cannot "
                     "hold these addresses");

        /* the neighbours of every special range are ordinary addresses */
        s = parse("pools:\n  - name: edges\n    addresses:\n"
                  "      - 1.0.0.0\n      - 126.255.255.255\n      - 128.0.0.0\n"
                  "      - 169.253.255.255\n      - 169.255.0.0\n      - 223.255.255.255\n"
                  "      - ::2\n      - ::fffe:ffff:ffff\n      - ::1:0:0:0\n"
                  "      - fe7f:ffff::1\n      - fec0::1\n      - feff::1\n",
                  &d, &r);
        is_int(r, 0, "the addresses next to each special range are accepted");
        is_int(d.n_errors, 0, "no error for them");
        pool_set_free(s);
        diag_list_clear(&d);
}

static void test_large(void)
{
        char *buf = NULL;
        size_t len = 0;
        DiagList d = {0};
        PoolSet *s = NULL;
        int r;

        /* 1,000 pools, written in reverse address order, one overlap at the very end */
        FILE *f = open_memstream(&buf, &len);
        fprintf(f, "pools:\n");
        for (int i = 999; i >= 0; i--)
                fprintf(f,
                        "  - name: p%d\n    addresses:\n      - 2001:db8:%x::/48\n"
                        "      - 10.%d.%d.0/24\n",
                        i, i, i / 256, i % 256);
        fprintf(f, "  - name: late\n    addresses:\n      - 10.0.3.7\n");
        fclose(f);
        clock_t t0 = clock();
        r = pools_parse("big.yaml", buf, len, &s, &d);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        is_int(r, -EINVAL, "1000 pools + overlap: refused");
        is_int(d.n_errors, 1, "1000 pools: exactly one error");
        _cleanup_free_ char *m = d.n ? diag_format(&d.items[0]) : NULL;
        is_str(m,
               "big.yaml:4004:9: 10.0.3.7 overlaps 10.0.3.0/24 of pool \"p3\" at big.yaml:3989:9",
               "1000 pools: overlap named");
        ok(secs < 5, "1000 pools parsed in %.3f s", secs);
        printf("# 1000 pools, 2001 ranges: %.3f s\n", secs);
        free(buf);
        diag_list_clear(&d);

        /* 50,000 ranges in one pool: O(n log n) overlap check */
        f = open_memstream(&buf, &len);
        fprintf(f, "pools:\n  - name: many\n    addresses:\n");
        for (int i = 0; i < 50000; i++)
                fprintf(f, "      - 2001:db8::%x:0/112\n", i);
        fclose(f);
        t0 = clock();
        r = pools_parse("many.yaml", buf, len, &s, &d);
        secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        is_int(r, 0, "50000 ranges: parse");
        ok(secs < 10, "50000 ranges parsed in %.3f s", secs);
        printf("# 50000 ranges: %.3f s\n", secs);
        if (s) {
                AddrCount v4 = {0}, v6 = {0};
                pool_count(&s->pools[0], &v4, &v6);
                ok(v6.n == (u128)50000 * 65536, "50000 /112: count");
        }
        s = pool_set_free(s);
        free(buf);
        diag_list_clear(&d);
}

int main(void)
{
        test_no_pools();
        test_pools_dir();
        test_preferred();
        test_native_good();
        test_metallb_docs();
        test_seed();
        test_errors();
        test_masked();
        test_l2();
        test_order();
        test_misc();
        test_special();
        test_large();
        return tap_done();
}
