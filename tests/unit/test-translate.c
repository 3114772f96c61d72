/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for translate.c. The sample objects in tests/data/watch/ are shaped as
 * kube-apiserver 1.26 returns them (managedFields, ownerReferences, kubectl's
 * last-applied-configuration, a Node's images); each is translated and compared with its
 * .ok.json, then wrapped in an upsert message and decoded by the daemon's own decoder
 * (control-proto), which must accept it and see the same thing it sees in the full object.
 */
#include <string.h>

#include "control-proto.h"
#include "tap.h"
#include "translate.h"
#include "util/fileio.h"

static char data_dir[4200];

static json_t *load(const char *name)
{
        char path[4400];
        json_error_t e;

        snprintf(path, sizeof(path), "%s/%s", data_dir, name);
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                printf("# %s:%d:%d: %s\n", path, e.line, e.column, e.text);
        return j;
}

static bool str_eq(const char *a, const char *b)
{
        return a && b ? strcmp(a, b) == 0 : a == b;
}

static bool labels_eq(const Labels *a, const Labels *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!str_eq(labels_get(b, a->items[i].key), a->items[i].value))
                        return false;
        return true;
}

/* Everything the daemon's model holds of the object, compared field by field. */
static bool same_decoded(ObjKind kind, const void *x, const void *y)
{
        const ObjMeta *a = x, *b = y;

        if (!str_eq(a->key, b->key) || !str_eq(a->uid, b->uid) ||
            !labels_eq(&a->labels, &b->labels))
                return false;
        switch (kind) {
        case OBJ_SERVICE: {
                const Service *s = x, *t = y;
                /* the one annotation dropped is kubectl's copy of the object */
                Labels ann = {0};
                for (size_t i = 0; i < s->meta.annotations.n; i++)
                        if (strcmp(s->meta.annotations.items[i].key,
                                   "kubectl.kubernetes.io/last-applied-configuration") != 0 &&
                            labels_set(&ann, s->meta.annotations.items[i].key,
                                       s->meta.annotations.items[i].value) < 0)
                                return false;
                bool same = labels_eq(&ann, &t->meta.annotations);
                labels_clear(&ann);
                if (!same || s->type != t->type ||
                    !str_eq(s->load_balancer_class, t->load_balancer_class) ||
                    !str_eq(s->load_balancer_ip, t->load_balancer_ip) ||
                    s->n_ip_families != t->n_ip_families ||
                    memcmp(s->ip_families, t->ip_families, sizeof(s->ip_families)) != 0 ||
                    s->ip_family_policy != t->ip_family_policy || s->n_ports != t->n_ports ||
                    s->external_traffic_policy != t->external_traffic_policy ||
                    !labels_eq(&s->selector, &t->selector) || s->n_ingress != t->n_ingress ||
                    s->n_ingress_invalid != t->n_ingress_invalid)
                        return false;
                for (size_t i = 0; i < s->n_ports; i++)
                        if (!str_eq(s->ports[i].name, t->ports[i].name) ||
                            s->ports[i].port != t->ports[i].port ||
                            s->ports[i].protocol != t->ports[i].protocol)
                                return false;
                for (size_t i = 0; i < s->n_ingress; i++)
                        if (s->ingress[i] != t->ingress[i])
                                return false;
                return true;
        }
        case OBJ_ENDPOINT_SLICE: {
                const EndpointSlice *s = x, *t = y;
                if (!str_eq(s->service_name, t->service_name) ||
                    s->address_type != t->address_type || s->n_endpoints != t->n_endpoints)
                        return false;
                for (size_t i = 0; i < s->n_endpoints; i++)
                        if (!str_eq(s->endpoints[i].node_name, t->endpoints[i].node_name) ||
                            s->endpoints[i].ready != t->endpoints[i].ready)
                                return false;
                return true;
        }
        case OBJ_NODE: {
                const Node *s = x, *t = y;
                if (s->ready != t->ready || s->n_addresses != t->n_addresses)
                        return false;
                for (size_t i = 0; i < s->n_addresses; i++)
                        if (!str_eq(s->addresses[i].type, t->addresses[i].type) ||
                            !str_eq(s->addresses[i].address, t->addresses[i].address))
                                return false;
                return true;
        }
        case OBJ_NAMESPACE:
                return true;
        default:
                return false;
        }
}

