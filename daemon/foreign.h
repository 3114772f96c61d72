/* SPDX-License-Identifier: MIT */
/*
 * Is this address someone else's here? Before mlbd takes an address it asks the kernel
 * (an address dump and a route dump, shared by every check in one loop iteration) whether the
 * address is already on an interface of this host without mlbd's tag (the node's own address, one
 * an operator or another daemon added), or is this host's default gateway. An address mlbd added
 * itself (tagged MLBD_IFA_PROTO) is mlbd's and may be adopted, e.g. after a restart.
 *
 * Kernels before 5.18 drop IFA_PROTO (netlink_has_ifa_proto(); mlbd then adds its
 * addresses untagged). There an address counts as mlbd's when it looks like one: a /32
 * with IFA_F_NOPREFIXROUTE (the kernel keeps no IFA_F_NODAD for IPv4) or a /128 with
 * IFA_F_NODAD and IFA_F_NOPREFIXROUTE, flags an operator rarely sets by hand.
 *
 * The Nodes' InternalIP/ExternalIP addresses are another matter: they come from the
 * model, not from this host, and the allocator refuses them (foreign_exclude_nodes()).
 */
#pragma once

#include "alloc.h"
#include "model.h"
#include "netlink.h"

typedef enum ForeignKind {
        FOREIGN_NONE = 0, /* not on this host, not its gateway */
        FOREIGN_MLBD,     /* on this host, added by mlbd */
        FOREIGN_LOCAL,    /* on an interface of this host, not added by mlbd */
        FOREIGN_GATEWAY,  /* the gateway of one of this host's default routes */
        _FOREIGN_KIND_MAX,
} ForeignKind;

/* Pure parts, on dumps already taken; tags: netlink_has_ifa_proto(). */
/* Whether a was added by mlbd (see above for kernels that drop the tag). */
bool foreign_addr_is_mlbd(const NlAddr *a, bool tags);
/* What addr is here; for FOREIGN_LOCAL and FOREIGN_GATEWAY *ret_ifindex names the
 * interface (0 if unknown). A copy on any interface that is not mlbd's makes it
 * FOREIGN_LOCAL. */
ForeignKind foreign_classify(const NlAddr *a, size_t n, bool tags, const NlGateway *g, size_t n_g,
                             u128 addr, int *ret_ifindex);

/*
 * The dumps of one event loop iteration, so that taking a thousand addresses at once
 * (a takeover) costs one address dump and one route dump, not a thousand of each (each
 * dump lists every address of the host: with 1,000 addresses ~1.8 ms, 4,000 ~9.6 ms).
 * Embedded and zeroed by its owner; foreign_cache_done() frees the dumps.
 */
typedef struct ForeignCache {
        bool valid;
        uint64_t stamp;
        bool tags;     /* netlink_has_ifa_proto() */
        NlAddr *addrs; /* sorted by address */
        size_t n_addrs;
        NlGateway *gateways;
        size_t n_gateways;
} ForeignCache;
void foreign_cache_done(ForeignCache *c);

/*
 * Asks the kernel through nl (or reuses the dumps in c taken with the same stamp, e.g.
 * the event loop iteration; c NULL: no cache). Returns a ForeignKind, or -errno when a
 * dump failed. For FOREIGN_LOCAL and FOREIGN_GATEWAY writes the reason for the Service to
 * reason, e.g. "address 192.0.2.1 is already on eth0 of node1 (not added by mlbd)" or
 * "address 192.0.2.254 is the default gateway of node1" (node NULL: "this node").
 */
int foreign_check(ForeignCache *c, uint64_t stamp, Netlink *nl, u128 addr, const char *node,
                  char *reason, size_t len);

/*
 * Gives the allocator the InternalIP and ExternalIP addresses of every Node of the model
 * as excluded (allocator_set_excluded(), "node2's InternalIP"); does nothing when the
 * model did not change since the last call for this allocator. 0 or -ENOMEM.
 */
int foreign_exclude_nodes(Allocator *alloc, const Model *model);
