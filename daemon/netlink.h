/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink through libmnl: the only code that changes addresses in the kernel.
 *
 * Netlink: synchronous requests on their own socket, each acknowledged; the kernel's
 * NLMSG_ERROR comes back unchanged as -errno (e.g. -EEXIST, -EADDRNOTAVAIL, -EPERM). A
 * request that fails part-way (a callback error, a dump the kernel flags interrupted:
 * -EINTR) is still read to its end, or the socket reopened, so it never fails the next.
 * NlMonitor: a second socket subscribed to link and address groups, read on sd-event,
 * reporting address removals/additions and link up/down changes through a callback.
 *
 * Our addresses: /32 or /128, IFA_F_NODAD (the owner probed the LAN itself; DAD would
 * keep an IPv6 address tentative for a second and, on a duplicate, silently unusable),
 * IFA_F_NOPREFIXROUTE (a service address must not pull routes for a subnet), and
 * IFA_PROTO = MLBD_IFA_PROTO so that `mlbd --flush` can find exactly what mlbd added.
 */
#pragma once

#include <net/ethernet.h>
#include <net/if.h>
#include <linux/if.h> /* after net/if.h: IFF_LOWER_UP */
#include <systemd/sd-event.h>

#include "addr.h"

/*
 * IFA_PROTO (Linux 5.18+) tags an address with the protocol that added it. The kernel
 * reserves 0-3 (unspec, loopback, kernel_lo, kernel_ra, kernel_ll); 0x6d is 'm' for mlbd.
 * keepalived uses 0x12 on the same principle. Older kernels drop the attribute, so
 * mlbd's addresses are untagged there and `mlbd --flush` goes by the state file instead.
 */
#define MLBD_IFA_PROTO 0x6d

/* Whether the kernel keeps IFA_PROTO (Linux 5.18+, by uname; unknown counts as yes).
 * Test seam, read here and nowhere else: MLBD_TEST_NO_IFA_PROTO=1 in the environment
 * makes it false whatever the kernel, so mlbd behaves as on an old kernel (addresses
 * added without the tag, --flush by state.json). Logged once when false. */
bool netlink_has_ifa_proto(void);

typedef struct NlAddr {
        int ifindex;
        u128 addr;
        uint8_t prefixlen; /* within the family: 0..32 or 0..128 */
        uint8_t scope;
        uint8_t proto;  /* IFA_PROTO, 0 when absent */
        uint32_t flags; /* IFA_F_* (IFA_FLAGS when present) */
} NlAddr;

typedef struct NlLink {
        int ifindex;
        char name[IF_NAMESIZE];
        uint8_t mac[ETH_ALEN];
        bool has_mac;      /* IFLA_ADDRESS is 6 bytes */
        unsigned flags;    /* IFF_* */
        uint8_t operstate; /* IF_OPER_* */
} NlLink;

static inline bool nl_link_is_up(const NlLink *l)
{
        return (l->flags & IFF_UP) && (l->flags & IFF_LOWER_UP);
}

typedef struct Netlink Netlink;

int netlink_new(Netlink **ret);
Netlink *netlink_free(Netlink *nl);
DEFINE_FREEP(Netlink, netlink_free)

/* Adds addr (/32 or /128) to ifindex with the flags and tag above (no tag when
 * !netlink_has_ifa_proto()). -EEXIST if present. */
int netlink_addr_add(Netlink *nl, int ifindex, u128 addr);
/* Deletes addr (/32 or /128) from ifindex. -EADDRNOTAVAIL if absent. */
int netlink_addr_del(Netlink *nl, int ifindex, u128 addr);
/* Deletes the kernel's neighbour entry for addr on ifindex (-ENOENT if there is none), so
 * that the next packet to addr resolves it at once instead of waiting out a probe cycle
 * left from while the link was down. */
int netlink_neigh_forget(Netlink *nl, int ifindex, u128 addr);
/* Calls cb for every address of family (AF_INET, AF_INET6 or AF_UNSPEC), in the kernel's
 * order. cb returns 0 to go on, or a negative errno to stop: the rest of the dump is read
 * and dropped, and that error is returned. */
typedef int (*nl_addr_cb_t)(const NlAddr *a, void *userdata);
int netlink_addr_foreach(Netlink *nl, int family, nl_addr_cb_t cb, void *userdata);
/* All addresses of family (AF_INET, AF_INET6 or AF_UNSPEC). *ret is malloc'ed. */
int netlink_addr_dump(Netlink *nl, int family, NlAddr **ret, size_t *ret_n);
/* Deletes every address tagged MLBD_IFA_PROTO on any interface and, of the untagged ones,
 * each that owned[] lists (same ifindex and address) and that is there as a /32 or /128;
 * nothing else. owned[] (ifindex, addr) is for kernels without IFA_PROTO, where mlbd's
 * own addresses carry no tag: what the state file says this node owned; pass NULL, 0
 * where the tag works. Returns the number removed, or -errno (after removing what it
 * could). */
