/* SPDX-License-Identifier: MIT */
/* Unit tests for the Kubernetes object model and the Service annotation helpers. */
#include <string.h>

#include "model.h"
#include "tap.h"

static Service *service(const char *ns, const char *name, const char *uid)
{
        Service *s = obj_new(OBJ_SERVICE);
        if (!s || obj_set_name(&s->meta, ns, name) < 0)
                abort();
        s->meta.uid = uid ? strdup(uid) : NULL;
        s->type = SERVICE_LOAD_BALANCER;
        return s;
}

static void *named(ObjKind kind, const char *ns, const char *name)
{
        ObjMeta *m = obj_new(kind);
        if (!m || obj_set_name(m, ns, name) < 0)
                abort();
        return m;
}

static void test_basic(void)
{
        _cleanup_(model_freep) Model *m = NULL;

        is_int(model_new(&m), 0, "model_new");
        is_int(m->generation, 0, "fresh model has generation 0");
        is_int(model_upsert(m, service("demo", "web", "u1")), MODEL_CREATED, "upsert creates");
        is_int(m->generation, 1, "generation bumped by create");
        is_int(model_upsert(m, service("demo", "web", "u2")), MODEL_UPDATED, "upsert replaces");
        is_int(m->generation, 2, "generation bumped by update");
        const Service *s = model_service(m, "demo", "web");
        ok(s && strcmp(s->meta.uid, "u2") == 0, "lookup finds the replacement");
        is_str(s ? s->meta.key : NULL, "demo/web", "key is ns/name");
        ok(!model_service(m, "other", "web"), "namespace is part of the key");
        ok(!model_get(m, OBJ_SERVICE, NULL, "web"), "a namespaced kind needs a namespace");
        is_int(model_upsert(m, named(OBJ_NODE, NULL, "node1")), MODEL_CREATED, "node created");
        ok(model_node(m, "node1") != NULL, "node by name");
        ok(!model_get(m, OBJ_NODE, "x", "node1"), "cluster-scoped kind refuses a namespace");
        is_int(model_count(m, OBJ_SERVICE), 1, "one service");
        is_int(model_count(m, OBJ_NODE), 1, "one node");

        uint64_t g = m->generation;
        is_int(model_delete(m, OBJ_SERVICE, "demo", "web", "u1"), MODEL_UID_MISMATCH,
               "delete with a stale uid keeps the object");
        is_int(m->generation, g, "no change, no generation bump");
        is_int(model_delete(m, OBJ_SERVICE, "demo", "nope", NULL), MODEL_ABSENT, "absent");
        is_int(model_delete(m, OBJ_SERVICE, "demo", "web", "u2"), MODEL_DELETED, "deleted");
        is_int(m->generation, g + 1, "delete bumps the generation");
        ok(!model_service(m, "demo", "web"), "gone after delete");
        is_int(model_delete(m, OBJ_NODE, NULL, "node1", NULL), MODEL_DELETED, "delete without uid");
        is_int(model_add(m, service("a", "b", "u")), MODEL_CREATED, "model_add new key");
        is_int(model_add(m, service("a", "b", "v")), MODEL_DUPLICATE, "model_add refuses dup");
        is_str(model_service(m, "a", "b")->meta.uid, "u", "the first stays");
}

