/* SPDX-License-Identifier: MIT */
/*
 * The address allocator; see alloc.h for the contract.
 *
 * MetalLB semantics followed here (metallb/metallb internal/allocator/allocator.go,
 * internal/config/config.go, internal/allocator/k8salloc, controller/service.go):
 *   - serviceAllocation: `namespaces` and `namespaceSelectors` are merged into one set of
 *     allowed namespaces (the Service's namespace must be listed OR its labels match one of
 *     the selectors); `serviceSelectors` must match as well (any one of them). MetalLB
 *     resolves namespaceSelectors against the namespaces it knows when the config loads, and
 *     a selector matching no namespace leaves the set empty, which it then treats as "no
 *     restriction"; mlbd does not copy that quirk: a pool that restricts namespaces only
 *     serves the namespaces it names or selects.
 *   - Pools are tried in PoolSet.order: pools with serviceAllocation first by priority,
 *     then the others (pools_order()). auto_assign=false pools are skipped by automatic
 *     allocation but serve a Service that names them or asks for one of their addresses
 *     (AllocateFromPool and Assign do not look at AutoAssign).
 *   - A named pool that does not allow the Service is a refusal (Assign checks
 *     isPoolCompatibleWithService), as is a requested address outside every pool, or in a
 *     pool that does not allow the Service, or (with a named pool too) in another pool.
 *     Two requested addresses must come from one pool (poolFor needs all in one pool).
 *   - avoid_buggy_ips: an IPv4 address ending in .0 or .255 is not part of that pool at all,
 *     neither for allocation nor for a request.
 *   - Sharing (checkSharing/sharingOK): an address held by other Services can be shared
 *     when both have a sharing key, the keys are equal, the "backend keys" are equal (empty
 *     for externalTrafficPolicy Cluster, the pod selector for Local, so: both Cluster, or
 *     both Local selecting the same pods), and no (protocol, port) is used twice. A Service
 *     alone on its address may change its sharing key.
 *   - Dual stack (findBestPoolForService): both addresses come from one pool, the first in
 *     order that has both free; PreferDualStack falls back to the first pool with the
 *     primary family, then to the first with the secondary one.
 * Deliberate differences: with a sharing key and no requested address, an address already
 * held by that key (compatible, in the pool being tried) is preferred over a free one, where
 * MetalLB takes whichever comes first in the walk; and PreferDualStack accepts a request for
 * one address.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#include "alloc.h"
#include "ordset.h"
#include "util/htable.h"

/* Internal consistency: cannot fail once the preparation succeeded. */
#define assert_se(x)                                                                               \
        do {                                                                                       \
                if (!(x))                                                                          \
                        abort();                                                                   \
        } while (0)

/* ---- model ---- */

typedef struct Svc Svc;

/*
 * The users of an address are a list in the order they got it (each has a sequence
 * number, increasing along the list), and the (protocol, port)s they use are a hash set
 * whose nodes live in the users: users of one address are compatible by construction
 * (check_sharing() refuses the others), so they never hold the same port and one of them
 * speaks for all on keys. Checking a Service against an address costs O(its ports),
 * whatever the number of users.
 */
typedef struct Use {
        HNode h; /* by_addr; first member */
        u128 addr;
        size_t pool, range;
        Svc *head, *tail; /* users, in the order they got the address */
        size_t n_users;
        uint64_t next_seq;
        HTable ports; /* PortNode of each user */
} Use;

typedef struct PortNode {
        HNode h; /* Use.ports; first member */
        const Svc *svc;
        uint8_t protocol;
        uint16_t port;
        bool linked; /* in the set (false for a port the Service lists twice) */
} PortNode;

/* s's place in the users of its i-th address */
typedef struct UseLink {
        Svc *prev, *next;
        uint64_t seq;
} UseLink;

typedef struct Group {
        HNode h; /* by_group; first member */
        char *key;
        Svc *head;
} Group;

struct Svc {
        HNode h;            /* by_key; first member */
        Svc *prev, *next;   /* order made */
        Svc *gprev, *gnext; /* in group */
        Group *group;
        char *key, *namespace, *pool_name, *sharing_key, *pod_selector;
        const char *backend; /* MetalLB's backend key: "" for Cluster, the selector for Local */
        Labels svc_labels, ns_labels;
        AllocFamilyPolicy policy;
        int families[2];
        size_t n_families;
        AllocPort *ports;
        size_t n_ports;
        bool traffic_local;
        size_t pool;
        u128 addrs[2];
        size_t n_addrs;
        Use *uses[2];
        UseLink links[2];
        PortNode *pnodes; /* n_ports per address slot (2 * n_ports), hashes set */
};

typedef struct PoolState {
        OrdSet used;
        u128 *range_used, *range_size; /* allocatable addresses per range */
        bool *range_huge;              /* size does not fit (::/0): never full */
        AddrCount size_v4, size_v6;
        u128 used_v4, used_v6;
        bool has_v4, has_v6;
} PoolState;

typedef struct RangeRef {
        u128 first, last;
        size_t pool, range;
} RangeRef;

typedef struct Excluded {
        u128 addr;
        size_t order; /* as given: of two entries for one address the first wins */
        char *who;
} Excluded;

struct Allocator {
        const PoolSet *pools;
        Excluded *excluded; /* sorted by address, unique */
        size_t n_excluded;
        uint64_t excluded_tag;
        bool has_excluded_tag;
        u128 *avoided; /* sorted, unique: skipped by the automatic choice only */
        size_t n_avoided;
        PoolState *ps;
        size_t *order;
        RangeRef *index; /* every range of every pool, sorted by first */
        size_t n_index;
        HTable by_key, by_addr, by_group;
        Svc *first, *last;
        size_t n_svcs;
        HKey hkey;
};

static const char *const error_table[_ALLOC_ERROR_MAX] = {
    [ALLOC_OK] = "ok",
    [ALLOC_E_EXHAUSTED] = "exhausted",
    [ALLOC_E_NO_POOL] = "no-pool",
    [ALLOC_E_NOT_IN_POOL] = "not-in-pool",
    [ALLOC_E_IN_USE] = "in-use",
    [ALLOC_E_PORT_CLASH] = "port-clash",
    [ALLOC_E_FAMILY] = "family",
    [ALLOC_E_INVALID] = "invalid",
};

const char *alloc_error_to_string(AllocError e)
{
        return e >= 0 && e < _ALLOC_ERROR_MAX ? error_table[e] : NULL;
}

static uint64_t hash_str(const Allocator *a, const char *s)
{
        return ht_hash_str(&a->hkey, s);
}

static uint64_t hash_addr(const Allocator *a, u128 addr)
{
        return ht_hash(&a->hkey, &addr, sizeof(addr));
}

static uint64_t hash_port(const Allocator *a, uint8_t protocol, uint16_t port)
{
        uint8_t k[3] = {protocol, (uint8_t)(port >> 8), (uint8_t)port};
        return ht_hash(&a->hkey, k, sizeof(k));
}

