/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes objects -> mlbd's protocol objects, and the Service status patch; see
 * translate.h. What is kept of each kind is written as a table of fields (below), so the
 * code that walks them is the same for every kind and the tables read like the protocol's.
 */
#include <string.h>

#include "addr.h"
#include "translate.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* A member to keep. sub == NULL keeps the value whole; otherwise the value (an object),
 * or each object of it when each is set (an array), keeps only the members in sub.
 * A value of another JSON type than expected is kept whole. */
typedef struct Field {
        const char *key;
        const struct Field *sub;
        bool each;
} Field;

/* clang-format off */
#define KEEP(k) { k, NULL, false }
#define ONLY(k, fields) { k, fields, false }
#define EACH(k, fields) { k, fields, true }
#define END { NULL, NULL, false }
/* clang-format on */

static const Field meta_fields[] = {
    KEEP("namespace"), KEEP("name"), KEEP("uid"), KEEP("resourceVersion"), KEEP("labels"), END,
};
static const Field service_meta_fields[] = {
    KEEP("namespace"), KEEP("name"),        KEEP("uid"), KEEP("resourceVersion"),
    KEEP("labels"),    KEEP("annotations"), END,
};
static const Field port_fields[] = {KEEP("name"), KEEP("protocol"), KEEP("port"), END};
static const Field service_spec_fields[] = {
    KEEP("type"),
    KEEP("loadBalancerClass"),
    KEEP("loadBalancerIP"),
    KEEP("ipFamilies"),
    KEEP("ipFamilyPolicy"),
    EACH("ports", port_fields),
    KEEP("externalTrafficPolicy"),
    KEEP("selector"),
    END,
};
static const Field ingress_fields[] = {KEEP("ip"), KEEP("hostname"), END};
static const Field load_balancer_fields[] = {EACH("ingress", ingress_fields), END};
static const Field service_status_fields[] = {ONLY("loadBalancer", load_balancer_fields),
                                              KEEP("conditions"), END};
static const Field service_fields[] = {
    ONLY("metadata", service_meta_fields),
    ONLY("spec", service_spec_fields),
    ONLY("status", service_status_fields),
    END,
};

static const Field conditions_ready_fields[] = {KEEP("ready"), END};
static const Field endpoint_fields[] = {
    KEEP("addresses"),
    KEEP("nodeName"),
    ONLY("conditions", conditions_ready_fields),
    END,
};
static const Field endpoint_slice_fields[] = {
    ONLY("metadata", meta_fields),
    KEEP("addressType"),
    EACH("endpoints", endpoint_fields),
    END,
};

static const Field node_address_fields[] = {KEEP("type"), KEEP("address"), END};
static const Field node_condition_fields[] = {KEEP("type"), KEEP("status"), END};
static const Field node_status_fields[] = {
    EACH("addresses", node_address_fields),
    EACH("conditions", node_condition_fields),
    END,
};
static const Field node_fields[] = {
    ONLY("metadata", meta_fields),
    ONLY("status", node_status_fields),
    END,
};

static const Field namespace_fields[] = {ONLY("metadata", meta_fields), END};

static const Field *const kind_fields[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = service_fields,
    [OBJ_ENDPOINT_SLICE] = endpoint_slice_fields,
    [OBJ_NODE] = node_fields,
    [OBJ_NAMESPACE] = namespace_fields,
};

static const char *const kind_paths[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = "/api/v1/services",
    [OBJ_ENDPOINT_SLICE] = "/apis/discovery.k8s.io/v1/endpointslices",
    [OBJ_NODE] = "/api/v1/nodes",
    [OBJ_NAMESPACE] = "/api/v1/namespaces",
};

static const char *const kind_api_versions[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = "v1",
    [OBJ_ENDPOINT_SLICE] = "discovery.k8s.io/v1",
    [OBJ_NODE] = "v1",
    [OBJ_NAMESPACE] = "v1",
};

const char *translate_kind_path(ObjKind kind)
{
        return kind >= 0 && kind < _OBJ_KIND_MAX ? kind_paths[kind] : NULL;
}

const char *translate_kind_api_version(ObjKind kind)
{
        return kind >= 0 && kind < _OBJ_KIND_MAX ? kind_api_versions[kind] : NULL;
}

static json_t *pick(const json_t *src, const Field *fields);

/* The kept form of one value. */
static json_t *pick_value(const json_t *v, const Field *f)
{
        if (f->sub && !f->each && json_is_object(v))
                return pick(v, f->sub);
        if (f->sub && f->each && json_is_array(v)) {
                json_t *a = json_array();
                for (size_t i = 0; a && i < json_array_size(v); i++) {
                        const json_t *e = json_array_get(v, i);
                        json_t *c = json_is_object(e) ? pick(e, f->sub) : json_deep_copy(e);
                        if (!c || json_array_append_new(a, c) < 0) {
                                json_decref(a);
                                return NULL;
                        }
                }
                return a;
        }
        return json_deep_copy(v);
}