static void test_many(void)
{
        _cleanup_(model_freep) Model *m = NULL;
        char name[32];
        const size_t N = 5000;
        bool all = true;

        model_new(&m);
        for (size_t i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "svc-%zu", i);
                if (model_upsert(m, service("ns", name, name)) != MODEL_CREATED)
                        all = false;
        }
        ok(all, "%zu services inserted", N);
        is_int(model_count(m, OBJ_SERVICE), N, "count");
        all = true;
        for (size_t i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "svc-%zu", i);
                const Service *s = model_service(m, "ns", name);
                if (!s || strcmp(s->meta.uid, name) != 0)
                        all = false;
        }
        ok(all, "every one found after the table grew");

        size_t seen = 0;
        ModelIter it = {};
        while (model_next(m, OBJ_SERVICE, &it))
                seen++;
        is_int(seen, N, "iteration visits each object once");

        for (size_t i = 0; i < N; i += 2) {
                snprintf(name, sizeof(name), "svc-%zu", i);
                model_delete(m, OBJ_SERVICE, "ns", name, NULL);
        }
        is_int(model_count(m, OBJ_SERVICE), N / 2, "half deleted");
        snprintf(name, sizeof(name), "svc-%zu", (size_t)1);
        ok(model_service(m, "ns", name) != NULL, "odd ones remain");

        const void **v = NULL;
        size_t n = 0;
        is_int(model_list_sorted(m, OBJ_SERVICE, &v, &n), 0, "list sorted");
        bool sorted = n == N / 2;
        for (size_t i = 1; sorted && i < n; i++)
                if (strcmp(((const ObjMeta *)v[i - 1])->key, ((const ObjMeta *)v[i])->key) >= 0)
                        sorted = false;
        ok(sorted, "sorted by key");
        free(v);
}

static void test_replace_merge(void)
{
        _cleanup_(model_freep) Model *m = NULL, *n = NULL, *a = NULL, *b = NULL;
        ObjKind k;
        char key[OBJ_KEY_MAX];

        model_new(&m);
        model_upsert(m, service("demo", "old", "u"));
        uint64_t g = m->generation;
        model_new(&n);
        model_add(n, service("demo", "new", "u"));
        model_add(n, named(OBJ_NAMESPACE, NULL, "demo"));
        model_replace(m, &n);
        ok(n == NULL, "source consumed");
        is_int(m->generation, g + 1, "replace bumps the generation once");
        ok(!model_service(m, "demo", "old"), "old objects gone");
        ok(model_service(m, "demo", "new") && model_namespace(m, "demo"), "new objects in");

        model_new(&a);
        model_new(&b);
        model_add(a, service("x", "one", "u"));
        model_add(b, service("x", "two", "u"));
        model_add(b, named(OBJ_NODE, NULL, "n1"));
        is_int(model_merge(a, b, &k, key), 0, "merge disjoint");
        is_int(model_count(a, OBJ_SERVICE), 2, "merged services");
        is_int(model_count(b, OBJ_SERVICE) + model_count(b, OBJ_NODE), 0, "source emptied");
        ok(model_node(a, "n1") != NULL, "merged node found (rehashed)");
        model_add(b, service("x", "three", "u"));
        model_add(b, service("x", "one", "u"));
        is_int(model_merge(a, b, &k, key), MODEL_DUPLICATE, "merge refuses a duplicate");
        ok(k == OBJ_SERVICE && strcmp(key, "x/one") == 0, "duplicate named: %s", key);
        is_int(model_count(a, OBJ_SERVICE), 2, "nothing moved on a duplicate");
        is_int(model_count(b, OBJ_SERVICE), 2, "source untouched on a duplicate");
}

