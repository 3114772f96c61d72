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

int claim_watch_new(ClaimWatch **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
                    claim_watch_cb_t cb, void *userdata);
/* Opens the socket and starts listening. */
int claim_watch_attach_event(ClaimWatch *w, sd_event *e, int64_t priority);
uint64_t claim_watch_get_count(const ClaimWatch *w);
ClaimWatch *claim_watch_free(ClaimWatch *w);
DEFINE_FREEP(ClaimWatch, claim_watch_free)
