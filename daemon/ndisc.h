/* SPDX-License-Identifier: MIT */
/*
 * Neighbour Discovery on the wire (RFC 4861): pure build/parse of complete IPv6 packets
 * carrying a Neighbour Solicitation or Advertisement, and an AF_PACKET socket that sends
 * them with our own IPv6 header and receives only NS/NA (classic BPF filter).
 *
 * Why AF_PACKET and not an ICMPv6 raw socket: the DAD-style probe must come from the
 * unspecified address (RFC 4862 §5.4.2), which a raw socket cannot send, and the address we
 * announce is "nodad" (the kernel sends no NA for it), so we write the whole packet,
 * checksum included, for both. No state machines here (see probe.c, announce-burst.c).
 *
 * Invariants: builders write exactly the stated length; the parser reads only within the
 * given length and applies RFC 4861 §7.1 validity checks (hop limit 255, code 0, checksum,
 * option lengths, target not multicast, §7.1.1/§7.1.2 rules for :: sources and multicast
 * destinations).
 */
#pragma once

#include <net/ethernet.h>
#include <netinet/in.h>
#include <stdint.h>

#include "util/macro.h"

#define ND_TYPE_NS 135
#define ND_TYPE_NA 136
#define ND_NA_FLAG_ROUTER 0x80
#define ND_NA_FLAG_SOLICITED 0x40
#define ND_NA_FLAG_OVERRIDE 0x20
#define ND_OPT_SLLA 1
#define ND_OPT_TLLA 2
#define IPV6_HDR_LEN 40
#define NDISC_NA_LEN (IPV6_HDR_LEN + 24 + 8) /* NA + target link-layer address option */
#define NDISC_NS_DAD_LEN (IPV6_HDR_LEN + 24) /* NS from :: carries no SLLA (RFC 4861 §4.3) */
#define NDISC_HOP_LIMIT 255

typedef struct NdMsg {
        uint8_t type; /* ND_TYPE_NS or ND_TYPE_NA */
        struct in6_addr src, dst, target;
        uint8_t flags;   /* NA: ND_NA_FLAG_*; NS: 0 */
        bool has_lladdr; /* NS: source, NA: target link-layer address option */
        uint8_t lladdr[ETH_ALEN];
} NdMsg;

/* ff02::1:ffXX:XXXX for target (RFC 4291 §2.7.1), and 33:33:xx:xx:xx:xx for a group. */
void ndisc_solicited_node(const struct in6_addr *target, struct in6_addr *ret);
void ndisc_multicast_mac(const struct in6_addr *group, uint8_t ret[static ETH_ALEN]);

/* ICMPv6 checksum (RFC 4443 §2.3) over the pseudo-header and len bytes of ICMPv6 message
 * (whose checksum field must be zero when computing, or the result is 0 if it is valid). */
uint16_t ndisc_checksum(const struct in6_addr *src, const struct in6_addr *dst, const void *icmp,
                        size_t len);

/* Neighbour Advertisement with a target link-layer address option. */
size_t ndisc_build_na(uint8_t buf[static NDISC_NA_LEN], const struct in6_addr *src,
                      const struct in6_addr *dst, const struct in6_addr *target, uint8_t flags,
                      const uint8_t mac[static ETH_ALEN]);
/* Unsolicited NA (RFC 4861 §7.2.6): to ff02::1, Override set, Solicited clear. */
size_t ndisc_build_unsolicited_na(uint8_t buf[static NDISC_NA_LEN], const struct in6_addr *src,
                                  const struct in6_addr *target,
                                  const uint8_t mac[static ETH_ALEN]);
/* DAD-style probe (RFC 4862 §5.4.2): NS from :: to the solicited-node group of target. */
size_t ndisc_build_dad_ns(uint8_t buf[static NDISC_NS_DAD_LEN], const struct in6_addr *target);

/* Parses a whole IPv6 packet. Trailing bytes past the IPv6 payload length are ignored.
 * -EBADMSG on anything malformed or not a valid NS/NA. */
int ndisc_parse(const void *buf, size_t len, NdMsg *ret);

/* AF_PACKET/SOCK_DGRAM, ETH_P_IPV6, bound to ifindex, filtered to NS/NA with hop limit
 * 255, non-blocking. join_group (may be NULL) is an IPv6 multicast group whose Ethernet
 * address the interface accepts while the socket lives (the solicited-node group of the
 * address being probed, so a competing DAD probe reaches us on filtering NICs). */
int ndisc_socket_open(int ifindex, const struct in6_addr *join_group);
/* Sends a packet from the builders; the destination MAC is derived from the multicast IPv6
 * destination (unicast destinations are -EINVAL: we never need neighbour resolution). */
int ndisc_send(int fd, int ifindex, const uint8_t *buf, size_t len);
/* Like arp_recv(): 0, -EAGAIN (nothing, or our own), -EBADMSG, or -errno. */
int ndisc_recv(int fd, NdMsg *ret, uint8_t src_mac[ETH_ALEN]);

/* A link-local address of ifindex (the source for unsolicited NAs), -ENOENT if none. The
 * answer (also "none") is remembered per interface for 1 s: a burst for thousands of
 * addresses asks once, not once per packet. */
int ndisc_link_local(int ifindex, struct in6_addr *ret);