static const char *family_name(int f)
{
        return f == AF_INET6 ? "IPv6" : "IPv4";
}

static const char *proto_name(uint8_t p)
{
        switch (p) {
        case IPPROTO_TCP:
                return "TCP";
        case IPPROTO_UDP:
                return "UDP";
        case IPPROTO_SCTP:
                return "SCTP";
        default:
                return "proto";
        }
}

_printf_(2, 3) static void appendf(char *buf, const char *fmt, ...)
{
        size_t len = strnlen(buf, ALLOC_REASON_MAX);
        va_list ap;

        if (len + 1 >= ALLOC_REASON_MAX)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + len, ALLOC_REASON_MAX - len, fmt, ap);
        va_end(ap);
}

_printf_(3, 4) static int refuse(AllocResult *ret, AllocError e, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(ret->reason, sizeof(ret->reason), fmt, ap);
        va_end(ap);
        return e;
}

/* ---- lookups ---- */

static Svc *svc_find(const Allocator *a, const char *key)
{
        uint64_t h = hash_str(a, key);
        for (HNode *n = ht_chain(&a->by_key, h); n; n = n->next)
                if (n->hash == h && strcmp(((Svc *)n)->key, key) == 0)
                        return (Svc *)n;
        return NULL;
}

static Use *use_find(const Allocator *a, u128 addr)
{
        uint64_t h = hash_addr(a, addr);
        for (HNode *n = ht_chain(&a->by_addr, h); n; n = n->next)
                if (n->hash == h && ((Use *)n)->addr == addr)
                        return (Use *)n;
        return NULL;
}

/* The user of u holding (protocol, port), or NULL; h = hash_port(protocol, port). */
static const PortNode *use_port(const Use *u, uint64_t h, uint8_t protocol, uint16_t port)
{
        for (HNode *n = ht_chain(&u->ports, h); n; n = n->next) {
                const PortNode *p = (const PortNode *)n;
                if (n->hash == h && p->protocol == protocol && p->port == port)
                        return p;
        }
        return NULL;
}

/* Which of s's addresses u is (s is a user of u). */
static size_t use_slot(const Svc *s, const Use *u)
{
        return s->uses[0] == u ? 0 : 1;
}

static Svc *use_next(const Svc *s, const Use *u)
{
        return s->links[use_slot(s, u)].next;
}

static Group *group_find(const Allocator *a, const char *key)
{
        uint64_t h = hash_str(a, key);
        for (HNode *n = ht_chain(&a->by_group, h); n; n = n->next)
                if (n->hash == h && strcmp(((Group *)n)->key, key) == 0)
                        return (Group *)n;
        return NULL;
}

/* The range holding addr, ignoring avoid_buggy_ips. */
static const RangeRef *range_find(const Allocator *a, u128 addr)
{
        size_t lo = 0, hi = a->n_index;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const RangeRef *r = &a->index[mid];
                if (addr < r->first)
                        hi = mid;
                else if (addr > r->last)
                        lo = mid + 1;
                else
                        return r;
        }
        return NULL;
}

bool alloc_find_pool(const Allocator *a, u128 addr, size_t *ret_pool)
{
        const RangeRef *r = range_find(a, addr);
        if (!r || (a->pools->pools[r->pool].avoid_buggy_ips && addr_is_buggy(addr)))
                return false;
        if (ret_pool)
                *ret_pool = r->pool;
        return true;
}

static const Excluded *excluded_find(const Allocator *a, u128 addr)
{
        size_t lo = 0, hi = a->n_excluded;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (addr < a->excluded[mid].addr)
                        hi = mid;
                else if (addr > a->excluded[mid].addr)
                        lo = mid + 1;
                else
                        return &a->excluded[mid];
        }
        return NULL;
}

static void excluded_clear(Excluded *x, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(x[i].who);
        free(x);
}

static int cmp_excluded(const void *x, const void *y)
{
        const Excluded *a = x, *b = y;
        if (a->addr != b->addr)
                return a->addr < b->addr ? -1 : 1;
        return a->order < b->order ? -1 : a->order > b->order;
}

int allocator_set_excluded(Allocator *a, const AllocExcluded *x, size_t n, uint64_t tag)
{
        Excluded *v = calloc(n + 1, sizeof(*v));
        size_t k = 0;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                v[i] = (Excluded){x[i].addr, i, strdup(x[i].who ? x[i].who : "")};
                if (!v[i].who) {
                        excluded_clear(v, i);
                        return -ENOMEM;
                }
        }
        qsort(v, n, sizeof(*v), cmp_excluded);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && v[k - 1].addr == v[i].addr) {
                        free(v[i].who);
                        continue;
                }
                v[k++] = v[i];
        }
        excluded_clear(a->excluded, a->n_excluded);
        a->excluded = v;
        a->n_excluded = k;
        a->excluded_tag = tag;
        a->has_excluded_tag = true;
        return 0;
}

bool allocator_excluded_tag(const Allocator *a, uint64_t *ret)
{
        if (a->has_excluded_tag && ret)
                *ret = a->excluded_tag;
        return a->has_excluded_tag;
}

static bool avoided_has(const Allocator *a, u128 addr)
{
        size_t lo = 0, hi = a->n_avoided;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (addr < a->avoided[mid])
                        hi = mid;
                else if (addr > a->avoided[mid])
                        lo = mid + 1;
                else
                        return true;
        }
        return false;
}

static int cmp_u128(const void *x, const void *y)
{
        u128 a = *(const u128 *)x, b = *(const u128 *)y;
        return a < b ? -1 : a > b;
}