static void test_endpoints(void)
{
        _cleanup_(model_freep) Model *m = NULL;
        EndpointSlice *e = named(OBJ_ENDPOINT_SLICE, "demo", "web-abc");

        model_new(&m);
        e->service_name = strdup("web");
        e->endpoints = calloc(2, sizeof(Endpoint));
        e->endpoints[0] = (Endpoint){strdup("node1"), false};
        e->endpoints[1] = (Endpoint){strdup("node2"), true};
        e->n_endpoints = 2;
        model_upsert(m, e);
        ok(model_service_has_ready_endpoint(m, "demo", "web", "node2"), "ready on node2");
        ok(!model_service_has_ready_endpoint(m, "demo", "web", "node1"), "not ready on node1");
        ok(!model_service_has_ready_endpoint(m, "other", "web", "node2"), "other namespace");
        ok(!model_service_has_ready_endpoint(m, "demo", "api", "node2"), "other service");

        /* a second slice of the same Service, and one of another: the index follows */
        EndpointSlice *e2 = named(OBJ_ENDPOINT_SLICE, "demo", "web-def");
        e2->service_name = strdup("web");
        e2->endpoints = calloc(1, sizeof(Endpoint));
        e2->endpoints[0] = (Endpoint){strdup("node1"), true};
        e2->n_endpoints = 1;
        model_upsert(m, e2);
        EndpointSlice *e3 = named(OBJ_ENDPOINT_SLICE, "demo", "api-1");
        e3->service_name = strdup("api");
        model_upsert(m, e3);
        model_upsert(m, named(OBJ_ENDPOINT_SLICE, "demo", "orphan")); /* no service label */
        const EndpointSlice *const *v;
        is_int(model_service_slices(m, "demo", "web", &v), 2, "two slices for demo/web");
        is_int(model_service_slices(m, "demo", "api", &v), 1, "one for demo/api");
        is_int(model_service_slices(m, "demo", "nope", &v), 0, "none for demo/nope");
        ok(model_service_has_ready_endpoint(m, "demo", "web", "node1"),
           "node1 ready through the second slice (index rebuilt after the change)");
        model_delete(m, OBJ_ENDPOINT_SLICE, "demo", "web-def", NULL);
        ok(!model_service_has_ready_endpoint(m, "demo", "web", "node1"),
           "and not after that slice is deleted");
        is_int(model_service_slices(m, "demo", "web", &v), 1, "one slice left");
}

static void check_request(const char *what, Service *s, int want_r, const char *want_addrs,
                          const char *want_err)
{
        ServiceRequest req;
        char err[256] = "";
        int r = service_resolve_request(s, &req, err, sizeof(err));
        is_int(r, want_r, "%s: result", what);
        if (r == 0 && want_addrs) {
                char buf[256] = "", a[ADDR_STR_MAX];
                for (size_t i = 0; i < req.n_addresses; i++) {
                        if (i)
                                strcat(buf, ",");
                        strcat(buf, addr_format(req.addresses[i], a));
                }
                is_str(buf, want_addrs, "%s: addresses", what);
        }
        if (want_err)
                is_str(err, want_err, "%s: message", what);
        obj_free(s);
}