/* Wraps obj in an upsert line and decodes it as mlbd does. */
static int decode_upsert(ObjKind kind, const json_t *obj, CtlRequest **ret, CtlError *err)
{
        _cleanup_free_ char *line = NULL;
        json_t *msg = json_pack("{sssisssO}", "op", "upsert", "id", 7, "kind",
                                obj_kind_to_string(kind), "object", (json_t *)obj);
        size_t len;

        if (!msg)
                return -ENOMEM;
        int r = ctl_encode(msg, &line, &len);
        json_decref(msg);
        if (r < 0)
                return r;
        if (len > CTL_LINE_MAX + 1)
                return -E2BIG;
        /* ctl_encode() ends the line with '\n', which the framer would have removed */
        return ctl_request_parse(line, len - 1, 1, ret, err);
}

static void test_sample(const char *name, ObjKind kind, const char *key, const char *lb_class)
{
        char in[128], want_name[128], k[OBJ_KEY_MAX];
        json_t *raw, *want, *got = NULL;
        _cleanup_(ctl_request_freep) CtlRequest *req = NULL;
        CtlError err = {0};
        void *full = NULL;

        char label[128];
        snprintf(label, sizeof(label), "%s%s%s", name, lb_class ? " --lb-class " : "",
                 lb_class ? lb_class : "");
        snprintf(in, sizeof(in), "%s.json", name);
        snprintf(want_name, sizeof(want_name), "%s.ok.json", name);
        raw = load(in);
        want = load(want_name);
        if (!raw || !want) {
                ok(false, "%s: sample data", label);
                goto out;
        }
        is_int(translate_object(kind, raw, lb_class, &got), 0, "%s: translates", label);
        if (!ok(json_equal(got, want), "%s: only the fields mlbd reads (%s)", label, want_name)) {
                char *s = json_dumps(got, JSON_INDENT(2));
                printf("# got %s\n", s);
                free(s);
        }
        char *a = json_dumps(raw, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
        ok(a && b && strlen(b) * 2 < strlen(a), "%s: %zu bytes instead of %zu", label,
           b ? strlen(b) : 0, a ? strlen(a) : 0);
        free(a);
        free(b);

        is_int(translate_object_key(kind, raw, k), 0, "%s: has a key", label);
        is_str(k, key, "%s: key", label);

        int r = decode_upsert(kind, got, &req, &err);
        if (!ok(r == 0 && req && req->op == CTL_OP_UPSERT && req->upsert.kind == kind &&
                    str_eq(((ObjMeta *)req->upsert.object)->key, key),
                "%s: the daemon's decoder takes the translated upsert", label))
                printf("#   r=%d %s\n", r, err.detail);
        ctl_error_clear(&err);

        /* the daemon sees the same in the full object as in the translation */
        r = ctl_object_from_json(kind, raw, "object", 1, &full, &err);
        ok(r == 0 && req && same_decoded(kind, full, req->upsert.object),
           "%s: decoded the same as the full object", label);
        ctl_error_clear(&err);
        obj_free(full);
out:
        json_decref(raw);
        json_decref(want);
        json_decref(got);
}

static void test_samples(void)
{
        test_sample("service-web", OBJ_SERVICE, "demo/web", NULL);
        test_sample("service-web", OBJ_SERVICE, "demo/web", "mlbd.io/lb");
        test_sample("service-dns", OBJ_SERVICE, "demo/dns", NULL);
        test_sample("service-dns", OBJ_SERVICE, "demo/dns", "other.example/lb");
        test_sample("endpointslice-web", OBJ_ENDPOINT_SLICE, "demo/web-7xk2p", NULL);
        test_sample("node-node1", OBJ_NODE, "node1", NULL);
        test_sample("namespace-demo", OBJ_NAMESPACE, "demo", NULL);

        /* what the decoder makes of them */
        json_t *raw = load("endpointslice-web.json"), *t = NULL;
        _cleanup_(ctl_request_freep) CtlRequest *req = NULL;
        CtlError err = {0};
        if (raw && translate_object(OBJ_ENDPOINT_SLICE, raw, NULL, &t) == 0 &&
            decode_upsert(OBJ_ENDPOINT_SLICE, t, &req, &err) == 0) {
                const EndpointSlice *e = req->upsert.object;
                ok(e->n_endpoints == 3 && e->endpoints[0].ready && !e->endpoints[1].ready &&
                       e->endpoints[2].ready && str_eq(e->endpoints[1].node_name, "node2") &&
                       str_eq(e->service_name, "web"),
                   "slice: ready, not ready, ready by default; service web");
        } else
                ok(false, "slice decodes");
        ctl_error_clear(&err);
        req = ctl_request_free(req);
        json_decref(raw);
        json_decref(t);
        t = NULL;

        raw = load("node-node1.json");
        if (raw && translate_object(OBJ_NODE, raw, NULL, &t) == 0 &&
            decode_upsert(OBJ_NODE, t, &req, &err) == 0) {
                const Node *n = req->upsert.object;
                ok(n->ready && n->n_addresses == 3 &&
                       labels_get(&n->meta.labels,
                                  "node.kubernetes.io/exclude-from-external-load-balancers") &&
                       n->meta.annotations.n == 0,
                   "node: ready, 3 addresses, the exclude label, no annotations");
                ok(!json_object_get(json_object_get(t, "status"), "images") &&
                       !json_object_get(t, "spec"),
                   "node: images and spec dropped");
        } else
                ok(false, "node decodes");
        ctl_error_clear(&err);
        json_decref(raw);
        json_decref(t);
}

/* ---- the lb_class rule ------------------------------------------------------------------ */

static const char *class_after(const json_t *raw, const char *lb_class)
{
        static char buf[64];
        json_t *t = NULL;
        const char *c;

        if (translate_object(OBJ_SERVICE, raw, lb_class, &t) < 0)
                return "(error)";
        c = json_string_value(json_object_get(json_object_get(t, "spec"), "loadBalancerClass"));
        snprintf(buf, sizeof(buf), "%s", c ? c : "(none)");
        json_decref(t);
        return buf;
}

static void test_lb_class(void)
{
        json_t *dns = load("service-dns.json"), *web = load("service-web.json");
        json_t *t = NULL;
        _cleanup_(ctl_request_freep) CtlRequest *req = NULL;
        CtlError err = {0};

        if (!dns || !web) {
                ok(false, "samples");
                return;
        }
        is_str(class_after(dns, NULL), "mlbd.io/lb", "no --lb-class: the class is forwarded");
        is_str(class_after(dns, "mlbd.io/lb"), "(none)",
               "--lb-class mlbd.io/lb: the class is removed");
        is_str(class_after(dns, "mlbd.io/LB"), "mlbd.io/lb", "classes compare exactly");
        is_str(class_after(dns, "other.example/lb"), "mlbd.io/lb",
               "another class is forwarded as is");
        is_str(class_after(web, "mlbd.io/lb"), "(none)", "a Service without a class stays so");
        is_str(
            json_string_value(json_object_get(json_object_get(dns, "spec"), "loadBalancerClass")),
            "mlbd.io/lb", "the input is not changed");

        if (translate_object(OBJ_SERVICE, dns, "mlbd.io/lb", &t) == 0 &&
            decode_upsert(OBJ_SERVICE, t, &req, &err) == 0) {
                const Service *s = req->upsert.object;
                ok(s->type == SERVICE_LOAD_BALANCER && !s->load_balancer_class &&
                       s->n_ip_families == 2 &&
                       s->ip_family_policy == IP_FAMILY_REQUIRE_DUAL_STACK && s->n_ports == 2 &&
                       s->ports[1].protocol == PROTO_TCP &&
                       str_eq(labels_get(&s->meta.annotations, "metallb.io/loadBalancerIPs"),
                              "192.0.2.10, 2001:db8:1::10"),
                   "mlbd sees a class-less dual-stack LoadBalancer with its annotations");
        } else
                ok(false, "dns decodes: %s", err.detail);
        ctl_error_clear(&err);
        json_decref(t);
        json_decref(dns);
        json_decref(web);
}

/* ---- odd input ---------------------------------------------------------------------------- */

static void test_odd_input(void)
{
        json_t *t = NULL, *o;
        char k[OBJ_KEY_MAX];

        o = json_pack("[]");
        is_int(translate_object(OBJ_NODE, o, NULL, &t), -EINVAL, "an array is not an object");
        json_decref(o);
        o = json_pack("{s{}}", "spec");
        is_int(translate_object(OBJ_NODE, o, NULL, &t), -EINVAL, "no metadata");
        json_decref(o);
        o = json_pack("{ss}", "metadata", "x");
        is_int(translate_object(OBJ_NODE, o, NULL, &t), -EINVAL, "metadata not an object");
        json_decref(o);
        o = json_pack("{s{ss}}", "metadata", "name", "n");
        is_int(translate_object(_OBJ_KIND_MAX, o, NULL, &t), -EINVAL, "invalid kind");
        is_int(translate_object(OBJ_NODE, NULL, NULL, &t), -EINVAL, "NULL");
        ok(t == NULL, "nothing returned on errors");
        is_int(translate_object_key(OBJ_NODE, o, k), 0, "node key");
        is_str(k, "n", "is its name");
        is_int(translate_object_key(OBJ_SERVICE, o, k), -EINVAL, "a Service needs a namespace");
        json_decref(o);

        /* a member of the wrong type is kept whole, so mlbd reports it as for the original */
        o = json_pack("{s{ssssss}s{sss[i]s[s]}}", "metadata", "namespace", "demo", "name", "web",
                      "uid", "u1", "spec", "type", "LoadBalancer", "ports", 80, "selector", "x");
        is_int(translate_object(OBJ_SERVICE, o, NULL, &t), 0, "ports of integers");
        ok(t &&
               json_equal(json_object_get(json_object_get(t, "spec"), "ports"),
                          json_object_get(json_object_get(o, "spec"), "ports")) &&
               json_is_array(json_object_get(json_object_get(t, "spec"), "selector")),
           "are copied as they are");
        _cleanup_(ctl_request_freep) CtlRequest *req = NULL;
        CtlError e1 = {0}, e2 = {0};
        void *x = NULL;
        int r1 = decode_upsert(OBJ_SERVICE, t, &req, &e1);
        int r2 = ctl_object_from_json(OBJ_SERVICE, o, "object", 1, &x, &e2);
        ok(r1 == -EINVAL && r2 == -EINVAL && strcmp(e1.detail, e2.detail) == 0,
           "the daemon refuses it with the same words: %s", e1.detail);
        ctl_error_clear(&e1);
        ctl_error_clear(&e2);
        json_decref(o);
        json_decref(t);
        t = NULL;

        /* nulls stay nulls (the protocol reads null as absent) */
        o = json_pack("{s{sssssn}sns[{sss[s]sn}]}", "metadata", "namespace", "demo", "name", "s1",
                      "labels", "addressType", "endpoints", "nodeName", "n1", "addresses",
                      "10.0.0.1", "conditions");
        is_int(translate_object(OBJ_ENDPOINT_SLICE, o, NULL, &t), 0, "a slice with nulls");
        CtlError e3 = {0};
        req = ctl_request_free(req);
        ok(t && json_is_null(json_object_get(t, "addressType")) &&
               decode_upsert(OBJ_ENDPOINT_SLICE, t, &req, &e3) == 0 &&
               ((EndpointSlice *)req->upsert.object)->endpoints[0].ready,
           "keeps them; mlbd reads them as absent (ready)");
        ctl_error_clear(&e3);
        json_decref(o);
        json_decref(t);
}

static void test_kinds(void)
{
        static const char *const paths[] = {"/api/v1/services",
                                            "/apis/discovery.k8s.io/v1/endpointslices",
                                            "/api/v1/nodes", "/api/v1/namespaces"};
        static const char *const versions[] = {"v1", "discovery.k8s.io/v1", "v1", "v1"};
        bool good = true;

        for (int k = 0; k < _OBJ_KIND_MAX; k++)
                good = good && str_eq(translate_kind_path(k), paths[k]) &&
                       str_eq(translate_kind_api_version(k), versions[k]) &&
                       obj_kind_from_string(obj_kind_to_string(k)) == k;
        ok(good, "API paths, versions and names of the four kinds");
        ok(!translate_kind_path(_OBJ_KIND_INVALID) && !translate_kind_path(_OBJ_KIND_MAX) &&
               !translate_kind_api_version(_OBJ_KIND_MAX),
           "none for invalid kinds");
        is_str(obj_kind_to_string(OBJ_ENDPOINT_SLICE), "EndpointSlice", "kind names");

        json_t *web = load("service-web.json");
        is_str(translate_object_uid(web), "6b0c1e0a-8d6f-4c1e-9a53-2f4f2a1d9c01", "uid");
        is_str(translate_object_resource_version(web), "81240", "resourceVersion");
        ok(translate_object_uid(NULL) == NULL, "no uid of nothing");
        json_decref(web);
}

/* ---- status patch and comparison -------------------------------------------------------- */

/* RFC 7386 section 2, as the API server applies a merge patch. */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
        const char *key;
        json_t *v;

        if (!json_is_object(patch)) {
                json_decref(target);
                return json_deep_copy(patch);
        }
        if (!json_is_object(target)) {
                json_decref(target);
                target = json_object();
        }
        json_object_foreach((json_t *)patch, key, v)
        {
                if (json_is_null(v))
                        json_object_del(target, key);
                else
                        json_object_set_new(
                            target, key, merge_patch(json_incref(json_object_get(target, key)), v));
        }
        return target;
}

