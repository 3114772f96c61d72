/* SPDX-License-Identifier: MIT */
/*
 * The announcer makes the kernel and the LAN match the desired set of addresses this node
 * should answer for. One entry per address, with a small state machine:
 *
 *   idle -> probing -> owned -> (unwanted) removed
 *             |  \       \-> failed (link gone, cannot put it back)
 *             |   \-> quiet (taken while its link was down: neither added nor announced
 *             |              until the peers are heard again or quiet_usec after link up)
 *             |\-> refused (another host answered the probe; never added; probed again
 *             |              after 5 s, doubling up to 5 min, at once on announcer_retry())
 *             |\-> failed (no interface, cannot add, probe error: run again from the
 *             |              interface's name after 1 s, doubling up to 1 min, at once when
 *             |              a link of that name comes up or on announcer_retry())
 *             \--> vetted (announcer_vet: probed only, not added; the leader vets an
 *                           address another node will own, or, announcer_prevet, the
 *                           addresses its allocator will hand out next; a later want
 *                           takes it at once while the vet is fresh (60 s), else probes
 *                           it again first. A pre-vetted entry probes itself again in
 *                           the background every 30-40 s, staying vetted, and watches
 *                           for claims: a claim or a re-probe answered refuses it)
 *
 * probing: an RFC 5227 ARP probe / DAD-style NS on the chosen interface (skipped when the
 *          address was ours before, e.g. after a restart);
 * owned:   the address is on the interface (/32 or /128, nodad, noprefixroute, tagged
 *          with MLBD_IFA_PROTO), garp_count announcements were sent, a claim watch logs
 *          and counts foreign claims (the owner answers one with announcer_defend()). If
 *          someone removes it, it is put back; if the link goes down it stays and is
 *          announced again when the link comes back; if the link is deleted it fails and
 *          is retried by name (a VLAN or bond made anew).
 * Never taken: an address that is already on this host without mlbd's tag, or its default
 * gateway (foreign.h); refused with the reason. Only an address mlbd added is removed.
 * Only this module adds or removes service addresses (design.md: data flows one way).
 */
#pragma once

#include <net/if.h>
#include <systemd/sd-event.h>

#include "addr.h"
#include "netlink.h"

typedef enum AnnState {
        ANN_PROBING,
        ANN_OWNED,
        ANN_REFUSED,
        ANN_VETTED,
        ANN_FAILED,
        ANN_QUIET,
        _ANN_STATE_MAX,
        _ANN_STATE_INVALID = -EINVAL,
} AnnState;

const char *ann_state_to_string(AnnState s);

typedef struct AnnouncerCallbacks {
        /* The address is on the interface and announced. */
        void (*owned)(u128 addr, const char *ifname, void *userdata);
        /* Another host uses the address (mac); it was not added. Or an error (mac NULL). */
        void (*refused)(u128 addr, const uint8_t *mac, const char *reason, void *userdata);
        /* Another host (mac) claims an owned address. */
        void (*claimed)(u128 addr, const uint8_t *mac, void *userdata);
} AnnouncerCallbacks;

typedef struct AnnounceSettings {
        const char *interface; /* NULL: choose per address */
        const char *node_name; /* for reasons ("... of node1"); NULL: "this node" */
        unsigned garp_count;
        uint64_t garp_interval_usec;
        uint64_t refresh_usec; /* 0: off */
        uint64_t quiet_usec;   /* how long a quiet address waits after link up at most */
} AnnounceSettings;

typedef struct Announcer Announcer;

int announcer_new(Announcer **ret, sd_event *e, Netlink *nl, const AnnounceSettings *s,
                  const AnnouncerCallbacks *cb, void *userdata);
Announcer *announcer_free(Announcer *a); /* leaves addresses on the interfaces */
DEFINE_FREEP(Announcer, announcer_free)
void announcer_set_settings(Announcer *a, const AnnounceSettings *s);

