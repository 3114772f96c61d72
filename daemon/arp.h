/* SPDX-License-Identifier: MIT */
/*
 * ARP on the wire: pure build/parse of Ethernet/IPv4 ARP payloads (RFC 826, RFC 5227
 * probes and announcements) and an AF_PACKET socket bound to one interface with a classic
 * BPF filter, so userspace only wakes for well-formed Ethernet/IPv4 requests and replies.
 * No state machines here: the probe engine (probe.c) and the announcer (announce-burst.c,
 * claim-watch.c) use these.
 *
 * Invariants: build functions write exactly ARP_PACKET_LEN bytes and never fail; the
 * parser reads only within the given length and refuses anything that is not an
 * Ethernet/IPv4 request or reply. IPv4 addresses are host-order uint32_t here.
 */
#pragma once

#include <stdint.h>
#include <net/ethernet.h>
#include <sys/types.h>

#include "util/macro.h"

#define ARP_PACKET_LEN 28 /* 8-byte header + 2 × (6-byte MAC + 4-byte IPv4) */
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define MAC_STR_MAX 18

typedef struct ArpPacket {
        uint16_t op; /* ARP_OP_REQUEST or ARP_OP_REPLY */
        uint8_t sha[ETH_ALEN];
        uint32_t spa; /* host order */
        uint8_t tha[ETH_ALEN];
        uint32_t tpa; /* host order */
} ArpPacket;

/* RFC 5227 §2.1.1: request, sender IP 0.0.0.0, target hardware 0, target IP = probed. */
size_t arp_build_probe(uint8_t buf[static ARP_PACKET_LEN], const uint8_t mac[static ETH_ALEN],
                       uint32_t target);
/* RFC 5227 §2.3 ARP Announcement: request with sender IP = target IP = address, target
 * hardware 0; sent to the broadcast MAC. */
size_t arp_build_announce(uint8_t buf[static ARP_PACKET_LEN], const uint8_t mac[static ETH_ALEN],
                          uint32_t addr);
size_t arp_build(uint8_t buf[static ARP_PACKET_LEN], const ArpPacket *p);

/* Parses an ARP payload (no Ethernet header). Trailing bytes (Ethernet padding) are
 * ignored. -EBADMSG if shorter than 28 bytes, not Ethernet/IPv4 (htype 1, ptype 0x0800,
 * hlen 6, plen 4) or neither request nor reply. */
int arp_parse(const void *buf, size_t len, ArpPacket *ret);

/* RFC 5227 §1.1: probe from 0.0.0.0; announcement has spa == tpa. */
static inline bool arp_is_probe(const ArpPacket *p)
{
        return p->op == ARP_OP_REQUEST && p->spa == 0;
}

const char *mac_format(const uint8_t mac[static ETH_ALEN], char buf[static MAC_STR_MAX]);
bool mac_parse(const char *s, uint8_t ret[static ETH_ALEN]);
static inline bool mac_is_zero(const uint8_t m[static ETH_ALEN])
{
        return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

/* AF_PACKET/SOCK_DGRAM socket for ETH_P_ARP bound to ifindex, with the BPF filter above,
 * non-blocking and close-on-exec. Returns the fd or -errno. */
int arp_socket_open(int ifindex);
/* Sends an ARP payload to the Ethernet broadcast address out of ifindex. */
int arp_send(int fd, int ifindex, const uint8_t *buf, size_t len);
/* Receives one datagram and parses it. Returns 0 and fills *ret (and the Ethernet source
 * in src_mac if non-NULL), -EAGAIN when nothing is queued, -EBADMSG for a packet that
 * failed parsing, other -errno on socket errors. Packets we sent ourselves are -EAGAIN
 * (skipped). */
int arp_recv(int fd, ArpPacket *ret, uint8_t src_mac[ETH_ALEN]);