static void test_status_patch(void)
{
        static const char *const two[] = {"192.0.2.10", "2001:db8:1::10"};
        json_t *p = NULL;
        char *s;

        is_int(translate_status_patch(two, 2, &p), 0, "patch for two addresses");
        s = json_dumps(p, JSON_COMPACT);
        is_str(s,
               "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.10\"},{\"ip\":\"2001:"
               "db8:1::10\"}]}}}",
               "sets the ingress list, in order");
        free(s);

        /* applied to the Service as the API server does */
        json_t *svc = load("service-web.json");
        json_object_set_new(json_object_get(svc, "status"), "conditions",
                            json_pack("[{ssss}]", "type", "mlbd.io/Announced", "status", "True"));
        ok(!translate_ingress_equal(svc, two, 2), "the Service shows something else before");
        svc = merge_patch(svc, p);
        ok(translate_ingress_equal(svc, two, 2), "and exactly these addresses after");
        ok(json_array_size(json_object_get(json_object_get(svc, "status"), "conditions")) == 1 &&
               json_object_get(json_object_get(svc, "spec"), "ports"),
           "the rest of the Service is untouched");
        json_decref(p);

        is_int(translate_status_patch(NULL, 0, &p), 0, "patch for no address");
        s = json_dumps(p, JSON_COMPACT);
        is_str(s, "{\"status\":{\"loadBalancer\":{\"ingress\":null}}}", "sets ingress to null");
        free(s);
        svc = merge_patch(svc, p);
        ok(json_object_get(json_object_get(svc, "status"), "loadBalancer") &&
               !json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"),
                                "ingress"),
           "which removes it");
        ok(translate_ingress_equal(svc, NULL, 0), "then no address is what it shows");
        json_decref(p);
        json_decref(svc);

        p = NULL;
        static const char *const holes[] = {"192.0.2.1", ""};
        is_int(translate_status_patch(holes, 2, &p), -EINVAL, "an empty address is refused");
        static const char *const nul[] = {NULL};
        is_int(translate_status_patch(nul, 1, &p), -EINVAL, "a NULL address is refused");
        static const char *const bad_utf8[] = {"\xff"};
        is_int(translate_status_patch(bad_utf8, 1, &p), -EINVAL, "text that is not UTF-8 too");
        ok(p == NULL, "nothing returned");
}