/* A new object with the members of src named in fields; NULL on OOM. */
static json_t *pick(const json_t *src, const Field *fields)
{
        json_t *o = json_object();

        for (const Field *f = fields; o && f->key; f++) {
                const json_t *v = json_object_get(src, f->key);
                if (!v)
                        continue;
                json_t *c = pick_value(v, f);
                if (!c || json_object_set_new(o, f->key, c) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

int translate_object(ObjKind kind, const json_t *obj, const char *lb_class, json_t **ret)
{
        if (kind < 0 || kind >= _OBJ_KIND_MAX || !json_is_object(obj) ||
            !json_is_object(json_object_get(obj, "metadata")))
                return -EINVAL;

        json_t *o = pick(obj, kind_fields[kind]);
        if (!o)
                return -ENOMEM;

        /* kubectl's copy of the whole object as applied: up to the 256 KiB all annotations
         * may hold, and nothing mlbd reads */
        if (kind == OBJ_SERVICE)
                json_object_del(json_object_get(json_object_get(o, "metadata"), "annotations"),
                                LAST_APPLIED);

        if (kind == OBJ_SERVICE && lb_class) {
                json_t *spec = json_object_get(o, "spec");
                const char *class = json_string_value(json_object_get(spec, "loadBalancerClass"));
                if (class && strcmp(class, lb_class) == 0)
                        json_object_del(spec, "loadBalancerClass");
        }
        *ret = o;
        return 0;
}

static const char *meta_string(const json_t *obj, const char *key)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

int translate_object_key(ObjKind kind, const json_t *obj, char ret[static OBJ_KEY_MAX])
{
        const char *ns = NULL, *name = meta_string(obj, "name");

        if (kind < 0 || kind >= _OBJ_KIND_MAX || !name || !*name)
                return -EINVAL;
        if (obj_kind_namespaced(kind)) {
                ns = meta_string(obj, "namespace");
                if (!ns || !*ns)
                        return -EINVAL;
        }
        return obj_key(ret, OBJ_KEY_MAX, ns, name) ? 0 : -EINVAL;
}

const char *translate_object_uid(const json_t *obj)
{
        return meta_string(obj, "uid");
}

const char *translate_object_resource_version(const json_t *obj)
{
        return meta_string(obj, "resourceVersion");
}

int translate_status_patch(const char *const *addresses, size_t n, json_t **ret)
{
        json_t *ingress = n == 0 ? json_null() : json_array();

        if (!ingress)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *ip;
                /* json_string() refuses text that is not UTF-8 */
                if (!addresses[i] || !*addresses[i] || !(ip = json_string(addresses[i]))) {
                        json_decref(ingress);
                        return -EINVAL;
                }
                if (json_array_append_new(ingress, json_pack("{so}", "ip", ip)) < 0) {
                        json_decref(ingress);
                        return -ENOMEM;
                }
        }
        /* "o" steals ingress, also on failure */
        json_t *patch = json_pack("{s{s{so}}}", "status", "loadBalancer", "ingress", ingress);
        if (!patch)
                return -ENOMEM;
        *ret = patch;
        return 0;
}

static bool same_address(const char *a, const char *b)
{
        u128 x, y;

        if (addr_parse(a, &x) && addr_parse(b, &y))
                return x == y;
        return strcmp(a, b) == 0;
}

bool translate_ingress_equal(const json_t *service, const char *const *addresses, size_t n)
{
        const json_t *lb, *ingress;

        lb = json_object_get(json_object_get(service, "status"), "loadBalancer");
        ingress = json_object_get(lb, "ingress");
        if (!ingress || json_is_null(ingress))
                return n == 0;
        if (!json_is_array(ingress) || json_array_size(ingress) != n)
                return false;

        for (size_t i = 0; i < n; i++) {
                const char *ip =
                    json_string_value(json_object_get(json_array_get(ingress, i), "ip"));
                if (!ip || !*ip || !addresses[i])
                        return false;
        }
        /* same multiset: every wanted address occurs as often on both sides (the lists are
         * a few entries long, so counting beats sorting) */
        for (size_t i = 0; i < n; i++) {
                size_t want = 0, have = 0;
                for (size_t k = 0; k < n; k++) {
                        want += same_address(addresses[i], addresses[k]);
                        have += same_address(addresses[i], json_string_value(json_object_get(
                                                               json_array_get(ingress, k), "ip")));
                }
                if (want != have)
                        return false;
        }
        return true;
}
