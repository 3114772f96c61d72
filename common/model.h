/* SPDX-License-Identifier: MIT */
/*
 * The daemon's picture of the Kubernetes objects it cares about: Services,
 * EndpointSlices, Nodes and Namespaces, as the bridge sends them over the control
 * socket (control-proto.c decodes them; this module stores them).
 *
 * Invariants:
 *   - every object starts with an ObjMeta, whose `key` is "namespace/name" for the
 *     namespaced kinds (Service, EndpointSlice) and "name" for Node and Namespace;
 *   - within one kind, keys are unique; lookup by key is O(1) on average (a chained hash
 *     table keyed with SipHash and a per-table random seed, so a client cannot choose
 *     keys that collide);
 *   - the model owns every object in it; model_upsert() takes ownership of the object it
 *     is given, also on failure;
 *   - `generation` grows by one with every change (an upsert, a delete that removed
 *     something, a full replace) and never goes back, so the reconcile step can tell
 *     whether anything moved since it last ran;
 *   - model_replace() swaps in a complete new set of objects in one step: readers see the
 *     old set or the new one, never a mix. A sync that fails to decode never reaches it.
 *
 * The Service helpers at the end interpret the annotations mlbd honours (its own and
 * MetalLB's) so every caller agrees on precedence: mlbd.io/... wins over metallb.io/...,
 * which wins over metallb.universe.tf/...
 */
#pragma once

#include "addr.h"
#include "labels.h"
#include "util/macro.h"

/* Kubernetes limits (apimachinery validation). */
#define K8S_NAME_MAX 253      /* DNS-1123 subdomain: Node, EndpointSlice names */
#define K8S_LABEL_NAME_MAX 63 /* DNS-1123 label: Namespace, Service names; label values */
#define K8S_UID_MAX 128
#define K8S_ANNOTATIONS_MAX (256u * 1024) /* total size of keys and values of one object */

typedef enum ObjKind {
        OBJ_SERVICE,
        OBJ_ENDPOINT_SLICE,
        OBJ_NODE,
        OBJ_NAMESPACE,
        _OBJ_KIND_MAX,
        _OBJ_KIND_INVALID = -EINVAL,
} ObjKind;

/* "Service", "EndpointSlice", "Node", "Namespace". */
const char *obj_kind_to_string(ObjKind k);
ObjKind obj_kind_from_string(const char *s);
static inline bool obj_kind_namespaced(ObjKind k)
{
        return k == OBJ_SERVICE || k == OBJ_ENDPOINT_SLICE;
}

/* What every object carries (metadata). */
typedef struct ObjMeta {
        ObjKind kind;
        char *key;       /* "ns/name" or "name" */
        char *namespace; /* NULL for cluster-scoped kinds */
        char *name;
        char *uid; /* NULL when the sender left it out (required for Services) */
        Labels labels;
        Labels annotations;
} ObjMeta;

typedef enum ServiceType {
        SERVICE_CLUSTER_IP,
        SERVICE_NODE_PORT,
        SERVICE_LOAD_BALANCER,
        SERVICE_EXTERNAL_NAME,
        _SERVICE_TYPE_MAX,
        _SERVICE_TYPE_INVALID = -EINVAL,
} ServiceType;

typedef enum IpFamilyPolicy {
        IP_FAMILY_SINGLE_STACK,
        IP_FAMILY_PREFER_DUAL_STACK,
        IP_FAMILY_REQUIRE_DUAL_STACK,
        _IP_FAMILY_POLICY_MAX,
        _IP_FAMILY_POLICY_INVALID = -EINVAL,
} IpFamilyPolicy;

typedef enum PortProtocol {
        PROTO_TCP,
        PROTO_UDP,
        PROTO_SCTP,
        _PORT_PROTOCOL_MAX,
        _PORT_PROTOCOL_INVALID = -EINVAL,
} PortProtocol;

typedef enum TrafficPolicy {
        TRAFFIC_CLUSTER,
        TRAFFIC_LOCAL,
        _TRAFFIC_POLICY_MAX,
        _TRAFFIC_POLICY_INVALID = -EINVAL,
} TrafficPolicy;

const char *service_type_to_string(ServiceType t);
ServiceType service_type_from_string(const char *s);
const char *ip_family_policy_to_string(IpFamilyPolicy p);
IpFamilyPolicy ip_family_policy_from_string(const char *s);
const char *port_protocol_to_string(PortProtocol p);
PortProtocol port_protocol_from_string(const char *s);
const char *traffic_policy_to_string(TrafficPolicy p);
TrafficPolicy traffic_policy_from_string(const char *s);
/* "IPv4" -> AF_INET, "IPv6" -> AF_INET6, else -EINVAL. */
int ip_family_from_string(const char *s);
const char *ip_family_to_string(int af);

typedef struct ServicePort {
        char *name; /* NULL if unnamed */
        PortProtocol protocol;
        uint16_t port;
} ServicePort;

