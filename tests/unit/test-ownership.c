/* SPDX-License-Identifier: MIT */
/*
 * ownership.c: which live, eligible node owns an address. The model comes from a real
 * sync message (control-proto.c), the pools from real pools.yaml text (pools-yaml.c).
 */
#include <string.h>

#include "control-proto.h"
#include "ownership.h"
#include "pools.h"
#include "rendezvous.h"
#include "tap.h"

static const char *const NAMES[] = {"node1", "node2", "node3"};
#define N 3

static Model *sync_model(const char *line)
{
        CtlRequest *req = NULL;
        CtlError err = {0};
        Model *m = NULL;

        if (ctl_request_parse(line, strlen(line), 1, &req, &err) < 0 || req->op != CTL_OP_SYNC) {
                diag_note(err.detail);
                ctl_error_clear(&err);
                ctl_request_free(req);
                return NULL;
        }
        m = TAKE_PTR(req->sync.objects);
        ctl_request_free(req);
        return m;
}

static PoolSet *pools(const char *yaml)
{
        PoolSet *ps = NULL;
        DiagList d = {0};

        if (pools_parse("pools.yaml", yaml, strlen(yaml), &ps, &d) < 0)
                diag_note("pools.yaml does not parse");
        diag_list_clear(&d);
        return ps;
}

static const char *owner_name(const PoolSet *ps, const Model *m, const Service *s, u128 a,
                              const bool live[N])
{
        OwnerView v = {.names = NAMES, .live = live, .n = N};
        ssize_t o = address_owner(ps, 0, m, s, a, &v);
        return o < 0 ? "-" : NAMES[o];
}

#define SVC(name, extra)                                                                           \
        "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"" name "\",\"uid\":\"u-" name            \
        "\",\"labels\":{\"app\":\"" name "\"}},\"spec\":{\"type\":\"LoadBalancer\"," extra         \
        "\"selector\":{\"app\":\"" name "\"},\"ports\":[{\"protocol\":\"TCP\",\"port\":80}]}}"
#define NODE(name, zone)                                                                           \
        "{\"metadata\":{\"name\":\"" name "\",\"labels\":{\"zone\":\"" zone "\"}},"                \
        "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"198.51.100.1\"}]}}"
#define EP(node, ready)                                                                            \
        "{\"addresses\":[\"198.51.100.50\"],\"conditions\":{\"ready\":" ready                      \
        "},\"nodeName\":\"" node "\"}"

static const char SYNC[] = "{\"op\":\"sync\",\"id\":1,\"services\":[" SVC("web", "") "," SVC(
    "local",
    "\"external"
    "TrafficPol"
    "icy\":"
    "\"Local\""
    ",") "," SVC("nolocal",
                 "\"externalTrafficPolicy\":"
                 "\"Local\",") "],"
                               "\"endpointslices\":[{\"metadata\":{\"namespace\":\"demo\",\"name\":"
                               "\"local-"
                               "1\","
                               "\"labels\":{\"kubernetes.io/"
                               "service-name\":\"local\"}},\"addressType\":\"IPv4\","
                               "\"endpoints\":[" EP("node3", "true") "," EP(
                                   "node1",
                                   "false") "]},"
                                            "{\"metadata\":{\"namespace\":\"demo\",\"name\":"
                                            "\"nolocal-1\","
                                            "\"labels\":{\"kubernetes.io/"
                                            "service-name\":\"nolocal\"}},\"addressType\":\"IPv4\","
                                            "\"endpoints\":[" EP(
                                                "node2",
                                                "false") "]}],"
                                                         "\"nodes\":[" NODE("node1", "a") "," NODE(
                                                             "node2", "b") "],\"namespaces\":[]}";

