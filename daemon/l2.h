/* SPDX-License-Identifier: MIT */
/*
 * One face for ARP (IPv4) and Neighbour Discovery (IPv6), so the probe engine, the
 * announcement burst and the claim watch have a single code path for both families:
 * open the right socket for an address, send a probe or an announcement, and classify a
 * received packet as a claim on the address by another host.
 *
 * Classification (pure, unit-tested) follows RFC 5227 §2.1.1 and its IPv6 analogue
 * (RFC 4862 §5.4.3/§5.4.4): a packet claims USE of the address when it asserts a binding
 * (ARP with sender IP = address; NA for target = address), and PROBE when another host is
 * probing for it (ARP probe with target IP = address; NS from :: for target = address).
 * Packets whose hardware address is ours are never claims.
 */
#pragma once

#include "addr.h"
#include "arp.h"
#include "ndisc.h"

typedef enum L2Claim {
        L2_CLAIM_NONE = 0,
        L2_CLAIM_PROBE = 1,
        L2_CLAIM_USE = 2,
} L2Claim;

const char *l2_claim_to_string(L2Claim c);

/* ret_mac gets the claimant's MAC (ARP: sender hardware address; ND: the link-layer
 * address option, else the Ethernet source). */
L2Claim l2_classify_arp(const ArpPacket *p, uint32_t addr, const uint8_t our_mac[static ETH_ALEN],
                        uint8_t ret_mac[static ETH_ALEN]);
L2Claim l2_classify_nd(const NdMsg *m, const uint8_t eth_src[static ETH_ALEN],
                       const struct in6_addr *addr, const uint8_t our_mac[static ETH_ALEN],
                       uint8_t ret_mac[static ETH_ALEN]);

/* ARP socket for IPv4; NS/NA socket joined to the solicited-node group for IPv6. */
int l2_socket_open(u128 addr, int ifindex);
/* ARP probe, or NS from :: to the solicited-node group. */
int l2_send_probe(int fd, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr);
/* ARP announcement, or unsolicited NA (Override) to ff02::1 from a link-local address of
 * the interface (or from addr itself when the interface has none yet). */
int l2_send_announce(int fd, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr);
/* Reads one packet: an L2Claim (>= 0), -EAGAIN when the queue is empty, -EBADMSG for a
 * malformed packet (the caller skips it), other -errno on socket failure. */
int l2_recv_claim(int fd, u128 addr, const uint8_t our_mac[static ETH_ALEN],
                  uint8_t ret_mac[static ETH_ALEN]);
