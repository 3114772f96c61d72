/* SPDX-License-Identifier: MIT */
/*
 * Claim watch: while we own an address, listen on its interface for another host
 * claiming it (an ARP whose sender IP is the address, an NA for it) from a MAC that is
 * not ours. Each claim is counted, logged (the first from each new MAC at warning level,
 * repeats at debug) and reported through the callback; we never fight back here (RFC
 * 5227 §2.4 (b)/(c): at most one defence, decided by the owner of the address).
 */
#pragma once

#include <systemd/sd-event.h>

#include "addr.h"
#include "arp.h"

typedef struct ClaimWatch ClaimWatch;
/* error < 0: the socket failed and the watch stopped (mac NULL, count unchanged). */
typedef void (*claim_watch_cb_t)(ClaimWatch *w, const uint8_t mac[ETH_ALEN], uint64_t count,
                                 int error, void *userdata);

/*
 * A hub shares one packet socket per (interface, family) among all the watches attached
 * to it: one wakeup per packet whatever the number of owned addresses, and one socket to
 * open and close (closing a packet socket costs the kernel an RCU grace period, several
 * ms) instead of one per address. Watches must be freed before their hub.
 */
typedef struct ClaimHub ClaimHub;
int claim_hub_new(ClaimHub **ret, sd_event *e, int64_t priority);
ClaimHub *claim_hub_free(ClaimHub *h);
DEFINE_FREEP(ClaimHub, claim_hub_free)
/* Listening sockets open now (for tests). */
size_t claim_hub_sockets(const ClaimHub *h);

int claim_watch_new(ClaimWatch **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
                    claim_watch_cb_t cb, void *userdata);
/* Opens a socket of its own and starts listening. */
int claim_watch_attach_event(ClaimWatch *w, sd_event *e, int64_t priority);
/* Starts listening on the hub's socket for the watch's interface and family. */
int claim_watch_attach_hub(ClaimWatch *w, ClaimHub *h);
uint64_t claim_watch_get_count(const ClaimWatch *w);
/* ARP requests / NS for the address received while the watch listened (MetalLB's
 * layer2_requests_received; the kernel answers them). */
uint64_t claim_watch_get_requests(const ClaimWatch *w);
ClaimWatch *claim_watch_free(ClaimWatch *w);
DEFINE_FREEP(ClaimWatch, claim_watch_free)