static void test_plain(const Model *m)
{
        PoolSet *ps = pools("pools:\n  - name: p\n    addresses: [192.0.2.0/24]\n");
        const Service *web = model_service(m, "demo", "web");
        bool all[N] = {true, true, true};
        size_t moved_wrong = 0, agree = 0, owned_by[N] = {0};

        ok(ps && web, "pools and Service");
        if (!ps || !web)
                return (void)pool_set_free(ps);
        for (unsigned i = 0; i < 256; i++) {
                u128 a = addr_from_v4(0xc0000200u + i);
                bool eligible[N] = {true, true, true};
                const char *o = owner_name(ps, m, web, a, all);
                agree += strcmp(o, NAMES[rdv_owner(a, NAMES, eligible, N)]) == 0;
                for (size_t k = 0; k < N; k++)
                        owned_by[k] += strcmp(o, NAMES[k]) == 0;
                /* node2 dies: only its addresses move */
                bool live[N] = {true, false, true};
                const char *after = owner_name(ps, m, web, a, live);
                if (strcmp(o, "node2") != 0 ? strcmp(after, o) != 0 : strcmp(after, "node2") == 0)
                        moved_wrong++;
        }
        is_int(agree, 256, "no rules: the owner is the rendezvous owner over all live nodes");
        ok(owned_by[0] > 40 && owned_by[1] > 40 && owned_by[2] > 40,
           "every node owns a share (%zu/%zu/%zu)", owned_by[0], owned_by[1], owned_by[2]);
        is_int(moved_wrong, 0, "a death moves exactly the dead node's addresses");
        bool none[N] = {false, false, false};
        is_str(owner_name(ps, m, web, addr_from_v4(0xc0000201u), none), "-",
               "nobody live: no owner");
        bool self_only[N] = {true, false, false};
        is_str(owner_name(ps, m, web, addr_from_v4(0xc0000201u), self_only), "node1",
               "alone: this node owns everything");
        pool_set_free(ps);
}