/* Wants addr owned. probe=false skips the conflict probe (the address was ours).
 * ifname: a preferred interface (pool interface) or NULL. Idempotent. */
int announcer_want(Announcer *a, u128 addr, const char *ifname, bool probe);
/* Probes addr without adding it (if nothing is known about it yet); the "owned" callback
 * reports success, "refused" a conflict, and the entry stays ANN_VETTED until unwanted. */
int announcer_vet(Announcer *a, u128 addr, const char *ifname);
/* Vets addr ahead of demand (no Service holds it yet; the leader's pre-vetting): as
 * announcer_vet(), and while it stays vetted and nobody wants it, it is probed again in the
 * background every 30-40 s and another host claiming it (ARP sender, NA) refuses it, as a
 * probe conflict ("refused" callback, probe conflicts metric). The "owned" callback
 * reports only the first vet, not the background ones. announcer_vet() or
 * announcer_want() on it ends the pre-vetting (a Service holds it now). Returns 1 when
 * addr is pre-vetted (new, or vetted before), 0 when it is wanted otherwise (e.g. owned:
 * a Service just released it, and it must go, not be kept as a vet), or -errno. */
int announcer_prevet(Announcer *a, u128 addr, const char *ifname);
/* Whether addr is vetted and its vet is young enough to stand for a probe (60 s). */
bool announcer_vet_fresh(const Announcer *a, u128 addr);
/* Sends garp_count announcements again for an owned address (another node held it too and
 * let go: clients may still point at that node). */
void announcer_reannounce(Announcer *a, u128 addr);
/* An owned address this node hands over (another node owns it now, or this node is
 * leaving): it stays on the interface (the kernel answers ARP/NDP and what is on its way
 * here), but mlbd sends no more announcements for it: the rest of a burst, refreshes and
 * defences are cancelled, and reannounce/defend do nothing, so that clients never follow
 * this node back while it lets go. announcer_want() on it again announces it anew. */
void announcer_hush(Announcer *a, u128 addr);
/* Re-announces an owned address another host claimed: at once, then at most once per
 * second (RFC 5227 §2.4 (c), without giving up). */
void announcer_defend(Announcer *a, u128 addr);
/* Runs a refused or failed address again now (the Service changed, a reload). */
void announcer_retry(Announcer *a, u128 addr);
void announcer_retry_all(Announcer *a);
/* Adds and announces the quiet addresses whose link is up (the peers were heard). */
void announcer_release_quiet(Announcer *a);
/* Withdraws addr: removes it from the interface (if owned) and forgets it. */
void announcer_unwant(Announcer *a, u128 addr);
bool announcer_has(const Announcer *a, u128 addr, AnnState *state, char ifname[IF_NAMESIZE]);
size_t announcer_count(const Announcer *a, AnnState state);
/* Calls cb for every address in the given state (_ANN_STATE_INVALID: in any state). */
void announcer_foreach(const Announcer *a, AnnState state,
                       void (*cb)(u128 addr, const char *ifname, void *userdata), void *userdata);
/* What /metrics shows per address (counted since the address was first wanted here). */
typedef struct AnnStats {
        const char *ifname;
        uint64_t garp_sent; /* gratuitous ARPs / unsolicited NAs */
        uint64_t requests;  /* ARP requests / NS for it received while owned */
        uint64_t responses; /* ARP replies / solicited NAs for it the host sent while owned */
} AnnStats;
void announcer_foreach_stats(const Announcer *a, AnnState state,
                             void (*cb)(u128 addr, const AnnStats *st, void *userdata),
                             void *userdata);
/* addr (just wanted) is a takeover from a node whose death was noticed at since_usec
 * (CLOCK_MONOTONIC; 0: not a death): its first announcement observes the latency. */
void announcer_note_takeover(Announcer *a, u128 addr, uint64_t since_usec);
/* Removes every address (graceful stop). */
void announcer_withdraw_all(Announcer *a);
/* Kernel events from the netlink monitor. */
void announcer_netlink_event(Announcer *a, const NlEvent *ev);