static bool eq_status(const char *status_json, const char *const *a, size_t n)
{
        json_error_t e;
        json_t *svc = json_loads(status_json, 0, &e);
        if (!svc) {
                printf("# bad test JSON: %s\n", e.text);
                return false;
        }
        bool r = translate_ingress_equal(svc, a, n);
        json_decref(svc);
        return r;
}

static void test_ingress_equal(void)
{
        static const char *const a[] = {"192.0.2.10"};
        static const char *const ab[] = {"192.0.2.10", "2001:db8:1::10"};
        static const char *const ba[] = {"2001:DB8:1:0::10", "192.0.2.10"};
        static const char *const aa[] = {"192.0.2.10", "192.0.2.10"};
        static const char *const ax[] = {"192.0.2.10", "192.0.2.11"};

#define ST(x) "{\"status\":{\"loadBalancer\":" x "}}"
        ok(eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"}]}"), a, 1), "same one address");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"}]}"), NULL, 0),
           "an address where none is wanted");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.11\"}]}"), a, 1), "another address");
        ok(eq_status(ST("{\"ingress\":[{\"ip\":\"2001:db8:1::10\"},{\"ip\":\"192.0.2.10\"}]}"), ab,
                     2),
           "two, in another order");
        ok(eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"},{\"ip\":\"2001:db8:1::10\"}]}"), ba,
                     2),
           "IPv6 compared as addresses, not text");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"}]}"), ab, 2), "one missing");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"},{\"ip\":\"2001:db8:1::10\"}]}"), a,
                      1),
           "one too many");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"},{\"ip\":\"192.0.2.11\"}]}"), aa, 2),
           "[A,B] is not [A,A]");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"},{\"ip\":\"192.0.2.10\"}]}"), ax, 2),
           "[A,A] is not [A,B]");
        ok(eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\",\"ipMode\":\"VIP\",\"ports\":[{"
                        "\"port\":80,\"protocol\":\"TCP\"}]}]}"),
                     a, 1),
           "ipMode and ports set by others are not compared");
        ok(!eq_status(ST("{\"ingress\":[{\"hostname\":\"lb.example.com\"}]}"), NULL, 0),
           "a hostname entry is something to clear");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"192.0.2.10\"},{\"hostname\":\"lb.example\"}]}"),
                      ab, 2),
           "a hostname entry is not an address");
        ok(eq_status(ST("{}"), NULL, 0), "no ingress, none wanted");
        ok(eq_status(ST("{\"ingress\":[]}"), NULL, 0), "empty ingress, none wanted");
        ok(eq_status(ST("{\"ingress\":null}"), NULL, 0), "null ingress, none wanted");
        ok(eq_status("{\"spec\":{}}", NULL, 0), "no status at all, none wanted");
        ok(!eq_status("{\"spec\":{}}", a, 1), "no status at all, one wanted");
        ok(!eq_status(ST("{\"ingress\":{\"ip\":\"192.0.2.10\"}}"), a, 1),
           "an ingress that is not a list differs");
        ok(!eq_status(ST("{\"ingress\":[{\"ip\":\"\"}]}"), NULL, 0) &&
               !eq_status(ST("{\"ingress\":[\"192.0.2.10\"]}"), a, 1),
           "empty ips and bare strings differ");
#undef ST
}

int main(void)
{
        const char *top = getenv("top_srcdir");
        snprintf(data_dir, sizeof(data_dir), "%s/tests/data/watch", top ? top : "..");

        test_samples();
        test_lb_class();
        test_odd_input();
        test_kinds();
        test_status_patch();
        test_ingress_equal();
        return tap_done();
}
