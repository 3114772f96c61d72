/* SPDX-License-Identifier: MIT */
/*
 * Which node answers for an address (design.md "Who decides what"): among the live nodes
 * that are eligible for it, the one with the highest rendezvous score (rendezvous.h).
 * Every mlbd computes the same answer from the same inputs, with no message exchanged.
 *
 * Eligible, for an address of pool P held by Service S, means:
 *   - some announcement rule (L2Advertisement, or a native pool's own rule) covers P,
 *     selects S (serviceSelectors) and selects the node (nodeSelectors, on the labels of
 *     the node's Node object; a node without a Node object has no labels);
 *   - for externalTrafficPolicy: Local, an EndpointSlice of S has a ready endpoint on the
 *     node;
 *   - among those, only the live ones with the highest score, a node's score being the
 *     sum of the weights of the pool's preferredNodeSelectors it matches (MetalLB).
 * Interfaces are not part of it: a node can only judge its own (a node chosen as owner
 * that lacks the interface reports it as a refusal).
 *
 * Pure: no I/O, no globals.
 */
#pragma once

#include <sys/types.h>

#include "addr.h"
#include "model.h"
#include "pools.h"

typedef struct OwnerView {
        const char *const *names; /* every known node, this one included */
        const bool *live;         /* alive and not leaving */
        size_t n;
        unsigned exclusion; /* OWNERSHIP_* flags from mlbd.conf; 0: the defaults */
} OwnerView;

/* mlbd.conf's [cluster] ignore_exclude_lb and exclude_not_ready. */
#define OWNERSHIP_IGNORE_EXCLUDE_LB (1u << 0)
#define OWNERSHIP_EXCLUDE_NOT_READY (1u << 1)

/* The label that keeps a node out of every load balancer (Kubernetes' well-known one). */
#define NODE_EXCLUDE_LB_LABEL "node.kubernetes.io/exclude-from-external-load-balancers"

/* The node announces nothing (spec.md "Service semantics"): its Node object, as last seen,
 * carries NODE_EXCLUDE_LB_LABEL (unless OWNERSHIP_IGNORE_EXCLUDE_LB) or the condition
 * NetworkUnavailable=True, or (with OWNERSHIP_EXCLUDE_NOT_READY) is not Ready. A node
 * without a Node object is not excluded (heartbeats stay the liveness signal). */
bool node_excluded(const Model *model, const char *node, unsigned exclusion);

/* s may be NULL: an allocation restored from state.json whose Service is not known yet;
 * then only the rules about nodes apply. */
bool node_eligible(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                   const char *node);
/* The same with the exclusion flags of mlbd.conf (node_eligible: the defaults, 0). */
bool node_eligible_ex(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                      const char *node, unsigned exclusion);

/* Index into v of the owner of addr, or -1 when no live node is eligible. */
ssize_t address_owner(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                      u128 addr, const OwnerView *v);
