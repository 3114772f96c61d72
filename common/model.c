/* SPDX-License-Identifier: MIT */
/*
 * The Kubernetes object model; see model.h. Storage is one intrusive hash table per kind
 * (util/htable.h: SipHash-2-4 under a random per-table key), keyed by the object key.
 * Tables double when the load passes 1 and never shrink (a full sync builds a fresh model
 * anyway).
 */
#include <string.h>

#include "model.h"
#include "util/htable.h"

/* ---- enums and their strings ---------------------------------------------------------- */

static const char *const kind_names[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = "Service",
    [OBJ_ENDPOINT_SLICE] = "EndpointSlice",
    [OBJ_NODE] = "Node",
    [OBJ_NAMESPACE] = "Namespace",
};

static int table_lookup(const char *const *table, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int)i;
        return -EINVAL;
}

static const char *table_name(const char *const *table, size_t n, int i)
{
        return i >= 0 && (size_t)i < n ? table[i] : NULL;
}

#define DEFINE_STRING_TABLE(name, type, table)                                                     \
        const char *name##_to_string(type x)                                                       \
        {                                                                                          \
                return table_name(table, ELEMENTSOF(table), (int)x);                               \
        }                                                                                          \
        type name##_from_string(const char *s)                                                     \
        {                                                                                          \
                return (type)table_lookup(table, ELEMENTSOF(table), s);                            \
        }

DEFINE_STRING_TABLE(obj_kind, ObjKind, kind_names)

static const char *const service_type_names[_SERVICE_TYPE_MAX] = {
    [SERVICE_CLUSTER_IP] = "ClusterIP",
    [SERVICE_NODE_PORT] = "NodePort",
    [SERVICE_LOAD_BALANCER] = "LoadBalancer",
    [SERVICE_EXTERNAL_NAME] = "ExternalName",
};
DEFINE_STRING_TABLE(service_type, ServiceType, service_type_names)

static const char *const ip_family_policy_names[_IP_FAMILY_POLICY_MAX] = {
    [IP_FAMILY_SINGLE_STACK] = "SingleStack",
    [IP_FAMILY_PREFER_DUAL_STACK] = "PreferDualStack",
    [IP_FAMILY_REQUIRE_DUAL_STACK] = "RequireDualStack",
};
DEFINE_STRING_TABLE(ip_family_policy, IpFamilyPolicy, ip_family_policy_names)

static const char *const port_protocol_names[_PORT_PROTOCOL_MAX] = {
    [PROTO_TCP] = "TCP",
    [PROTO_UDP] = "UDP",
    [PROTO_SCTP] = "SCTP",
};
DEFINE_STRING_TABLE(port_protocol, PortProtocol, port_protocol_names)

static const char *const traffic_policy_names[_TRAFFIC_POLICY_MAX] = {
    [TRAFFIC_CLUSTER] = "Cluster",
    [TRAFFIC_LOCAL] = "Local",
};
DEFINE_STRING_TABLE(traffic_policy, TrafficPolicy, traffic_policy_names)

static const char *const address_type_names[_ADDRESS_TYPE_MAX] = {
    [ADDRESS_TYPE_IPV4] = "IPv4",
    [ADDRESS_TYPE_IPV6] = "IPv6",
    [ADDRESS_TYPE_FQDN] = "FQDN",
};
DEFINE_STRING_TABLE(address_type, AddressType, address_type_names)

int ip_family_from_string(const char *s)
{
        if (s && strcmp(s, "IPv4") == 0)
                return AF_INET;
        if (s && strcmp(s, "IPv6") == 0)
                return AF_INET6;
        return -EINVAL;
}

const char *ip_family_to_string(int af)
{
        return af == AF_INET ? "IPv4" : af == AF_INET6 ? "IPv6" : NULL;
}

/* ---- objects ------------------------------------------------------------------------ */

static void meta_clear(ObjMeta *m)
{
        free(m->key);
        free(m->namespace);
        free(m->name);
        free(m->uid);
        labels_clear(&m->labels);
        labels_clear(&m->annotations);
}