static void test_node_selectors(const Model *m)
{
        PoolSet *ps = pools("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                            "  name: p\nspec:\n  addresses: [192.0.2.0/24]\n---\n"
                            "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                            "  name: a\nspec:\n  ipAddressPools: [p]\n  nodeSelectors:\n"
                            "  - matchLabels: {zone: a}\n");
        const Service *web = model_service(m, "demo", "web");
        bool all[N] = {true, true, true}, no1[N] = {false, true, true};
        size_t only1 = 0;

        if (!ps || !web)
                return (void)ok(false, "node selector pools");
        for (unsigned i = 0; i < 64; i++)
                only1 += strcmp(owner_name(ps, m, web, addr_from_v4(0xc0000200u + i), all),
                                "node1") == 0;
        is_int(only1, 64, "nodeSelectors zone=a: node1 (zone a) owns every address");
        ok(!node_eligible(ps, 0, m, web, "node2"), "node2 (zone b) is not eligible");
        ok(!node_eligible(ps, 0, m, web, "node3"), "node3 (no Node object, no labels) is not");
        is_str(owner_name(ps, m, web, addr_from_v4(0xc0000201u), no1), "-",
               "node1 dead: nobody may announce");
        pool_set_free(ps);

        /* preferredNodeSelectors as MetalLB defines them (design/preferred-node-l2.md):
         * node1 (zone a) scores 30, node2 (zone b) 50, node3 (no labels) 0 */
        ps = pools("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                   "  name: p\nspec:\n  addresses: [192.0.2.0/24]\n---\n"
                   "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                   "  name: a\nspec:\n  ipAddressPools: [p]\n  preferredNodeSelectors:\n"
                   "  - weight: 30\n    preference:\n      matchLabels: {zone: a}\n"
                   "  - weight: 50\n    preference:\n      matchLabels: {zone: b}\n");
        bool no2[N] = {true, false, true}, only3[N] = {false, false, true};
        size_t pref = 0, second = 0, last = 0;
        for (unsigned i = 0; ps && i < 64; i++) {
                u128 a = addr_from_v4(0xc0000200u + i);
                pref += strcmp(owner_name(ps, m, web, a, all), "node2") == 0;
                second += strcmp(owner_name(ps, m, web, a, no2), "node1") == 0;
                last += strcmp(owner_name(ps, m, web, a, only3), "node3") == 0;
        }
        is_int(pref, 64, "weights 30/50: node2 (50) owns every address");
        is_int(second, 64, "node2 dead: node1 (30) owns every address, not node3 (0)");
        is_int(last, 64, "node1 and node2 dead: node3 (0) takes over");
        pool_set_free(ps);

        /* cumulative: zone=a 60 + zone exists 50 = 110 for node1; node2 50 */
        ps = pools("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                   "  name: p\nspec:\n  addresses: [192.0.2.0/24]\n---\n"
                   "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                   "  name: a\nspec:\n  ipAddressPools: [p]\n  preferredNodeSelectors:\n"
                   "  - weight: 60\n    preference:\n      matchLabels: {zone: a}\n"
                   "  - weight: 50\n    preference:\n      matchExpressions:\n"
                   "      - {key: zone, operator: Exists}\n");
        size_t sum = 0;
        for (unsigned i = 0; ps && i < 64; i++)
                sum += strcmp(owner_name(ps, m, web, addr_from_v4(0xc0000200u + i), all),
                              "node1") == 0;
        is_int(sum, 64, "weights add up: node1 (110) beats node2 (50)");
        pool_set_free(ps);

        /* a tie: rendezvous hashing inside the top tier only */
        ps = pools("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                   "  name: p\nspec:\n  addresses: [192.0.2.0/24]\n---\n"
                   "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                   "  name: a\nspec:\n  ipAddressPools: [p]\n  preferredNodeSelectors:\n"
                   "  - weight: 100\n    preference:\n      matchExpressions:\n"
                   "      - {key: zone, operator: Exists}\n");
        size_t n1 = 0, n2 = 0, n3 = 0, agree = 0;
        bool top[N] = {true, true, false};
        for (unsigned i = 0; ps && i < 64; i++) {
                u128 a = addr_from_v4(0xc0000200u + i);
                const char *o = owner_name(ps, m, web, a, all);
                n1 += strcmp(o, "node1") == 0;
                n2 += strcmp(o, "node2") == 0;
                n3 += strcmp(o, "node3") == 0;
                agree += strcmp(o, NAMES[rdv_owner(a, NAMES, top, N)]) == 0;
        }
        ok(n1 > 0 && n2 > 0 && n3 == 0, "tie at 100: node1 and node2 share (%zu/%zu), node3 none",
           n1, n2);
        is_int(agree, 64, "tie: the owner is the rendezvous winner among node1 and node2");
        pool_set_free(ps);

        ps = pools("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                   "  name: p\nspec:\n  addresses: [192.0.2.0/24]\n---\n"
                   "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n"
                   "  name: q\nspec:\n  addresses: [198.51.100.0/24]\n---\n"
                   "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n"
                   "  name: a\nspec:\n  ipAddressPools: [q]\n  serviceSelectors:\n"
                   "  - matchLabels: {app: web}\n");
        const Service *local = model_service(m, "demo", "local");
        OwnerView v = {.names = NAMES, .live = all, .n = N};
        ok(ps && address_owner(ps, 0, m, web, addr_from_v4(0xc0000201u), &v) == -1,
           "a pool no L2Advertisement covers is not announced");
        ok(ps && address_owner(ps, 1, m, web, addr_from_v4(0xc6336401u), &v) >= 0,
           "serviceSelectors app=web: web is announced");
        ok(ps && local && address_owner(ps, 1, m, local, addr_from_v4(0xc6336401u), &v) == -1,
           "serviceSelectors app=web: another Service is not");
        pool_set_free(ps);
}

