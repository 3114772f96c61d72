/* SPDX-License-Identifier: MIT */
/*
 * The address allocator: which address(es) a LoadBalancer Service gets, from which pool,
 * and which Services share an address. Pure: no I/O, no globals; the caller owns the loop.
 *
 * Per pool, the used addresses are an OrdSet (ordset.h), so finding the lowest free
 * address costs O(log n) whatever the size of the pool. Allocations are found by Service
 * key ("namespace/name") and used addresses by address through hash tables.
 *
 * Result rule: functions return 0 on success, a positive AllocError when the request is
 * refused (ret->reason then holds operator words for the `AllocationFailed` Event), or
 * -errno (-ENOMEM). A refusal or an error changes nothing.
 *
 * The allocator keeps a pointer to the PoolSet it was built from; the PoolSet must outlive
 * it. On a config reload build a new allocator with allocator_rebuild() and swap.
 */
#pragma once

#include "addr.h"
#include "labels.h"
#include "pools.h"

typedef enum AllocError {
        ALLOC_OK = 0,
        ALLOC_E_EXHAUSTED = 1, /* every pool that allows the Service is full */
        ALLOC_E_NO_POOL,       /* no pool allows the Service; named pool unknown or refuses it */
        ALLOC_E_NOT_IN_POOL,   /* a requested address lies in no pool that allows the Service */
        ALLOC_E_IN_USE,        /* a requested address is held by a Service it cannot share with */
        ALLOC_E_PORT_CLASH,    /* sharing allowed, but a port is already used on the address */
        ALLOC_E_FAMILY,        /* the IP families asked for cannot be met */
        ALLOC_E_INVALID,       /* malformed request (no key, more than two addresses ...) */
        _ALLOC_ERROR_MAX,
} AllocError;

const char *alloc_error_to_string(AllocError e); /* "exhausted", "no-pool", ... */

typedef enum AllocFamilyPolicy {
        ALLOC_SINGLE_STACK,
        ALLOC_PREFER_DUAL_STACK,
        ALLOC_REQUIRE_DUAL_STACK,
        _ALLOC_FAMILY_POLICY_MAX,
        _ALLOC_FAMILY_POLICY_INVALID = -EINVAL,
} AllocFamilyPolicy;

typedef struct AllocPort {
        uint8_t protocol; /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
        uint16_t port;
} AllocPort;

#define ALLOC_REASON_MAX 512

/* Everything about a Service the allocator needs. All pointers are borrowed for the call;
 * the allocator copies what it keeps. */
typedef struct AllocRequest {
        const char *key; /* "namespace/name" */
        const char *namespace;
        const Labels *service_labels;   /* NULL = none */
        const Labels *namespace_labels; /* NULL = none */
        const char *pool;               /* requested pool name, or NULL */
        u128 requested[2];              /* requested addresses, at most one per family */
        size_t n_requested;
        const char *requested_source; /* annotation name or "spec.loadBalancerIP", for refusals */
        AllocFamilyPolicy policy;
        int families[2]; /* spec.ipFamilies in order (AF_INET/AF_INET6); none = IPv4 */
        size_t n_families;
        const char *sharing_key; /* allow-shared-ip annotation, or NULL */
        const AllocPort *ports;
        size_t n_ports;
        bool traffic_local;       /* externalTrafficPolicy: Local */
        const char *pod_selector; /* spec.selector as "k=v,k2=v2" (sorted), for Local sharing */
} AllocRequest;

typedef struct AllocResult {
        u128 addrs[2]; /* primary family first (the order of ipFamilies) */
        size_t n_addrs;
        size_t pool;                   /* index into PoolSet.pools */
        char reason[ALLOC_REASON_MAX]; /* on refusal: why, in operator words */
} AllocResult;

typedef struct AllocPoolStats {
        AddrCount size; /* allocatable addresses (without .0/.255 with avoid_buggy_ips) */
        u128 used;      /* addresses held by at least one Service */
        AddrCount free;
        AddrCount size_v4, size_v6;
        u128 used_v4, used_v6;
} AllocPoolStats;

/* An allocation that a rebuild could not carry over (see allocator_rebuild()). */
typedef struct AllocDropped {
        char *key;
        u128 addrs[2];
        size_t n_addrs;
        AllocError error;
        char reason[ALLOC_REASON_MAX];
} AllocDropped;

typedef struct Allocator Allocator;

int allocator_new(Allocator **ret, const PoolSet *pools);
Allocator *allocator_free(Allocator *a);
DEFINE_FREEP(Allocator, allocator_free)