int allocator_set_avoided(Allocator *a, const u128 *addrs, size_t n)
{
        u128 *v = NULL;
        size_t k = 0;

        if (n > 0) {
                v = malloc(n * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                memcpy(v, addrs, n * sizeof(*v));
                qsort(v, n, sizeof(*v), cmp_u128);
                for (size_t i = 0; i < n; i++)
                        if (k == 0 || v[k - 1] != v[i])
                                v[k++] = v[i];
        }
        free(a->avoided);
        a->avoided = v;
        a->n_avoided = k;
        return 0;
}

bool alloc_is_avoided(const Allocator *a, u128 addr)
{
        return avoided_has(a, addr);
}

bool alloc_next_free(const Allocator *a, size_t pool, int f, AllocCursor *c, u128 *ret)
{
        const Pool *p;
        const PoolState *ps;

        if (pool >= a->pools->n_pools)
                return false;
        p = &a->pools->pools[pool];
        ps = &a->ps[pool];
        for (; c->range < p->n_ranges; c->range++, c->started = false) {
                const AddrRange *r = &p->ranges[c->range];
                if (addr_family(r->first) != f ||
                    (!ps->range_huge[c->range] &&
                     ps->range_used[c->range] >= ps->range_size[c->range]))
                        continue;
                if (!c->started) {
                        c->started = true;
                        c->next = r->first;
                }
                while (c->next >= r->first && c->next <= r->last &&
                       ordset_first_free(&ps->used, c->next, r->last, ret)) {
                        c->next = *ret + 1; /* wraps to 0 past the top: the loop ends */
                        if (!excluded_find(a, *ret))
                                return true;
                        if (*ret == r->last)
                                break;
                }
        }
        return false;
}

/* ---- Services (their specs) ---- */

static void svc_free(Svc *s)
{
        if (!s)
                return;
        free(s->key);
        free(s->namespace);
        free(s->pool_name);
        free(s->sharing_key);
        free(s->pod_selector);
        labels_clear(&s->svc_labels);
        labels_clear(&s->ns_labels);
        free(s->ports);
        free(s->pnodes);
        free(s);
}

static void svc_freep(Svc **s)
{
        svc_free(*s);
}

static int svc_new(Svc **ret, const char *key, const char *ns, const Labels *svc_labels,
                   const Labels *ns_labels, const char *pool, AllocFamilyPolicy policy,
                   const int *families, size_t n_families, const char *sharing_key,
                   const AllocPort *ports, size_t n_ports, bool traffic_local,
                   const char *pod_selector)
{
        _cleanup_(svc_freep) Svc *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->key = strdup(key);
        s->namespace = strdup(ns ? ns : "");
        s->pool_name = strdup_or_null(pool);
        s->sharing_key = sharing_key && *sharing_key ? strdup(sharing_key) : NULL;
        s->pod_selector = strdup(pod_selector ? pod_selector : "");
        if (!s->key || !s->namespace || (pool && !s->pool_name) ||
            (sharing_key && *sharing_key && !s->sharing_key) || !s->pod_selector)
                return -ENOMEM;
        if (labels_copy(&s->svc_labels, svc_labels) < 0 ||
            labels_copy(&s->ns_labels, ns_labels) < 0)
                return -ENOMEM;
        if (n_ports > 0) {
                s->ports = malloc(n_ports * sizeof(*ports));
                s->pnodes = calloc(2 * n_ports, sizeof(*s->pnodes));
                if (!s->ports || !s->pnodes)
                        return -ENOMEM;
                memcpy(s->ports, ports, n_ports * sizeof(*ports));
        }
        s->n_ports = n_ports;
        s->policy = policy;
        s->n_families = MIN(n_families, 2u);
        for (size_t i = 0; i < s->n_families; i++)
                s->families[i] = families[i];
        if (s->n_families == 0)
                s->families[s->n_families++] = AF_INET;
        s->traffic_local = traffic_local;
        s->backend = traffic_local ? s->pod_selector : "";
        *ret = TAKE_PTR(s);
        return 0;
}

/* Hashes s's ports once, for both address slots (lookups and the set use the same). */
static void svc_hash_ports(const Allocator *a, Svc *s)
{
        for (size_t j = 0; j < s->n_ports; j++) {
                uint64_t h = hash_port(a, s->ports[j].protocol, s->ports[j].port);
                for (size_t i = 0; i < 2; i++)
                        s->pnodes[i * s->n_ports + j] = (PortNode){
                            .h.hash = h,
                            .svc = s,
                            .protocol = s->ports[j].protocol,
                            .port = s->ports[j].port,
                        };
        }
}

static int svc_from_request(Svc **ret, const AllocRequest *req)
{
        return svc_new(ret, req->key, req->namespace, req->service_labels, req->namespace_labels,
                       req->pool, req->policy, req->families, req->n_families, req->sharing_key,
                       req->ports, req->n_ports, req->traffic_local, req->pod_selector);
}

static int svc_dup(Svc **ret, const Svc *o)
{
        return svc_new(ret, o->key, o->namespace, &o->svc_labels, &o->ns_labels, o->pool_name,
                       o->policy, o->families, o->n_families, o->sharing_key, o->ports, o->n_ports,
                       o->traffic_local, o->pod_selector);
}

static int primary_family(const Svc *s)
{
        return s->families[0];
}

static int other_family(int f)
{
        return f == AF_INET ? AF_INET6 : AF_INET;
}

/* Whether the Service may want an address of the second family. */
static bool wants_two(const Svc *s)
{
        return s->policy == ALLOC_REQUIRE_DUAL_STACK ||
               (s->policy == ALLOC_PREFER_DUAL_STACK && s->n_families >= 2);
}

/* ---- pool rules ---- */

static bool pool_allows(const Pool *p, const Svc *s, char *why, size_t why_len)
{
        if (p->n_namespaces > 0 || p->n_namespace_selectors > 0) {
                bool in = false;
                for (size_t i = 0; i < p->n_namespaces && !in; i++)
                        in = strcmp(p->namespaces[i], s->namespace) == 0;
                if (!in && p->n_namespace_selectors > 0)
                        in = selectors_match_any(p->namespace_selectors, p->n_namespace_selectors,
                                                 &s->ns_labels);
                if (!in) {
                        snprintf(why, why_len, "namespace \"%s\" %s", s->namespace,
                                 p->n_namespace_selectors == 0 ? "is not one of its namespaces"
                                 : p->n_namespaces == 0
                                     ? "matches none of its namespace selectors"
                                     : "is neither one of its namespaces nor matched by "
                                       "its namespace selectors");
                        return false;
                }
        }
        if (p->n_service_selectors > 0 &&
            !selectors_match_any(p->service_selectors, p->n_service_selectors, &s->svc_labels)) {
                snprintf(why, why_len, "the Service's labels match none of its service selectors");
                return false;
        }
        return true;
}

/* May s use addr held by use (as well as whoever holds it already)? O(s's ports). */
static AllocError check_sharing(const Allocator *a, const Use *use, const Svc *s, AllocResult *ret)
{
        char buf[ADDR_STR_MAX];
        /* the Service of s's key (s itself or the allocation it replaces) may be a user */
        const Svc *self = svc_find(a, s->key);
        bool self_in =
            self && (self->uses[0] == use || (self->n_addrs > 1 && self->uses[1] == use));
        const Svc *other = use->head;
        size_t n_others = use->n_users - self_in;

        if (other && other == self)
                other = use_next(other, use);
        if (!other)
                return ALLOC_OK;

        /* Users of one address are compatible with each other, so one of them speaks for
         * all on keys; ports are checked against each. */
        const char *why = NULL;
        char whybuf[200];
        if (!s->sharing_key)
                why = "this Service has no sharing key";
        else if (!other->sharing_key)
                why = n_others > 1 ? "they do not allow sharing" : "it does not allow sharing";
        else if (strcmp(other->sharing_key, s->sharing_key) != 0) {
                snprintf(whybuf, sizeof(whybuf), "sharing key \"%s\" differs", other->sharing_key);
                why = whybuf;
        } else if (strcmp(other->backend, s->backend) != 0)
                why = "sharing needs externalTrafficPolicy Cluster on both, or both Local and "
                      "selecting the same pods";
        if (why) {
                refuse(ret, ALLOC_E_IN_USE, "%s is already in use by %s",
                       addr_format(use->addr, buf), other->key);
                if (n_others > 1)
                        appendf(ret->reason, " and %zu other Service%s", n_others - 1,
                                n_others > 2 ? "s" : "");
                appendf(ret->reason, " (%s)", why);
                return ALLOC_E_IN_USE;
        }

        /* a clash names the earliest user that has one, and its first port in s's order */
        const PortNode *clash = NULL;
        uint64_t clash_seq = UINT64_MAX;
        size_t clash_j = 0;
        for (size_t j = 0; j < s->n_ports; j++) {
                const PortNode *p =
                    use_port(use, s->pnodes[j].h.hash, s->ports[j].protocol, s->ports[j].port);
                if (!p || strcmp(p->svc->key, s->key) == 0)
                        continue;
                uint64_t seq = p->svc->links[use_slot(p->svc, use)].seq;
                if (seq < clash_seq) {
                        clash = p;
                        clash_seq = seq;
                        clash_j = j;
                }
        }
        if (clash)
                return refuse(ret, ALLOC_E_PORT_CLASH, "port %s/%u on %s is already used by %s",
                              proto_name(s->ports[clash_j].protocol), s->ports[clash_j].port,
                              addr_format(use->addr, buf), clash->svc->key);
        return ALLOC_OK;
}

/*
 * Checks explicit addresses (requested, adopted, or the ones a Service holds) for s: count
 * and families against the policy, pool (allows s; the named one if any), sharing. On
 * success the addresses are in *out, primary family first, and their pool in *ret_pool.
 */
static AllocError check_addrs(const Allocator *a, const Svc *s, const u128 *addrs, size_t n,
                              const char *source, u128 out[static 2], size_t *ret_pool,
                              AllocResult *ret)
{
        char b1[ADDR_STR_MAX], b2[ADDR_STR_MAX], from[128];
        int prim = primary_family(s);
        size_t pool = SIZE_MAX;

        if (n == 0 || n > 2)
                return refuse(ret, ALLOC_E_INVALID, "%zu addresses given for %s; 1 or 2 expected",
                              n, s->key);
        if (n == 2 && addr_family(addrs[0]) == addr_family(addrs[1]))
                return refuse(ret, ALLOC_E_FAMILY, "%s and %s are both %s addresses",
                              addr_format(addrs[0], b1), addr_format(addrs[1], b2),
                              family_name(addr_family(addrs[0])));
        switch (s->policy) {
        case ALLOC_SINGLE_STACK:
                if (n == 2)
                        return refuse(ret, ALLOC_E_FAMILY,
                                      "%s is single-stack %s but two addresses were given", s->key,
                                      family_name(prim));
                if (addr_family(addrs[0]) != prim)
                        return refuse(ret, ALLOC_E_FAMILY, "%s is single-stack %s but %s is %s",
                                      s->key, family_name(prim), addr_format(addrs[0], b1),
                                      family_name(addr_family(addrs[0])));
                break;
        case ALLOC_REQUIRE_DUAL_STACK:
                if (n != 2)
                        return refuse(ret, ALLOC_E_FAMILY,
                                      "%s requires dual-stack but only an %s address was given",
                                      s->key, family_name(addr_family(addrs[0])));
                break;
        default:
                for (size_t i = 0; i < n; i++)
                        if (!wants_two(s) && addr_family(addrs[i]) != prim)
                                return refuse(ret, ALLOC_E_FAMILY, "%s has only %s but %s is %s",
                                              s->key, family_name(prim), addr_format(addrs[i], b1),
                                              family_name(addr_family(addrs[i])));
                break;
        }

        /* primary family first */
        out[0] = addrs[0];
        out[1] = n == 2 ? addrs[1] : 0;
        if (n == 2 && addr_family(addrs[0]) != prim) {
                out[0] = addrs[1];
                out[1] = addrs[0];
        }

        /* where the addresses came from, for the refusals below: " (requested by ...)" */
        from[0] = 0;
        if (source && strncmp(source, "spec.", 5) == 0)
                snprintf(from, sizeof(from), " (requested in %s)", source);
        else if (source)
                snprintf(from, sizeof(from), " (requested by annotation %s)", source);
        for (size_t i = 0; i < n; i++) {
                const RangeRef *r = range_find(a, out[i]);
                addr_format(out[i], b1);
                if (!r)
                        return refuse(ret, ALLOC_E_NOT_IN_POOL, "%s%s is in no pool", b1, from);
                const Pool *p = &a->pools->pools[r->pool];
                if (p->avoid_buggy_ips && addr_is_buggy(out[i]))
                        return refuse(ret, ALLOC_E_NOT_IN_POOL,
                                      "%s%s is in pool \"%s\", which avoids addresses ending in "
                                      ".0 or .255",
                                      b1, from, p->name);
                if (s->pool_name && strcmp(s->pool_name, p->name) != 0)
                        return refuse(ret, ALLOC_E_NOT_IN_POOL,
                                      "%s%s is in pool \"%s\", not in the requested pool \"%s\"",
                                      b1, from, p->name, s->pool_name);
                char why[200];
                if (!pool_allows(p, s, why, sizeof(why)))
                        return refuse(ret, ALLOC_E_NOT_IN_POOL,
                                      "%s%s is in pool \"%s\", which does not allow %s (%s)", b1,
                                      from, p->name, s->key, why);
                if (i == 1 && r->pool != pool)
                        return refuse(ret, ALLOC_E_NOT_IN_POOL,
                                      "%s and %s are in different pools (\"%s\" and \"%s\"); "
                                      "both must come from one pool",
                                      addr_format(out[0], b2), b1, a->pools->pools[pool].name,
                                      p->name);
                const Excluded *x = excluded_find(a, out[i]);
                if (x)
                        return refuse(ret, ALLOC_E_IN_USE, "address %s is %s", b1, x->who);
                pool = r->pool;
        }
        for (size_t i = 0; i < n; i++) {
                const Use *use = use_find(a, out[i]);
                AllocError e;
                if (use && (e = check_sharing(a, use, s, ret)) != ALLOC_OK)
                        return e;
        }
        *ret_pool = pool;
        return ALLOC_OK;
}

/* Lowest usable address of family f in pool for s: an address its sharing key already
 * holds there (if compatible), else the lowest free one, ranges in written order. */
static bool pick(const Allocator *a, size_t pool, int f, const Svc *s, u128 *ret)
{
        const Pool *p = &a->pools->pools[pool];
        const PoolState *ps = &a->ps[pool];

        if (s->sharing_key) {
                const Group *g = group_find(a, s->sharing_key);
                bool found = false;
                AllocResult scratch;
                for (const Svc *o = g ? g->head : NULL; o; o = o->gnext)
                        for (size_t i = 0; i < o->n_addrs; i++) {
                                const Use *u = o->uses[i];
                                if (u->pool != pool || addr_family(u->addr) != f ||
                                    (found && u->addr >= *ret))
                                        continue;
                                if (check_sharing(a, u, s, &scratch) == ALLOC_OK) {
                                        *ret = u->addr;
                                        found = true;
                                }
                        }
                if (found)
                        return true;
        }
        for (size_t i = 0; i < p->n_ranges; i++) {
                const AddrRange *r = &p->ranges[i];
                if (addr_family(r->first) != f ||
                    (!ps->range_huge[i] && ps->range_used[i] >= ps->range_size[i]))
                        continue;
                /* skip the excluded addresses (few: the Nodes' own) and the avoided ones
                 * (few: in use by another host, found by pre-vetting) */
                for (u128 from = r->first; ordset_first_free(&ps->used, from, r->last, ret);
                     from = *ret + 1) {
                        if (!excluded_find(a, *ret) && !avoided_has(a, *ret))
                                return true;
                        if (*ret == r->last)
                                break;
                }
        }
        return false;
}

/* ---- commit ---- */

static void group_unlink(Allocator *a, Svc *s)
{
        Group *g = s->group;
        if (!g)
                return;
        if (s->gprev)
                s->gprev->gnext = s->gnext;
        else
                g->head = s->gnext;
        if (s->gnext)
                s->gnext->gprev = s->gprev;
        s->group = NULL;
        if (!g->head) {
                ht_remove(&a->by_group, &g->h);
                free(g->key);
                free(g);
        }
}

static void use_drop(Allocator *a, Use *u)
{
        PoolState *ps = &a->ps[u->pool];
        int r = ordset_remove(&ps->used, u->addr);
        assert_se(r == 0);
        ps->range_used[u->range]--;
        if (addr_is_v4(u->addr))
                ps->used_v4--;
        else
                ps->used_v6--;
        ht_remove(&a->by_addr, &u->h);
        ht_done(&u->ports);
        free(u);
}

/* Appends s (whose i-th address is u) to u's users, with its ports. Cannot fail. */
static void use_link(Use *u, Svc *s, size_t i)
{
        UseLink *l = &s->links[i];

        *l = (UseLink){.prev = u->tail, .seq = u->next_seq++};
        if (u->tail)
                u->tail->links[use_slot(u->tail, u)].next = s;
        else
                u->head = s;
        u->tail = s;
        u->n_users++;
        for (size_t j = 0; j < s->n_ports; j++) {
                PortNode *p = &s->pnodes[i * s->n_ports + j];
                p->linked = !use_port(u, p->h.hash, p->protocol, p->port);
                if (p->linked)
                        ht_insert(&u->ports, &p->h);
        }
}

static void use_unlink(Use *u, Svc *s, size_t i)
{
        UseLink *l = &s->links[i];

        for (size_t j = 0; j < s->n_ports; j++) {
                PortNode *p = &s->pnodes[i * s->n_ports + j];
                if (p->linked)
                        ht_remove(&u->ports, &p->h);
                p->linked = false;
        }
        if (l->prev)
                l->prev->links[use_slot(l->prev, u)].next = l->next;
        else
                u->head = l->next;
        if (l->next)
                l->next->links[use_slot(l->next, u)].prev = l->prev;
        else
                u->tail = l->prev;
        u->n_users--;
        *l = (UseLink){0};
}

/* Takes s off its addresses (dropping those nobody else holds, except keep[]) and out of
 * every index; s itself is not freed. */
static void svc_detach(Allocator *a, Svc *s, const u128 *keep, size_t n_keep)
{
        for (size_t i = 0; i < s->n_addrs; i++) {
                Use *u = s->uses[i];
                use_unlink(u, s, i);
                bool kept = false;
                for (size_t j = 0; j < n_keep; j++)
                        kept = kept || keep[j] == u->addr;
                if (u->n_users == 0 && !kept)
                        use_drop(a, u);
        }
        group_unlink(a, s);
        ht_remove(&a->by_key, &s->h);
        if (s->prev)
                s->prev->next = s->next;
        else
                a->first = s->next;
        if (s->next)
                s->next->prev = s->prev;
        else
                a->last = s->prev;
        a->n_svcs--;
}

/*
 * Gives s (owned; freed on error) the addresses in pool, replacing old (may be NULL).
 * Everything that can fail is done before anything changes.
 */
static int apply(Allocator *a, Svc *s_in, size_t pool, const u128 *addrs, size_t n, Svc *old)
{
        _cleanup_(svc_freep) Svc *s = s_in;
        Use *fresh[2] = {}, *uses[2] = {};
        Group *g = NULL, *new_g = NULL;
        int r = -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                uses[i] = use_find(a, addrs[i]);
                if (uses[i])
                        continue;
                fresh[i] = calloc(1, sizeof(Use));
                if (!fresh[i] || ht_init(&fresh[i]->ports, 4) < 0)
                        goto fail;
        }
        /* a spare group in any case: detaching `old` below may free the group it is in
         * (when it was its only member), so the group is looked up only after that */
        if (s->sharing_key) {
                new_g = calloc(1, sizeof(*new_g));
                if (!new_g || !(new_g->key = strdup(s->sharing_key)))
                        goto fail;
        }
        /* one spare node per address added or removed in each pool's set */
        size_t need = n + (old && old->pool == pool ? old->n_addrs : 0);
        if (ordset_reserve(&a->ps[pool].used, need) < 0 ||
            (old && old->pool != pool && ordset_reserve(&a->ps[old->pool].used, old->n_addrs) < 0))
                goto fail;

        /* nothing below can fail */
        if (old) {
                svc_detach(a, old, addrs, n);
                svc_free(old);
        }
        s->pool = pool;
        s->n_addrs = n;
        for (size_t i = 0; i < n; i++) {
                Use *u = uses[i];
                if (!u) {
                        PoolState *ps = &a->ps[pool];
                        const RangeRef *rr = range_find(a, addrs[i]);
                        u = fresh[i];
                        fresh[i] = NULL;
                        u->addr = addrs[i];
                        u->pool = pool;
                        u->range = rr->range;
                        u->h.hash = hash_addr(a, addrs[i]);
                        int k = ordset_add(&ps->used, addrs[i]);
                        assert_se(k == 0);
                        ps->range_used[u->range]++;
                        if (addr_is_v4(addrs[i]))
                                ps->used_v4++;
                        else
                                ps->used_v6++;
                        ht_insert(&a->by_addr, &u->h);
                }
                s->addrs[i] = addrs[i];
                s->uses[i] = u;
                use_link(u, s, i);
        }
        if (s->sharing_key) {
                g = group_find(a, s->sharing_key);
                if (!g) {
                        g = TAKE_PTR(new_g);
                        g->h.hash = hash_str(a, g->key);
                        ht_insert(&a->by_group, &g->h);
                }
                s->group = g;
                s->gnext = g->head;
                if (g->head)
                        g->head->gprev = s;
                g->head = s;
        }
        s->h.hash = hash_str(a, s->key);
        ht_insert(&a->by_key, &s->h);
        s->prev = a->last;
        s->next = NULL;
        if (a->last)
                a->last->next = s;
        else
                a->first = s;
        a->last = s;
        a->n_svcs++;
        TAKE_PTR(s);
        if (new_g) { /* the group existed: the spare is not needed */
                free(new_g->key);
                free(new_g);
        }
        return 0;

fail:
        for (size_t i = 0; i < 2; i++)
                if (fresh[i]) {
                        ht_done(&fresh[i]->ports);
                        free(fresh[i]);
                }
        if (new_g) {
                free(new_g->key);
                free(new_g);
        }
        return r;
}