typedef struct Service {
        ObjMeta meta;
        ServiceType type;
        char *load_balancer_class; /* spec.loadBalancerClass; NULL = none */
        char *load_balancer_ip;    /* spec.loadBalancerIP (deprecated); NULL = none */
        int ip_families[2];        /* AF_INET / AF_INET6, in the order given */
        size_t n_ip_families;
        IpFamilyPolicy ip_family_policy; /* absent = SingleStack, as the API server defaults */
        ServicePort *ports;
        size_t n_ports;
        TrafficPolicy external_traffic_policy; /* absent = Cluster */
        Labels selector;                       /* spec.selector */
        u128 *ingress;                         /* status.loadBalancer.ingress[].ip */
        size_t n_ingress;
        size_t n_ingress_invalid; /* ingress ips that are not addresses mlbd can parse */
} Service;

typedef struct Endpoint {
        char *node_name; /* NULL if the endpoint names no node */
        bool ready;      /* conditions.ready; absent = ready, as Kubernetes advises */
} Endpoint;

typedef enum AddressType {
        ADDRESS_TYPE_IPV4,
        ADDRESS_TYPE_IPV6,
        ADDRESS_TYPE_FQDN,
        _ADDRESS_TYPE_MAX,
        _ADDRESS_TYPE_INVALID = -EINVAL,
} AddressType;
const char *address_type_to_string(AddressType t);
AddressType address_type_from_string(const char *s);

typedef struct EndpointSlice {
        ObjMeta meta;
        char *service_name; /* label kubernetes.io/service-name; NULL if absent */
        AddressType address_type;
        Endpoint *endpoints;
        size_t n_endpoints;
} EndpointSlice;

typedef struct NodeAddress {
        char *type; /* InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS */
        char *address;
} NodeAddress;

typedef struct Node {
        ObjMeta meta;
        NodeAddress *addresses; /* status.addresses */
        size_t n_addresses;
        bool ready;               /* status.conditions[type=Ready].status == "True" */
        bool network_unavailable; /* status.conditions[type=NetworkUnavailable] == "True" */
} Node;

typedef struct Namespace {
        ObjMeta meta;
} Namespace;

/* Frees any object by its meta.kind; returns NULL. */
void *obj_free(void *obj);
static inline void obj_freep(void *p)
{
        if (*(void **)p)
                obj_free(*(void **)p);
}
/* Allocates a zeroed object of the kind with meta.kind set; NULL on OOM. */
void *obj_new(ObjKind kind);
/* Sets meta.namespace/name (namespace NULL for cluster-scoped) and builds meta.key. */
int obj_set_name(ObjMeta *m, const char *namespace, const char *name);
/* Builds a key "ns/name" or "name" into buf; returns buf or NULL if it does not fit. */
const char *obj_key(char *buf, size_t len, const char *namespace, const char *name);
#define OBJ_KEY_MAX (K8S_LABEL_NAME_MAX + 1 + K8S_NAME_MAX + 1)

typedef struct ObjTable ObjTable;

typedef struct Model {
        ObjTable *tables[_OBJ_KIND_MAX];
        uint64_t generation;
        /* Cache: EndpointSlices sorted by (namespace, service name), rebuilt on the first
         * lookup after a change. Valid while slice_index_gen == generation. */
        const EndpointSlice **slice_index;
        size_t n_slice_index;
        uint64_t slice_index_gen;
        bool slice_index_valid;
} Model;

int model_new(Model **ret);
Model *model_free(Model *m);
DEFINE_FREEP(Model, model_free);

typedef enum ModelResult {
        MODEL_CREATED = 1,
        MODEL_UPDATED,
        MODEL_DELETED,
        MODEL_ABSENT,       /* delete: no such object */
        MODEL_UID_MISMATCH, /* delete: object exists with another uid; kept */
        MODEL_DUPLICATE,    /* model_add: key already present; object freed */
} ModelResult;

/*
 * Inserts or replaces the object with its key. Takes ownership of obj (freed on
 * failure). Returns MODEL_CREATED or MODEL_UPDATED and bumps the generation, or -ENOMEM.
 */
int model_upsert(Model *m, void *obj);
/* Like model_upsert(), but refuses a key that is present: returns MODEL_DUPLICATE and
 * frees obj without changing anything. Used to build a model for a full sync. */
int model_add(Model *m, void *obj);
/*
 * Removes kind/key. With a uid, only an object with that uid is removed (so a late
 * delete of an old incarnation cannot remove a new object of the same name). Returns
 * MODEL_DELETED (generation bumped), MODEL_ABSENT or MODEL_UID_MISMATCH.
 */
int model_delete(Model *m, ObjKind kind, const char *namespace, const char *name, const char *uid);
/*
 * Atomic full replace: m takes every object of *src (which is freed and set to NULL),
 * the previous objects of m are freed, and m's generation grows by one.
 */