void *obj_new(ObjKind kind)
{
        static const size_t sizes[_OBJ_KIND_MAX] = {
            [OBJ_SERVICE] = sizeof(Service),
            [OBJ_ENDPOINT_SLICE] = sizeof(EndpointSlice),
            [OBJ_NODE] = sizeof(Node),
            [OBJ_NAMESPACE] = sizeof(Namespace),
        };
        if (kind < 0 || kind >= _OBJ_KIND_MAX)
                return NULL;
        ObjMeta *m = calloc(1, sizes[kind]);
        if (!m)
                return NULL;
        m->kind = kind;
        return m;
}

void *obj_free(void *obj)
{
        ObjMeta *m = obj;
        if (!m)
                return NULL;
        switch (m->kind) {
        case OBJ_SERVICE: {
                Service *s = obj;
                free(s->load_balancer_class);
                free(s->load_balancer_ip);
                for (size_t i = 0; i < s->n_ports; i++)
                        free(s->ports[i].name);
                free(s->ports);
                labels_clear(&s->selector);
                free(s->ingress);
                break;
        }
        case OBJ_ENDPOINT_SLICE: {
                EndpointSlice *e = obj;
                free(e->service_name);
                for (size_t i = 0; i < e->n_endpoints; i++)
                        free(e->endpoints[i].node_name);
                free(e->endpoints);
                break;
        }
        case OBJ_NODE: {
                Node *n = obj;
                for (size_t i = 0; i < n->n_addresses; i++) {
                        free(n->addresses[i].type);
                        free(n->addresses[i].address);
                }
                free(n->addresses);
                break;
        }
        default:
                break;
        }
        meta_clear(m);
        free(m);
        return NULL;
}

const char *obj_key(char *buf, size_t len, const char *namespace, const char *name)
{
        int n = namespace ? snprintf(buf, len, "%s/%s", namespace, name)
                          : snprintf(buf, len, "%s", name);
        return n >= 0 && (size_t)n < len ? buf : NULL;
}

int obj_set_name(ObjMeta *m, const char *namespace, const char *name)
{
        _cleanup_free_ char *ns = NULL, *nm = NULL, *key = NULL;

        if (!name || obj_kind_namespaced(m->kind) != !!namespace)
                return -EINVAL;
        nm = strdup(name);
        if (!nm)
                return -ENOMEM;
        if (namespace) {
                ns = strdup(namespace);
                if (!ns || asprintf(&key, "%s/%s", namespace, name) < 0) {
                        key = NULL;
                        return -ENOMEM;
                }
        } else {
                key = strdup(name);
                if (!key)
                        return -ENOMEM;
        }
        free(m->namespace);
        free(m->name);
        free(m->key);
        m->namespace = TAKE_PTR(ns);
        m->name = TAKE_PTR(nm);
        m->key = TAKE_PTR(key);
        return 0;
}

/* ---- hash table ---------------------------------------------------------------------- */

typedef struct Entry {
        HNode h;      /* first member */
        ObjMeta *obj; /* the key is obj->key */
} Entry;

struct ObjTable {
        HTable ht;
        HKey key;
};

static int table_new(ObjTable **ret)
{
        ObjTable *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        if (ht_init(&t->ht, 16) < 0) {
                free(t);
                return -ENOMEM;
        }
        if (ht_key_init(&t->key) < 0) {
                ht_done(&t->ht);
                free(t);
                return -EIO;
        }
        *ret = t;
        return 0;
}

static void table_free(ObjTable *t)
{
        if (!t)
                return;
        for (size_t b = 0; b < t->ht.nb; b++)
                for (HNode *n = t->ht.b[b], *next; n; n = next) {
                        next = n->next;
                        obj_free(((Entry *)n)->obj);
                        free(n);
                }
        ht_done(&t->ht);
        free(t);
}

static Entry *table_find(const ObjTable *t, const char *key)
{
        uint64_t h = ht_hash_str(&t->key, key);
        for (HNode *n = ht_chain(&t->ht, h); n; n = n->next)
                if (n->hash == h && strcmp(((Entry *)n)->obj->key, key) == 0)
                        return (Entry *)n;
        return NULL;
}

/* Links e (its object set) under t's key. */
static void table_link(ObjTable *t, Entry *e)
{
        e->h.hash = ht_hash_str(&t->key, e->obj->key);
        ht_insert(&t->ht, &e->h);
}

/* Inserts or replaces; with no_replace returns MODEL_DUPLICATE on a present key. Takes
 * ownership of obj in every case. */