const PoolSet *allocator_pools(const Allocator *a);

/*
 * Gives the Service its address(es). Requested addresses are checked (pool, sharing,
 * family); otherwise pools are tried in order. A Service that already holds an allocation
 * keeps its addresses when they still fit the request (ports, sharing key and labels may
 * have changed; PreferDualStack gains a missing family when its pool has one free);
 * otherwise it gets new ones, and the old ones are released only on success.
 */
int alloc_service(Allocator *a, const AllocRequest *req, AllocResult *ret);

/*
 * Marks addresses the Service already has (from its status, or state.json) as used after
 * the same checks as requested addresses (pool allows the Service, named pool, families,
 * sharing). req->requested is ignored.
 */
int alloc_adopt(Allocator *a, const AllocRequest *req, const u128 *addrs, size_t n_addrs,
                AllocResult *ret);

/* Releases what the Service holds; 1 if it held something, 0 if not (idempotent). */
int alloc_release(Allocator *a, const char *key);

/* Copies the Service's allocation into ret (reason empty); false if it has none. */
bool alloc_lookup(const Allocator *a, const char *key, AllocResult *ret);

/* Keys of the Services holding addr (up to max, in the order they got it); the count. */
size_t alloc_users(const Allocator *a, u128 addr, const char **keys, size_t max);

size_t allocator_count(const Allocator *a);
/* Calls cb for every allocation in the order they were made; stops at a non-zero return
 * and returns it. */
int allocator_foreach(const Allocator *a,
                      int (*cb)(const char *key, const AllocResult *r, void *userdata),
                      void *userdata);

int alloc_pool_stats(const Allocator *a, size_t pool, AllocPoolStats *ret);

/*
 * Builds a new allocator for the PoolSet `pools` and re-adopts every allocation of `old`
 * (in the order they were made) with the request it was made with. Those the new pools no
 * longer allow are not carried over; they are returned in *ret_dropped (caller frees with
 * alloc_dropped_free()) so the caller can release them through the normal path, with
 * Events. `old` is not changed.
 */
int allocator_rebuild(const Allocator *old, const PoolSet *pools, Allocator **ret,
                      AllocDropped **ret_dropped, size_t *ret_n_dropped);
void alloc_dropped_free(AllocDropped *d, size_t n);

/*
 * Addresses no Service may have because they are someone else's (the InternalIP and
 * ExternalIP of every Node): a requested, adopted or already held one is refused with
 * ALLOC_E_IN_USE and "address ADDR is WHO" (e.g. "address 192.0.2.5 is node2's
 * InternalIP"), and the automatic choice skips them. Replaces the previous set (the
 * strings are copied; of two entries for one address the first is kept); `tag` is the
 * caller's, e.g. the model generation the set was built from, for
 * allocator_excluded_tag(). allocator_rebuild() carries the set over. 0 or -ENOMEM.
 */
typedef struct AllocExcluded {
        u128 addr;
        const char *who;
} AllocExcluded;
int allocator_set_excluded(Allocator *a, const AllocExcluded *x, size_t n, uint64_t tag);
/* The tag of the last allocator_set_excluded(); false if it was never called. */
bool allocator_excluded_tag(const Allocator *a, uint64_t *ret);

/*
 * Addresses another host was found using on the LAN before any Service had them (the
 * leader's pre-vetting, docs/cluster.md "Pre-vetting"): the automatic choice skips them,
 * as it skips the excluded ones, but a Service that asks for one by name, or holds one
 * already, is not refused here (its own probe decides). Replaces the previous set (copied;
 * duplicates are dropped). allocator_rebuild() carries over those still in a pool.
 * 0 or -ENOMEM.
 */
int allocator_set_avoided(Allocator *a, const u128 *addrs, size_t n);
bool alloc_is_avoided(const Allocator *a, u128 addr);

/*
 * The addresses the automatic choice would try in pool `pool` for family f (AF_INET or
 * AF_INET6), one per call, in the order pick() hands them out to a Service without a
 * sharing key: free addresses, ranges in written order, lowest first, without the excluded
 * ones (avoid_buggy_ips applied) but with the avoided ones. Start with a zeroed cursor.
 * O(log n) each. False when there is no more.
 */
typedef struct AllocCursor {
        size_t range;
        u128 next;
        bool started;
} AllocCursor;
bool alloc_next_free(const Allocator *a, size_t pool, int f, AllocCursor *c, u128 *ret);

/* Pool and range holding addr (with the avoid_buggy_ips rule applied): true if any. */
bool alloc_find_pool(const Allocator *a, u128 addr, size_t *ret_pool);