int netlink_flush(Netlink *nl, const NlAddr *owned, size_t n_owned);
/* netlink_flush(nl, NULL, 0) */
int netlink_flush_tagged(Netlink *nl);
int netlink_link_list(Netlink *nl, NlLink **ret, size_t *ret_n);
/* -ENODEV if there is no such link. */
int netlink_link_get(Netlink *nl, int ifindex, NlLink *ret);
/* The interface to announce addr on: the one with the longest non-host prefix (not /32,
 * /128) containing addr, else the interface of the main table's default route of the
 * family with the lowest metric. -ENETUNREACH if neither exists. */
int netlink_route_iface(Netlink *nl, u128 addr, int *ret_ifindex);
/* The prefix part of it, on a dump already taken: the ifindex of the longest non-host
 * prefix in a[] containing addr, 0 if none. */
int nl_route_prefix_iface(const NlAddr *a, size_t n, u128 addr);
/*
 * netlink_route_iface() for many addresses at once: the prefixes (one address dump) and
 * the default routes (one route dump per family) are taken once per stamp (the event
 * loop iteration) and reused by every call with the same stamp, so placing N addresses
 * costs one dump, not N dumps of every address of the host (O(N^2) in a takeover: the
 * addresses mlbd adds are on the interface too). Zeroed by its owner;
 * nl_route_cache_done() frees it.
 */
typedef struct NlRouteCache {
        bool valid;
        uint64_t stamp;
        NlAddr *prefixes; /* the addresses with a non-host prefix */
        size_t n_prefixes;
        bool default_known[2]; /* [0] IPv4, [1] IPv6 */
        int default_ifindex[2];
        int default_error[2]; /* -ENETUNREACH: no default route */
} NlRouteCache;
int netlink_route_iface_cached(Netlink *nl, NlRouteCache *c, uint64_t stamp, u128 addr,
                               int *ret_ifindex);
void nl_route_cache_done(NlRouteCache *c);

/* Pure decoders of one RTM_*ADDR / RTM_*LINK message; -EBADMSG if malformed. nlh must be
 * a whole message (nlmsg_len within the buffer), as mnl_cb_run() guarantees. */
struct nlmsghdr;
int nl_parse_addr(const struct nlmsghdr *nlh, NlAddr *ret);
int nl_parse_link(const struct nlmsghdr *nlh, NlLink *ret);

typedef enum NlEventType {
        NL_EVENT_ADDR_NEW,
        NL_EVENT_ADDR_DEL,
        NL_EVENT_LINK_UP,   /* IFF_UP and IFF_LOWER_UP became true (or a new link is up) */
        NL_EVENT_LINK_DOWN, /* either became false (or a new link is down) */
        NL_EVENT_LINK_GONE,
        NL_EVENT_OVERRUN, /* the kernel dropped events (ENOBUFS): re-dump what you need */
        NL_EVENT_ERROR,   /* reading failed; error holds -errno; the monitor goes on */
        _NL_EVENT_MAX,
} NlEventType;

typedef struct NlEvent {
        NlEventType type;
        NlAddr addr; /* ADDR_* */
        NlLink link; /* LINK_* */
        int error;   /* ERROR */
} NlEvent;

const char *nl_event_type_to_string(NlEventType t);

typedef struct NlMonitor NlMonitor;
typedef void (*nl_monitor_cb_t)(NlMonitor *m, const NlEvent *ev, void *userdata);

/* Subscribes to RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR and seeds the link
 * table (so LINK_UP/DOWN are changes, not repeats). */
int nl_monitor_new(NlMonitor **ret, nl_monitor_cb_t cb, void *userdata);
int nl_monitor_attach_event(NlMonitor *m, sd_event *e, int64_t priority);
void nl_monitor_detach_event(NlMonitor *m);
NlMonitor *nl_monitor_free(NlMonitor *m);
DEFINE_FREEP(NlMonitor, nl_monitor_free)

/* The gateways of the main table's default routes (RTA_GATEWAY, and each hop of
 * RTA_MULTIPATH) of family (AF_INET, AF_INET6 or AF_UNSPEC), with their interface.
 * *ret is malloc'ed. Routes through nexthop objects (RTA_NH_ID) are not resolved. */
typedef struct NlGateway {
        int ifindex;
        u128 addr;
} NlGateway;
int netlink_gateway_list(Netlink *nl, int family, NlGateway **ret, size_t *ret_n);
