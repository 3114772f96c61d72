/* SPDX-License-Identifier: MIT */
/*
 * Announcement burst: after an address is added, send `count` gratuitous ARPs (RFC 5227
 * §2.3 announcements) or unsolicited NAs with Override (RFC 4861 §7.2.6), the first at
 * once and then one every interval on sd-event timers, so every host's neighbour cache
 * moves to our MAC. The done callback reports how many went out; a send failure ends the
 * burst early with the error (never the event loop). The callback may free the burst.
 */
#pragma once

#include <systemd/sd-event.h>

#include "addr.h"
#include "arp.h"

typedef struct AnnounceBurst AnnounceBurst;
/* error 0: all count packets sent. */
typedef void (*burst_cb_t)(AnnounceBurst *b, unsigned sent, int error, void *userdata);

/* count >= 1; interval_usec between packets (RFC 5227 §1.1 ANNOUNCE_INTERVAL is 2 s,
 * the daemon uses garp_interval_ms). */
int burst_new(AnnounceBurst **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
              unsigned count, uint64_t interval_usec);
int burst_attach_event(AnnounceBurst *b, sd_event *e, int64_t priority);
/* Sends on fd (from packet_send_socket_open(), borrowed: the caller keeps it open and closes
 * it) instead of a socket of the burst's own. Closing a packet socket costs the kernel an
 * RCU grace period; many bursts share one this way. Before burst_start(). */
void burst_set_socket(AnnounceBurst *b, int fd);
int burst_start(AnnounceBurst *b, burst_cb_t cb, void *userdata);
void burst_stop(AnnounceBurst *b);
bool burst_is_running(const AnnounceBurst *b);
unsigned burst_get_sent(const AnnounceBurst *b);
AnnounceBurst *burst_free(AnnounceBurst *b);
DEFINE_FREEP(AnnounceBurst, burst_free)