static void test_local(const Model *m)
{
        PoolSet *ps = pools("pools:\n  - name: p\n    addresses: [192.0.2.0/24]\n");
        const Service *local = model_service(m, "demo", "local");
        const Service *nolocal = model_service(m, "demo", "nolocal");
        bool all[N] = {true, true, true}, no3[N] = {true, true, false};
        size_t on3 = 0;

        if (!ps || !local || !nolocal)
                return (void)ok(false, "Local Services");
        for (unsigned i = 0; i < 64; i++)
                on3 += strcmp(owner_name(ps, m, local, addr_from_v4(0xc0000200u + i), all),
                              "node3") == 0;
        is_int(on3, 64, "Local: only node3 has a ready endpoint, it owns every address");
        ok(!node_eligible(ps, 0, m, local, "node1"), "a not-ready endpoint does not count");
        is_str(owner_name(ps, m, local, addr_from_v4(0xc0000201u), no3), "-",
               "node3 dead: the Local Service is not announced");
        is_str(owner_name(ps, m, nolocal, addr_from_v4(0xc0000201u), all), "-",
               "Local without a ready endpoint anywhere: not announced");
        ok(node_eligible(ps, 0, m, NULL, "node2"),
           "restored allocation (Service unknown): node rules only");
        pool_set_free(ps);
}

static void test_excluded(void)
{
        static const char sync[] = "{\"op\":\"sync\",\"id\":1,\"services\":[" SVC(
            "web",
            "") "],\"endpointslices\":[],"
                "\"nodes\":[{\"metadata\":{\"name\":\"node2\",\"labels\":{\"node.kubernetes.io/"
                "exclude-from-external-load-balancers\":\"\"}}},"
                "{\"metadata\":{\"name\":\"node3\"},\"status\":{\"conditions\":["
                "{\"type\":\"Ready\",\"status\":\"True\"},"
                "{\"type\":\"NetworkUnavailable\",\"status\":\"True\"}]}}],\"namespaces\":[]}";
        Model *m = sync_model(sync);
        PoolSet *ps = pools("pools:\n  - name: p\n    addresses: [192.0.2.0/24]\n");
        const Service *web = m ? model_service(m, "demo", "web") : NULL;
        bool all[N] = {true, true, true};
        size_t to_node1 = 0;

        ok(m && ps && web, "a sync with an excluded node2 and node3");
        if (m && ps && web) {
                ok(!node_excluded(m, "node1", 0), "node1 (no Node object) is not excluded");
                ok(node_excluded(m, "node2", 0), "node2 (the exclude label, empty value) is");
                ok(node_excluded(m, "node3", 0), "node3 (NetworkUnavailable=True) is");
                ok(!node_excluded(m, "node2", OWNERSHIP_IGNORE_EXCLUDE_LB),
                   "with ignore_exclude_lb, node2 is not");
                ok(node_excluded(m, "node2", OWNERSHIP_EXCLUDE_NOT_READY),
                   "with exclude_not_ready, node2 (no Ready condition) is, also for that");
                ok(node_excluded(m, "node2",
                                 OWNERSHIP_IGNORE_EXCLUDE_LB | OWNERSHIP_EXCLUDE_NOT_READY),
                   "with both: node2 is not Ready, so excluded");
                ok(!node_excluded(m, "node1", OWNERSHIP_EXCLUDE_NOT_READY),
                   "with exclude_not_ready, node1 (no Node object) is still not");
                ok(node_excluded(m, "node3", OWNERSHIP_IGNORE_EXCLUDE_LB),
                   "ignore_exclude_lb does not lift NetworkUnavailable");
                ok(!node_eligible(ps, 0, m, web, "node2") &&
                       !node_eligible(ps, 0, m, NULL, "node3"),
                   "and neither is eligible, with or without a Service");
                for (unsigned i = 0; i < 256; i++)
                        to_node1 +=
                            strcmp(owner_name(ps, m, web, addr_from_v4(0xc0000200u + i), all),
                                   "node1") == 0;
                is_int(to_node1, 256, "node1 owns every address");
                bool no1[N] = {false, true, true};
                is_str(owner_name(ps, m, web, addr_from_v4(0xc0000201u), no1), "-",
                       "node1 dead: nobody announces (the excluded stay out)");
        }
        model_free(m);
        pool_set_free(ps);
}

int main(void)
{
        Model *m = sync_model(SYNC);

        ok(m != NULL, "the sync message decodes");
        if (m) {
                test_plain(m);
                test_node_selectors(m);
                test_local(m);
        }
        test_excluded();
        model_free(m);
        return tap_done();
}
