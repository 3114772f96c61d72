/* SPDX-License-Identifier: MIT */
/*
 * Reply count: how many ARP replies / solicited Neighbour Advertisements this host sent for
 * an address it announces (MetalLB's layer2_responses_sent). The kernel sends them, and a
 * socket bound to ETH_P_ARP or ETH_P_IPV6 never sees what the host sends (outgoing packets
 * reach only ETH_P_ALL taps), so each interface gets one ETH_P_ALL packet socket whose
 * classic BPF filter keeps only OUTGOING ARP replies and NAs with the Solicited flag, cut to
 * the bytes read here; everything else is dropped in the kernel before any copy.
 * Gratuitous ARPs (requests, or sender IP = target IP) and unsolicited NAs (Solicited
 * clear) are not responses: mlbd's own announcements never count.
 */
#pragma once

#include <systemd/sd-event.h>

#include "addr.h"

/* The address a sent packet answers for (ARP: sender IP; NA: target), or 0 if the packet
 * is not a response (pure; proto is the Ethernet type, host order). */
bool reply_classify(uint16_t proto, const void *buf, size_t len, u128 *ret);

/* One socket per interface, shared by every address counted on it. Counts must be freed
 * before their hub. */
typedef struct ReplyHub ReplyHub;
int reply_hub_new(ReplyHub **ret, sd_event *e, int64_t priority);
ReplyHub *reply_hub_free(ReplyHub *h);
DEFINE_FREEP(ReplyHub, reply_hub_free)
/* Sockets open now (for tests). */
size_t reply_hub_sockets(const ReplyHub *h);

typedef struct ReplyCount ReplyCount;
/* Starts counting responses for addr sent on ifindex. */
int reply_count_new(ReplyCount **ret, ReplyHub *h, int ifindex, u128 addr);
uint64_t reply_count_get(const ReplyCount *c);
ReplyCount *reply_count_free(ReplyCount *c);
DEFINE_FREEP(ReplyCount, reply_count_free)