void model_replace(Model *m, Model **src);
/*
 * Moves every object of src into dst (for syncs sent in several parts). On a key present
 * in both, nothing moves and MODEL_DUPLICATE is returned with the kind and key written
 * to *dup_kind and dup_key (size OBJ_KEY_MAX). Neither generation changes.
 */
int model_merge(Model *dst, Model *src, ObjKind *dup_kind, char dup_key[static OBJ_KEY_MAX]);

const void *model_get(const Model *m, ObjKind kind, const char *namespace, const char *name);
const void *model_get_key(const Model *m, ObjKind kind, const char *key);
static inline const Service *model_service(const Model *m, const char *ns, const char *name)
{
        return model_get(m, OBJ_SERVICE, ns, name);
}
static inline const EndpointSlice *model_endpoint_slice(const Model *m, const char *ns,
                                                        const char *name)
{
        return model_get(m, OBJ_ENDPOINT_SLICE, ns, name);
}
static inline const Node *model_node(const Model *m, const char *name)
{
        return model_get(m, OBJ_NODE, NULL, name);
}
static inline const Namespace *model_namespace(const Model *m, const char *name)
{
        return model_get(m, OBJ_NAMESPACE, NULL, name);
}
size_t model_count(const Model *m, ObjKind kind);

/* Iteration in hash order; the model must not change while iterating.
 *     ModelIter it = {};  const Service *s;
 *     while ((s = model_next(m, OBJ_SERVICE, &it))) ...                               */
typedef struct ModelIter {
        size_t bucket;
        const void *entry;
} ModelIter;
const void *model_next(const Model *m, ObjKind kind, ModelIter *it);
/* All objects of a kind sorted by key (a malloc'd array of borrowed pointers). */
int model_list_sorted(const Model *m, ObjKind kind, const void ***ret, size_t *ret_n);

/*
 * The EndpointSlices of Service ns/service (by their kubernetes.io/service-name label):
 * *ret points into an index owned by the model, valid until the model changes. The index
 * is rebuilt on the first lookup after a change (O(slices log slices)); each lookup is
 * then O(log slices). Returns the count (0 when there are none).
 */
size_t model_service_slices(const Model *m, const char *ns, const char *service,
                            const EndpointSlice *const **ret);
/* True when some EndpointSlice of Service ns/name has a ready endpoint on node. */
bool model_service_has_ready_endpoint(const Model *m, const char *ns, const char *service,
                                      const char *node);

/* The annotations mlbd honours, highest precedence first within each group. */
#define ANNOTATION_IPS_MLBD "mlbd.io/loadBalancerIPs"
#define ANNOTATION_IPS_METALLB "metallb.io/loadBalancerIPs"
#define ANNOTATION_IPS_METALLB_OLD "metallb.universe.tf/loadBalancerIPs"
#define ANNOTATION_POOL_MLBD "mlbd.io/address-pool"
#define ANNOTATION_POOL_METALLB "metallb.io/address-pool"
#define ANNOTATION_POOL_METALLB_OLD "metallb.universe.tf/address-pool"
#define ANNOTATION_SHARED_MLBD "mlbd.io/allow-shared-ip"
#define ANNOTATION_SHARED_METALLB "metallb.io/allow-shared-ip"
#define ANNOTATION_SHARED_METALLB_OLD "metallb.universe.tf/allow-shared-ip"

/* What a Service asks of the allocator, resolved from annotations and spec. Strings are
 * borrowed from the Service. */
typedef struct ServiceRequest {
        u128 addresses[2]; /* requested addresses, at most one per family */
        size_t n_addresses;
        const char *addresses_source; /* annotation name or "spec.loadBalancerIP"; NULL */
        const char *pool;             /* requested pool name; NULL = any */
        const char *pool_source;
        const char *sharing_key; /* allow-shared-ip key; NULL = no sharing */
        const char *sharing_source;
} ServiceRequest;

/*
 * Resolves the annotations and spec.loadBalancerIP of s. On a malformed request returns
 * -EINVAL with a sentence in err fit for an AllocationFailed Event, e.g.
 *   annotation metallb.io/loadBalancerIPs: "192.0.2.300" is not an IP address
 * Rules: the highest-precedence annotation present wins within each group; an empty
 * value counts as absent. Requested addresses come from the winning loadBalancerIPs
 * annotation (comma list, spaces allowed, at most one per family, no duplicates) or
 * else spec.loadBalancerIP; both present with different addresses is an error.
 */
int service_resolve_request(const Service *s, ServiceRequest *ret, char *err, size_t err_len);
/* The annotation value that wins among the given names, or NULL. */
const char *service_annotation_pick(const Service *s, const char *const *names, size_t n,
                                    const char **which);
/* type LoadBalancer and loadBalancerClass unset or equal to lb_class (may be NULL). */
bool service_wants_load_balancer(const Service *s, const char *lb_class);