static void test_annotations(void)
{
        Service *s;
        ServiceRequest req;
        char err[256];

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB_OLD, "192.0.2.1");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB, "192.0.2.2");
        check_request("metallb.io wins over metallb.universe.tf", s, 0, "192.0.2.2", NULL);

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB_OLD, "192.0.2.1");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB, "192.0.2.2");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_MLBD, "192.0.2.3, 2001:db8::3");
        check_request("mlbd.io wins over both", s, 0, "192.0.2.3,2001:db8::3", NULL);

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB, "");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB_OLD, "192.0.2.1");
        check_request("an empty annotation counts as absent", s, 0, "192.0.2.1", NULL);

        s = service("demo", "web", "u");
        s->load_balancer_ip = strdup("198.51.100.7");
        check_request("spec.loadBalancerIP alone", s, 0, "198.51.100.7", NULL);

        s = service("demo", "web", "u");
        s->load_balancer_ip = strdup("198.51.100.7");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_MLBD, "198.51.100.7");
        check_request("spec.loadBalancerIP equal to the annotation", s, 0, "198.51.100.7", NULL);

        s = service("demo", "web", "u");
        s->load_balancer_ip = strdup("198.51.100.7");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_MLBD, "198.51.100.8");
        check_request("spec.loadBalancerIP conflicting", s, -EINVAL, NULL,
                      "spec.loadBalancerIP 198.51.100.7 conflicts with annotation "
                      "mlbd.io/loadBalancerIPs \"198.51.100.8\"");

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_METALLB, "192.0.2.300");
        check_request("malformed address", s, -EINVAL, NULL,
                      "metallb.io/loadBalancerIPs: \"192.0.2.300\" is not an IP address");

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_MLBD, "192.0.2.1,192.0.2.2");
        check_request("two IPv4", s, -EINVAL, NULL,
                      "mlbd.io/loadBalancerIPs: more than one IPv4 address (192.0.2.2)");

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_MLBD, "2001:db8::1, 2001:db8::1");
        check_request("listed twice", s, -EINVAL, NULL,
                      "mlbd.io/loadBalancerIPs: 2001:db8::1 is listed twice");

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_IPS_MLBD, "192.0.2.1,,2001:db8::1");
        check_request("empty entry", s, -EINVAL, NULL,
                      "mlbd.io/loadBalancerIPs: \"192.0.2.1,,2001:db8::1\" has an empty entry");

        s = service("demo", "web", "u");
        s->load_balancer_ip = strdup("not-an-ip");
        check_request("malformed spec.loadBalancerIP", s, -EINVAL, NULL,
                      "spec.loadBalancerIP: \"not-an-ip\" is not an IP address");

        s = service("demo", "web", "u");
        labels_set(&s->meta.annotations, ANNOTATION_POOL_METALLB_OLD, "old");
        labels_set(&s->meta.annotations, ANNOTATION_POOL_METALLB, "new");
        labels_set(&s->meta.annotations, ANNOTATION_SHARED_METALLB_OLD, "k-old");
        is_int(service_resolve_request(s, &req, err, sizeof(err)), 0, "pool/sharing resolve");
        is_str(req.pool, "new", "pool: metallb.io wins");
        is_str(req.pool_source, ANNOTATION_POOL_METALLB, "pool source named");
        is_str(req.sharing_key, "k-old", "sharing key from the only annotation present");
        ok(req.n_addresses == 0 && !req.addresses_source, "no addresses requested");
        labels_set(&s->meta.annotations, ANNOTATION_POOL_MLBD, "mine");
        labels_set(&s->meta.annotations, ANNOTATION_SHARED_MLBD, "k-mlbd");
        labels_set(&s->meta.annotations, ANNOTATION_SHARED_METALLB, "k-new");
        service_resolve_request(s, &req, err, sizeof(err));
        is_str(req.pool, "mine", "pool: mlbd.io wins");
        is_str(req.sharing_key, "k-mlbd", "sharing: mlbd.io wins");

        ok(service_wants_load_balancer(s, NULL), "LoadBalancer without class");
        s->load_balancer_class = strdup("example.com/other");
        ok(!service_wants_load_balancer(s, NULL), "another class is not ours");
        ok(service_wants_load_balancer(s, "example.com/other"), "our class is ours");
        s->type = SERVICE_NODE_PORT;
        ok(!service_wants_load_balancer(s, "example.com/other"), "NodePort is not ours");
        obj_free(s);
}

static void test_strings(void)
{
        is_str(obj_kind_to_string(OBJ_ENDPOINT_SLICE), "EndpointSlice", "kind name");
        is_int(obj_kind_from_string("Pod"), -EINVAL, "unknown kind");
        is_int(obj_kind_from_string(NULL), -EINVAL, "NULL kind");
        is_int(service_type_from_string("LoadBalancer"), SERVICE_LOAD_BALANCER, "type");
        is_int(port_protocol_from_string("SCTP"), PROTO_SCTP, "protocol");
        is_int(port_protocol_from_string("tcp"), -EINVAL, "protocols are case-sensitive");
        is_int(ip_family_from_string("IPv6"), AF_INET6, "family");
        is_str(traffic_policy_to_string(TRAFFIC_LOCAL), "Local", "policy");
        ok(obj_kind_to_string(_OBJ_KIND_MAX) == NULL, "out of range kind has no name");
}

int main(void)
{
        test_basic();
        test_many();
        test_replace_merge();
        test_endpoints();
        test_annotations();
        test_strings();
        return tap_done();
}