static void fill_result(const Svc *s, AllocResult *ret)
{
        ret->n_addrs = s->n_addrs;
        ret->addrs[0] = s->addrs[0];
        ret->addrs[1] = s->n_addrs > 1 ? s->addrs[1] : 0;
        ret->pool = s->pool;
        ret->reason[0] = 0;
}

static int commit(Allocator *a, Svc *s, size_t pool, const u128 *addrs, size_t n, Svc *old,
                  AllocResult *ret)
{
        int r = apply(a, s, pool, addrs, n, old);
        if (r < 0)
                return r;
        fill_result(s, ret);
        return 0;
}

/* ---- automatic allocation ---- */

static void describe_pool_use(const Allocator *a, size_t pool, int f, char *buf)
{
        const PoolState *ps = &a->ps[pool];
        char used[COUNT_STR_MAX], size[COUNT_STR_MAX];
        u128 n = f == AF_INET ? ps->used_v4 : ps->used_v6;
        const AddrCount *c = f == AF_INET ? &ps->size_v4 : &ps->size_v6;

        u128_format(n, used);
        addr_count_format(c, size);
        if (ps->has_v4 && ps->has_v6)
                appendf(buf, "%s of %s %s addresses in use", used, size, family_name(f));
        else
                appendf(buf, "%s of %s in use", used, size);
}