static int table_put(ObjTable *t, ObjMeta *obj, bool no_replace)
{
        Entry *e = table_find(t, obj->key);

        if (e) {
                if (no_replace) {
                        obj_free(obj);
                        return MODEL_DUPLICATE;
                }
                obj_free(e->obj);
                e->obj = obj;
                return MODEL_UPDATED;
        }
        e = malloc(sizeof(*e));
        if (!e) {
                obj_free(obj);
                return -ENOMEM;
        }
        e->obj = obj;
        table_link(t, e);
        return MODEL_CREATED;
}

/* ---- model --------------------------------------------------------------------------- */

static void slice_index_drop(Model *m);

int model_new(Model **ret)
{
        _cleanup_(model_freep) Model *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        for (size_t k = 0; k < _OBJ_KIND_MAX; k++) {
                int r = table_new(&m->tables[k]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

Model *model_free(Model *m)
{
        if (!m)
                return NULL;
        for (size_t k = 0; k < _OBJ_KIND_MAX; k++)
                table_free(m->tables[k]);
        free(m->slice_index);
        free(m);
        return NULL;
}

static ObjTable *kind_table(const Model *m, ObjKind kind)
{
        return kind >= 0 && kind < _OBJ_KIND_MAX ? m->tables[kind] : NULL;
}

int model_upsert(Model *m, void *obj)
{
        ObjMeta *o = obj;
        ObjTable *t = o && o->key ? kind_table(m, o->kind) : NULL;
        if (!t) {
                obj_free(obj);
                return -EINVAL;
        }
        int r = table_put(t, o, false);
        if (r > 0)
                m->generation++;
        return r;
}

int model_add(Model *m, void *obj)
{
        ObjMeta *o = obj;
        ObjTable *t = o && o->key ? kind_table(m, o->kind) : NULL;
        if (!t) {
                obj_free(obj);
                return -EINVAL;
        }
        int r = table_put(t, o, true);
        if (r == MODEL_CREATED)
                m->generation++;
        return r;
}

int model_delete(Model *m, ObjKind kind, const char *namespace, const char *name, const char *uid)
{
        char key[OBJ_KEY_MAX];
        ObjTable *t = kind_table(m, kind);

        if (!t || !name || !obj_key(key, sizeof(key), namespace, name))
                return -EINVAL;
        Entry *e = table_find(t, key);
        if (!e)
                return MODEL_ABSENT;
        if (uid && (!e->obj->uid || strcmp(e->obj->uid, uid) != 0))
                return MODEL_UID_MISMATCH;
        ht_remove(&t->ht, &e->h);
        obj_free(e->obj);
        free(e);
        m->generation++;
        return MODEL_DELETED;
}

void model_replace(Model *m, Model **src)
{
        for (size_t k = 0; k < _OBJ_KIND_MAX; k++) {
                ObjTable *old = m->tables[k];
                m->tables[k] = (*src)->tables[k];
                (*src)->tables[k] = old;
        }
        m->generation++;
        slice_index_drop(m);
        *src = model_free(*src);
}

int model_merge(Model *dst, Model *src, ObjKind *dup_kind, char dup_key[static OBJ_KEY_MAX])
{
        /* Check first, so a duplicate moves nothing. */
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++) {
                ModelIter it = {};
                const ObjMeta *o;
                while ((o = model_next(src, k, &it)))
                        if (model_get_key(dst, k, o->key)) {
                                *dup_kind = k;
                                snprintf(dup_key, OBJ_KEY_MAX, "%s", o->key);
                                return MODEL_DUPLICATE;
                        }
        }
        slice_index_drop(dst); /* contents change without a generation bump */
        slice_index_drop(src);
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++) {
                ObjTable *s = src->tables[k], *d = dst->tables[k];
                for (size_t b = 0; b < s->ht.nb; b++) {
                        HNode *n;
                        while ((n = s->ht.b[b])) {
                                ht_remove(&s->ht, n);
                                table_link(d, (Entry *)n); /* rehash under dst's key */
                        }
                }
        }
        return 0;
}

const void *model_get_key(const Model *m, ObjKind kind, const char *key)
{
        ObjTable *t = kind_table(m, kind);
        if (!t || !key)
                return NULL;
        Entry *e = table_find(t, key);
        return e ? e->obj : NULL;
}

const void *model_get(const Model *m, ObjKind kind, const char *namespace, const char *name)
{
        char key[OBJ_KEY_MAX];
        if (!name || obj_kind_namespaced(kind) != !!namespace ||
            !obj_key(key, sizeof(key), namespace, name))
                return NULL;
        return model_get_key(m, kind, key);
}

size_t model_count(const Model *m, ObjKind kind)
{
        ObjTable *t = kind_table(m, kind);
        return t ? t->ht.n : 0;
}

const void *model_next(const Model *m, ObjKind kind, ModelIter *it)
{
        ObjTable *t = kind_table(m, kind);
        if (!t)
                return NULL;
        const HNode *n = it->entry ? ((const HNode *)it->entry)->next : NULL;
        if (!n && it->entry)
                it->bucket++;
        while (!n && it->bucket < t->ht.nb) {
                n = t->ht.b[it->bucket];
                if (!n)
                        it->bucket++;
        }
        it->entry = n;
        return n ? ((const Entry *)n)->obj : NULL;
}

static int cmp_key(const void *a, const void *b)
{
        const ObjMeta *x = *(const ObjMeta *const *)a, *y = *(const ObjMeta *const *)b;
        return strcmp(x->key, y->key);
}

int model_list_sorted(const Model *m, ObjKind kind, const void ***ret, size_t *ret_n)
{
        size_t n = model_count(m, kind), i = 0;
        const void **v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        ModelIter it = {};
        const void *o;
        while ((o = model_next(m, kind, &it)) && i < n)
                v[i++] = o;
        qsort(v, i, sizeof(*v), cmp_key);
        *ret = v;
        *ret_n = i;
        return 0;
}

static int cmp_slice(const void *a, const void *b)
{
        const EndpointSlice *x = *(const EndpointSlice *const *)a;
        const EndpointSlice *y = *(const EndpointSlice *const *)b;
        int c = strcmp(x->meta.namespace, y->meta.namespace);
        return c ? c : strcmp(x->service_name, y->service_name);
}

static void slice_index_drop(Model *m)
{
        free(m->slice_index);
        m->slice_index = NULL;
        m->n_slice_index = 0;
        m->slice_index_valid = false;
}

static int slice_index_build(Model *m)
{
        size_t n = model_count(m, OBJ_ENDPOINT_SLICE), i = 0;
        const EndpointSlice **v = calloc(n ? n : 1, sizeof(*v));
        ModelIter it = {};
        const EndpointSlice *e;

        if (!v)
                return -ENOMEM;
        while ((e = model_next(m, OBJ_ENDPOINT_SLICE, &it)))
                if (e->service_name && i < n)
                        v[i++] = e;
        qsort(v, i, sizeof(*v), cmp_slice);
        slice_index_drop(m);
        m->slice_index = v;
        m->n_slice_index = i;
        m->slice_index_gen = m->generation;
        m->slice_index_valid = true;
        return 0;
}

size_t model_service_slices(const Model *cm, const char *ns, const char *service,
                            const EndpointSlice *const **ret)
{
        /* The index is a cache: building it does not change what the model holds. */
        Model *m = (Model *)cm;
        EndpointSlice key = {.meta.namespace = (char *)ns, .service_name = (char *)service};
        const EndpointSlice *kp = &key;

        *ret = NULL;
        if (!m->slice_index_valid || m->slice_index_gen != m->generation)
                if (slice_index_build(m) < 0)
                        return 0;
        /* lower bound */
        size_t lo = 0, hi = m->n_slice_index;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cmp_slice(&m->slice_index[mid], &kp) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        size_t end = lo;
        while (end < m->n_slice_index && cmp_slice(&m->slice_index[end], &kp) == 0)
                end++;
        *ret = m->slice_index + lo;
        return end - lo;
}

bool model_service_has_ready_endpoint(const Model *m, const char *ns, const char *service,
                                      const char *node)
{
        const EndpointSlice *const *v;
        size_t n = model_service_slices(m, ns, service, &v);

        for (size_t k = 0; k < n; k++)
                for (size_t i = 0; i < v[k]->n_endpoints; i++)
                        if (v[k]->endpoints[i].ready && v[k]->endpoints[i].node_name &&
                            strcmp(v[k]->endpoints[i].node_name, node) == 0)
                                return true;
        return false;
}

/* ---- Service request resolution ------------------------------------------------------- */

const char *service_annotation_pick(const Service *s, const char *const *names, size_t n,
                                    const char **which)
{
        for (size_t i = 0; i < n; i++) {
                const char *v = labels_get(&s->meta.annotations, names[i]);
                if (v && *v) {
                        if (which)
                                *which = names[i];
                        return v;
                }
        }
        if (which)
                *which = NULL;
        return NULL;
}

static const char *const ips_names[] = {
    ANNOTATION_IPS_MLBD,
    ANNOTATION_IPS_METALLB,
    ANNOTATION_IPS_METALLB_OLD,
};
static const char *const pool_names[] = {
    ANNOTATION_POOL_MLBD,
    ANNOTATION_POOL_METALLB,
    ANNOTATION_POOL_METALLB_OLD,
};
static const char *const shared_names[] = {
    ANNOTATION_SHARED_MLBD,
    ANNOTATION_SHARED_METALLB,
    ANNOTATION_SHARED_METALLB_OLD,
};

static bool is_space(char c)
{
        return c == ' ' || c == '\t';
}

/* Parses a comma list of addresses, at most one per family. */
static int parse_ip_list(const char *source, const char *value, u128 out[static 2], size_t *n,
                         char *err, size_t err_len)
{
        const char *p = value;

        *n = 0;
        for (;;) {
                while (is_space(*p))
                        p++;
                const char *end = p + strcspn(p, ",");
                const char *e = end;
                while (e > p && is_space(e[-1]))
                        e--;
                size_t len = (size_t)(e - p);
                char one[ADDR_STR_MAX];
                u128 a;

                if (len == 0) {
                        snprintf(err, err_len, "%s: \"%s\" has an empty entry", source, value);
                        return -EINVAL;
                }
                if (len >= sizeof(one)) {
                        snprintf(err, err_len, "%s: \"%.*s...\" is not an IP address", source,
                                 (int)MIN(len, (size_t)ADDR_STR_MAX), p);
                        return -EINVAL;
                }
                memcpy(one, p, len);
                one[len] = 0;
                if (!addr_parse(one, &a)) {
                        snprintf(err, err_len, "%s: \"%s\" is not an IP address", source, one);
                        return -EINVAL;
                }
                for (size_t i = 0; i < *n; i++)
                        if (addr_family(out[i]) == addr_family(a)) {
                                if (out[i] == a)
                                        snprintf(err, err_len, "%s: %s is listed twice", source,
                                                 one);
                                else
                                        snprintf(err, err_len, "%s: more than one %s address (%s)",
                                                 source, ip_family_to_string(addr_family(a)), one);
                                return -EINVAL;
                        }
                out[(*n)++] = a;
                if (!*end)
                        return 0;
                p = end + 1;
        }
}

int service_resolve_request(const Service *s, ServiceRequest *ret, char *err, size_t err_len)
{
        ServiceRequest req = {};
        const char *ips, *which;
        int r;

        ips = service_annotation_pick(s, ips_names, ELEMENTSOF(ips_names), &which);
        if (ips) {
                r = parse_ip_list(which, ips, req.addresses, &req.n_addresses, err, err_len);
                if (r < 0)
                        return r;
                req.addresses_source = which;
        }
        if (s->load_balancer_ip && *s->load_balancer_ip) {
                u128 a;
                if (!addr_parse(s->load_balancer_ip, &a)) {
                        snprintf(err, err_len, "spec.loadBalancerIP: \"%s\" is not an IP address",
                                 s->load_balancer_ip);
                        return -EINVAL;
                }
                if (!ips) {
                        req.addresses[0] = a;
                        req.n_addresses = 1;
                        req.addresses_source = "spec.loadBalancerIP";
                } else if (req.n_addresses != 1 || req.addresses[0] != a) {
                        snprintf(err, err_len,
                                 "spec.loadBalancerIP %s conflicts with annotation %s \"%s\"",
                                 s->load_balancer_ip, which, ips);
                        return -EINVAL;
                }
        }
        req.pool = service_annotation_pick(s, pool_names, ELEMENTSOF(pool_names), &req.pool_source);
        req.sharing_key =
            service_annotation_pick(s, shared_names, ELEMENTSOF(shared_names), &req.sharing_source);
        *ret = req;
        return 0;
}

bool service_wants_load_balancer(const Service *s, const char *lb_class)
{
        if (s->type != SERVICE_LOAD_BALANCER)
                return false;
        if (!s->load_balancer_class)
                return true;
        return lb_class && strcmp(lb_class, s->load_balancer_class) == 0;
}