static bool pool_has(const Allocator *a, size_t pool, int f)
{
        return f == AF_INET ? a->ps[pool].has_v4 : a->ps[pool].has_v6;
}

static int allocate_auto(Allocator *a, Svc *s_in, Svc *old, AllocResult *ret)
{
        _cleanup_(svc_freep) Svc *s = s_in;
        const PoolSet *set = a->pools;
        _cleanup_free_ size_t *cand = malloc((set->n_pools + 1) * sizeof(size_t));
        size_t n_cand = 0;
        char why[200];

        if (!cand)
                return -ENOMEM;
        if (s->pool_name) {
                const Pool *p = NULL;
                size_t i;
                for (i = 0; i < set->n_pools && !p; i++)
                        if (strcmp(set->pools[i].name, s->pool_name) == 0)
                                p = &set->pools[i];
                if (!p)
                        return refuse(ret, ALLOC_E_NO_POOL, "pool \"%s\" does not exist",
                                      s->pool_name);
                if (!pool_allows(p, s, why, sizeof(why)))
                        return refuse(ret, ALLOC_E_NO_POOL, "pool \"%s\" does not allow %s (%s)",
                                      p->name, s->key, why);
                cand[n_cand++] = i - 1;
        } else {
                ret->reason[0] = 0;
                for (size_t k = 0; k < set->n_pools; k++) {
                        size_t i = a->order[k];
                        const Pool *p = &set->pools[i];
                        if (!p->auto_assign)
                                continue;
                        if (pool_allows(p, s, why, sizeof(why)))
                                cand[n_cand++] = i;
                }
                if (n_cand == 0) {
                        refuse(ret, ALLOC_E_NO_POOL, "no pool allows %s", s->key);
                        for (size_t k = 0; k < set->n_pools; k++) {
                                const Pool *p = &set->pools[a->order[k]];
                                if (p->auto_assign)
                                        pool_allows(p, s, why, sizeof(why));
                                else
                                        snprintf(why, sizeof(why),
                                                 "auto_assign is off; name the pool or ask for "
                                                 "one of its addresses");
                                appendf(ret->reason, "%s pool \"%s\": %s", k == 0 ? " (" : "; ",
                                        p->name, why);
                        }
                        appendf(ret->reason, ")");
                        return ALLOC_E_NO_POOL;
                }
        }

        int prim = primary_family(s), sec = other_family(prim);
        bool two = wants_two(s), require = s->policy == ALLOC_REQUIRE_DUAL_STACK;
        size_t prim_pool = SIZE_MAX, sec_pool = SIZE_MAX;
        u128 prim_addr = 0, sec_addr = 0;

        for (size_t k = 0; k < n_cand; k++) {
                u128 x = 0, y = 0;
                bool hx = pick(a, cand[k], prim, s, &x);
                bool hy = two && pick(a, cand[k], sec, s, &y);
                if (hx && (hy || !two)) {
                        u128 addrs[2] = {x, y};
                        return commit(a, TAKE_PTR(s), cand[k], addrs, hy ? 2 : 1, old, ret);
                }
                if (require)
                        continue;
                if (hx && prim_pool == SIZE_MAX) {
                        prim_pool = cand[k];
                        prim_addr = x;
                }
                if (hy && sec_pool == SIZE_MAX) {
                        sec_pool = cand[k];
                        sec_addr = y;
                }
        }
        if (prim_pool != SIZE_MAX)
                return commit(a, TAKE_PTR(s), prim_pool, &prim_addr, 1, old, ret);
        if (sec_pool != SIZE_MAX)
                return commit(a, TAKE_PTR(s), sec_pool, &sec_addr, 1, old, ret);

        /* Refused: say whether the families are missing or the addresses are used up. */
        size_t n_fit = 0;
        for (size_t k = 0; k < n_cand; k++) {
                bool fits = require ? pool_has(a, cand[k], prim) && pool_has(a, cand[k], sec)
                            : two   ? pool_has(a, cand[k], prim) || pool_has(a, cand[k], sec)
                                    : pool_has(a, cand[k], prim);
                if (fits)
                        cand[n_fit++] = cand[k];
        }
        if (n_fit == 0) {
                /* name the families of the request (in its order) that no candidate has */
                bool has_prim = false, has_sec = false;
                for (size_t k = 0; k < n_cand; k++) {
                        has_prim = has_prim || pool_has(a, cand[k], prim);
                        has_sec = has_sec || pool_has(a, cand[k], sec);
                }
                char lack[32], asks[80] = "";
                if (require)
                        snprintf(asks, sizeof(asks), " (RequireDualStack asks for %s and %s)",
                                 family_name(prim), family_name(sec));
                if (require && has_prim && has_sec)
                        return refuse(ret, ALLOC_E_FAMILY,
                                      "no pool that allows %s has both %s and %s addresses "
                                      "(RequireDualStack takes both from one pool)",
                                      s->key, family_name(prim), family_name(sec));
                /* every pool has one family at least: what lacks is the other one */
                snprintf(lack, sizeof(lack), "%s", family_name(two && has_prim ? sec : prim));
                if (s->pool_name)
                        return refuse(ret, ALLOC_E_FAMILY, "pool \"%s\" has no %s addresses%s",
                                      s->pool_name, lack, asks);
                return refuse(ret, ALLOC_E_FAMILY, "no pool that allows %s has %s addresses%s",
                              s->key, lack, asks);
        }
        refuse(ret, ALLOC_E_EXHAUSTED, "no available addresses in pool%s ", n_fit > 1 ? "s" : "");
        for (size_t k = 0; k < n_fit; k++) {
                size_t i = cand[k];
                appendf(ret->reason, "%s\"%s\" (", k ? ", " : "", set->pools[i].name);
                bool any = false;
                for (int pass = 0; pass < 2; pass++) {
                        int f = pass == 0 ? prim : sec;
                        if ((pass == 1 && !two) || !pool_has(a, i, f))
                                continue;
                        if (any)
                                appendf(ret->reason, ", ");
                        describe_pool_use(a, i, f, ret->reason);
                        any = true;
                }
                appendf(ret->reason, ")");
        }
        return ALLOC_E_EXHAUSTED;
}

/* ---- public operations ---- */

static int check_request(const Allocator *a, const AllocRequest *req, AllocResult *ret)
{
        if (!req->key || !*req->key)
                return refuse(ret, ALLOC_E_INVALID, "request without a Service key");
        /* a configuration without pools is valid (MetalLB manifests split over files) */
        if (a->pools->n_pools == 0)
                return refuse(ret, ALLOC_E_NO_POOL,
                              "no pool is configured: %s gets no address until a pool is added",
                              req->key);
        if (req->n_requested > 2 || req->n_families > 2 || (req->n_ports > 0 && !req->ports) ||
            req->policy < 0 || req->policy >= _ALLOC_FAMILY_POLICY_MAX)
                return refuse(ret, ALLOC_E_INVALID, "malformed allocation request for %s",
                              req->key);
        for (size_t i = 0; i < req->n_families; i++)
                if (req->families[i] != AF_INET && req->families[i] != AF_INET6)
                        return refuse(ret, ALLOC_E_INVALID, "unknown IP family for %s", req->key);
        return 0;
}

int alloc_service(Allocator *a, const AllocRequest *req, AllocResult *ret)
{
        _cleanup_(svc_freep) Svc *s = NULL;
        u128 addrs[2];
        size_t pool;
        int r;

        ret->reason[0] = 0;
        if ((r = check_request(a, req, ret)) != 0)
                return r;
        if ((r = svc_from_request(&s, req)) < 0)
                return r;
        svc_hash_ports(a, s);
        Svc *old = svc_find(a, req->key);

        if (req->n_requested > 0) {
                r = check_addrs(a, s, req->requested, req->n_requested, req->requested_source,
                                addrs, &pool, ret);
                if (r != ALLOC_OK)
                        return r;
                return commit(a, TAKE_PTR(s), pool, addrs, req->n_requested, old, ret);
        }
        if (old) {
                AllocResult scratch;
                if (check_addrs(a, s, old->addrs, old->n_addrs, NULL, addrs, &pool, &scratch) ==
                    ALLOC_OK) {
                        size_t n = old->n_addrs;
                        /* PreferDualStack missing a family: add it from the same pool */
                        if (n == 1 && s->policy == ALLOC_PREFER_DUAL_STACK && wants_two(s) &&
                            pick(a, pool, other_family(addr_family(addrs[0])), s, &addrs[1])) {
                                if (addr_family(addrs[0]) != primary_family(s)) {
                                        u128 t = addrs[0];
                                        addrs[0] = addrs[1];
                                        addrs[1] = t;
                                }
                                n = 2;
                        }
                        return commit(a, TAKE_PTR(s), pool, addrs, n, old, ret);
                }
        }
        return allocate_auto(a, TAKE_PTR(s), old, ret);
}

int alloc_adopt(Allocator *a, const AllocRequest *req, const u128 *addrs, size_t n_addrs,
                AllocResult *ret)
{
        _cleanup_(svc_freep) Svc *s = NULL;
        u128 sorted[2];
        size_t pool;
        int r;

        ret->reason[0] = 0;
        if ((r = check_request(a, req, ret)) != 0)
                return r;
        if ((r = svc_from_request(&s, req)) < 0)
                return r;
        svc_hash_ports(a, s);
        r = check_addrs(a, s, addrs, n_addrs, NULL, sorted, &pool, ret);
        if (r != ALLOC_OK)
                return r;
        return commit(a, TAKE_PTR(s), pool, sorted, n_addrs, svc_find(a, req->key), ret);
}

int alloc_release(Allocator *a, const char *key)
{
        Svc *s = svc_find(a, key);
        if (!s)
                return 0;
        svc_detach(a, s, NULL, 0);
        svc_free(s);
        return 1;
}

bool alloc_lookup(const Allocator *a, const char *key, AllocResult *ret)
{
        const Svc *s = svc_find(a, key);
        if (!s)
                return false;
        fill_result(s, ret);
        return true;
}

size_t alloc_users(const Allocator *a, u128 addr, const char **keys, size_t max)
{
        const Use *u = use_find(a, addr);
        if (!u)
                return 0;
        size_t i = 0;
        for (const Svc *s = u->head; s && i < max; s = use_next(s, u))
                keys[i++] = s->key;
        return u->n_users;
}

size_t allocator_count(const Allocator *a)
{
        return a->n_svcs;
}

int allocator_foreach(const Allocator *a,
                      int (*cb)(const char *key, const AllocResult *r, void *userdata),
                      void *userdata)
{
        for (const Svc *s = a->first; s; s = s->next) {
                AllocResult r;
                fill_result(s, &r);
                int k = cb(s->key, &r, userdata);
                if (k != 0)
                        return k;
        }
        return 0;
}

const PoolSet *allocator_pools(const Allocator *a)
{
        return a->pools;
}

int alloc_pool_stats(const Allocator *a, size_t pool, AllocPoolStats *ret)
{
        if (pool >= a->pools->n_pools)
                return -ENOENT;
        const PoolState *ps = &a->ps[pool];
        AllocPoolStats st = {
            .size_v4 = ps->size_v4,
            .size_v6 = ps->size_v6,
            .used_v4 = ps->used_v4,
            .used_v6 = ps->used_v6,
            .used = ps->used_v4 + ps->used_v6,
        };
        st.size = ps->size_v4;
        st.size.n += ps->size_v6.n;
        st.size.overflow =
            ps->size_v4.overflow || ps->size_v6.overflow || st.size.n < ps->size_v6.n;
        if (!st.size.overflow)
                st.free = (AddrCount){.n = st.size.n - st.used};
        else if (st.used == 0)
                st.free = st.size;
        else /* 2^128 - used fits; more than that only for sets larger than 2^128 */
                st.free = (AddrCount){.n = (u128)0 - st.used,
                                      .overflow = ps->size_v4.overflow && ps->size_v6.overflow};
        *ret = st;
        return 0;
}

/* ---- lifecycle ---- */

/* Number of x in [f, l] with x mod 256 == m. */
static u128 count_mod256(u128 f, u128 l, unsigned m)
{
        if (l < m)
                return 0;
        u128 lo = f <= m ? 0 : (f - m + 255) >> 8, hi = (l - m) >> 8;
        return hi >= lo ? hi - lo + 1 : 0;
}

static int cmp_range(const void *x, const void *y)
{
        const RangeRef *a = x, *b = y;
        return a->first < b->first ? -1 : a->first > b->first;
}

Allocator *allocator_free(Allocator *a)
{
        if (!a)
                return NULL;
        while (a->first) {
                Svc *s = a->first;
                svc_detach(a, s, NULL, 0);
                svc_free(s);
        }
        for (size_t i = 0; a->ps && i < a->pools->n_pools; i++) {
                ordset_done(&a->ps[i].used);
                free(a->ps[i].range_used);
                free(a->ps[i].range_size);
                free(a->ps[i].range_huge);
        }
        free(a->ps);
        free(a->order);
        free(a->index);
        excluded_clear(a->excluded, a->n_excluded);
        free(a->avoided);
        ht_done(&a->by_key);
        ht_done(&a->by_addr);
        ht_done(&a->by_group);
        free(a);
        return NULL;
}

int allocator_new(Allocator **ret, const PoolSet *pools)
{
        _cleanup_(allocator_freep) Allocator *a = calloc(1, sizeof(*a));
        size_t n_ranges = 0;

        if (!a)
                return -ENOMEM;
        if (ht_key_init(&a->hkey) < 0)
                return -EIO;
        a->pools = pools;
        if (ht_init(&a->by_key, 64) < 0 || ht_init(&a->by_addr, 64) < 0 ||
            ht_init(&a->by_group, 64) < 0)
                return -ENOMEM;
        a->ps = calloc(pools->n_pools + 1, sizeof(*a->ps));
        a->order = calloc(pools->n_pools + 1, sizeof(*a->order));
        if (!a->ps || !a->order)
                return -ENOMEM;
        for (size_t i = 0; i < pools->n_pools; i++) {
                a->order[i] = pools->order ? pools->order[i] : i;
                if (a->order[i] >= pools->n_pools)
                        return -EINVAL;
                n_ranges += pools->pools[i].n_ranges;
        }
        a->index = calloc(n_ranges + 1, sizeof(*a->index));
        if (!a->index)
                return -ENOMEM;

        for (size_t i = 0; i < pools->n_pools; i++) {
                const Pool *p = &pools->pools[i];
                PoolState *ps = &a->ps[i];
                ordset_init(&ps->used, p->avoid_buggy_ips);
                ps->range_used = calloc(p->n_ranges + 1, sizeof(u128));
                ps->range_size = calloc(p->n_ranges + 1, sizeof(u128));
                ps->range_huge = calloc(p->n_ranges + 1, sizeof(bool));
                if (!ps->range_used || !ps->range_size || !ps->range_huge)
                        return -ENOMEM;
                for (size_t j = 0; j < p->n_ranges; j++) {
                        const AddrRange *r = &p->ranges[j];
                        AddrCount c = {};
                        bool v4 = addr_is_v4(r->first);
                        addr_count_add_range(&c, r);
                        if (v4 && p->avoid_buggy_ips)
                                c.n -= count_mod256(r->first, r->last, 0) +
                                       count_mod256(r->first, r->last, 255);
                        ps->range_size[j] = c.n;
                        ps->range_huge[j] = c.overflow;
                        AddrCount *total = v4 ? &ps->size_v4 : &ps->size_v6;
                        u128 before = total->n;
                        total->n += c.n;
                        total->overflow = total->overflow || c.overflow || total->n < before;
                        if (v4)
                                ps->has_v4 = true;
                        else
                                ps->has_v6 = true;
                        a->index[a->n_index++] = (RangeRef){r->first, r->last, i, j};
                }
        }
        qsort(a->index, a->n_index, sizeof(*a->index), cmp_range);
        for (size_t i = 1; i < a->n_index; i++)
                if (a->index[i].first <= a->index[i - 1].last)
                        return -EINVAL; /* overlapping ranges: pools_parse() refuses these */
        *ret = TAKE_PTR(a);
        return 0;
}

void alloc_dropped_free(AllocDropped *d, size_t n)
{
        for (size_t i = 0; d && i < n; i++)
                free(d[i].key);
        free(d);
}

int allocator_rebuild(const Allocator *old, const PoolSet *pools, Allocator **ret,
                      AllocDropped **ret_dropped, size_t *ret_n_dropped)
{
        _cleanup_(allocator_freep) Allocator *a = NULL;
        AllocDropped *dropped = NULL;
        size_t n_dropped = 0, cap = 0;
        int r;

        r = allocator_new(&a, pools);
        if (r < 0)
                return r;
        if (old->has_excluded_tag) {
                _cleanup_free_ AllocExcluded *x = calloc(old->n_excluded + 1, sizeof(*x));
                if (!x)
                        return -ENOMEM;
                for (size_t i = 0; i < old->n_excluded; i++)
                        x[i] = (AllocExcluded){old->excluded[i].addr, old->excluded[i].who};
                r = allocator_set_excluded(a, x, old->n_excluded, old->excluded_tag);
                if (r < 0)
                        return r;
        }
        /* the avoided addresses still in a pool (the pre-vetting's next pass sets them anew) */
        if (old->n_avoided > 0) {
                _cleanup_free_ u128 *v = calloc(old->n_avoided, sizeof(*v));
                size_t k = 0;
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < old->n_avoided; i++)
                        if (alloc_find_pool(a, old->avoided[i], NULL))
                                v[k++] = old->avoided[i];
                r = allocator_set_avoided(a, v, k);
                if (r < 0)
                        return r;
        }
        for (const Svc *o = old->first; o; o = o->next) {
                _cleanup_(svc_freep) Svc *s = NULL;
                AllocResult res;
                u128 addrs[2];
                size_t pool;

                r = svc_dup(&s, o);
                if (r < 0)
                        goto fail;
                svc_hash_ports(a, s);
                res.reason[0] = 0;
                AllocError e = check_addrs(a, s, o->addrs, o->n_addrs, NULL, addrs, &pool, &res);
                if (e == ALLOC_OK) {
                        r = apply(a, TAKE_PTR(s), pool, addrs, o->n_addrs, NULL);
                        if (r < 0)
                                goto fail;
                        continue;
                }
                r = -ENOMEM;
                if (GROW(dropped, cap, n_dropped + 1) < 0)
                        goto fail;
                AllocDropped *d = &dropped[n_dropped];
                *d = (AllocDropped){.n_addrs = o->n_addrs, .error = e};
                memcpy(d->addrs, o->addrs, sizeof(d->addrs));
                memcpy(d->reason, res.reason, sizeof(d->reason));
                if (!(d->key = strdup(o->key)))
                        goto fail;
                n_dropped++;
        }
        *ret = TAKE_PTR(a);
        *ret_dropped = dropped;
        *ret_n_dropped = n_dropped;
        return 0;
fail:
        alloc_dropped_free(dropped, n_dropped);
        return r;
}
