/* SPDX-License-Identifier: MIT */
/*
 * Neighbour Discovery packets and socket; see ndisc.h. Layout of what we build:
 *   IPv6 header (40) | type code cksum (4) | flags+reserved (4) | target (16) | [option (8)]
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ndisc.h"
#include "packet.h"

static const struct in6_addr all_nodes = {.s6_addr = {0xff, 0x02, [15] = 0x01}};

void ndisc_solicited_node(const struct in6_addr *target, struct in6_addr *ret)
{
        struct in6_addr a = {.s6_addr = {0xff, 0x02, [11] = 0x01, [12] = 0xff}};

        memcpy(a.s6_addr + 13, target->s6_addr + 13, 3);
        *ret = a;
}

void ndisc_multicast_mac(const struct in6_addr *group, uint8_t ret[static ETH_ALEN])
{
        ret[0] = 0x33;
        ret[1] = 0x33;
        memcpy(ret + 2, group->s6_addr + 12, 4);
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
        for (; len >= 2; p += 2, len -= 2)
                sum += (uint32_t)(p[0] << 8 | p[1]);
        if (len)
                sum += (uint32_t)(p[0] << 8);
        return sum;
}

uint16_t ndisc_checksum(const struct in6_addr *src, const struct in6_addr *dst, const void *icmp,
                        size_t len)
{
        uint8_t tail[8] = {
            (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, 0, 0, 0,
            IPPROTO_ICMPV6};
        uint32_t sum = 0;

        sum = sum16(sum, src->s6_addr, 16);
        sum = sum16(sum, dst->s6_addr, 16);
        sum = sum16(sum, tail, sizeof(tail));
        sum = sum16(sum, icmp, len);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

static void put_ipv6_header(uint8_t *b, const struct in6_addr *src, const struct in6_addr *dst,
                            uint16_t payload_len)
{
        memset(b, 0, IPV6_HDR_LEN);
        b[0] = 0x60; /* version 6, traffic class 0, flow label 0 */
        b[4] = payload_len >> 8;
        b[5] = (uint8_t)payload_len;
        b[6] = IPPROTO_ICMPV6;
        b[7] = NDISC_HOP_LIMIT; /* RFC 4861 §7.1: receivers drop anything else */
        memcpy(b + 8, src, 16);
        memcpy(b + 24, dst, 16);
}

static void finish_icmp(uint8_t *b, size_t icmp_len)
{
        struct in6_addr src, dst;
        uint16_t c;

        memcpy(&src, b + 8, 16);
        memcpy(&dst, b + 24, 16);
        b[IPV6_HDR_LEN + 2] = b[IPV6_HDR_LEN + 3] = 0;
        c = ndisc_checksum(&src, &dst, b + IPV6_HDR_LEN, icmp_len);
        b[IPV6_HDR_LEN + 2] = c >> 8;
        b[IPV6_HDR_LEN + 3] = (uint8_t)c;
}

size_t ndisc_build_na(uint8_t buf[static NDISC_NA_LEN], const struct in6_addr *src,
                      const struct in6_addr *dst, const struct in6_addr *target, uint8_t flags,
                      const uint8_t mac[static ETH_ALEN])
{
        uint8_t *icmp = buf + IPV6_HDR_LEN;

        put_ipv6_header(buf, src, dst, NDISC_NA_LEN - IPV6_HDR_LEN);
        memset(icmp, 0, NDISC_NA_LEN - IPV6_HDR_LEN);
        icmp[0] = ND_TYPE_NA;
        icmp[4] = flags & (ND_NA_FLAG_ROUTER | ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE);
        memcpy(icmp + 8, target, 16);
        icmp[24] = ND_OPT_TLLA;
        icmp[25] = 1; /* option length in units of 8 bytes */
        memcpy(icmp + 26, mac, ETH_ALEN);
        finish_icmp(buf, NDISC_NA_LEN - IPV6_HDR_LEN);
        return NDISC_NA_LEN;
}

size_t ndisc_build_unsolicited_na(uint8_t buf[static NDISC_NA_LEN], const struct in6_addr *src,
                                  const struct in6_addr *target, const uint8_t mac[static ETH_ALEN])
{
        /* RFC 4861 §7.2.6: Override set so caches update, Solicited clear (no NS asked). */
        return ndisc_build_na(buf, src, &all_nodes, target, ND_NA_FLAG_OVERRIDE, mac);
}

size_t ndisc_build_dad_ns(uint8_t buf[static NDISC_NS_DAD_LEN], const struct in6_addr *target)
{
        uint8_t *icmp = buf + IPV6_HDR_LEN;
        struct in6_addr dst;

        ndisc_solicited_node(target, &dst);
        put_ipv6_header(buf, &in6addr_any, &dst, NDISC_NS_DAD_LEN - IPV6_HDR_LEN);
        memset(icmp, 0, NDISC_NS_DAD_LEN - IPV6_HDR_LEN);
        icmp[0] = ND_TYPE_NS;
        memcpy(icmp + 8, target, 16);
        finish_icmp(buf, NDISC_NS_DAD_LEN - IPV6_HDR_LEN);
        return NDISC_NS_DAD_LEN;
}

static bool is_solicited_node_of(const struct in6_addr *group, const struct in6_addr *target)
{
        struct in6_addr want;

        ndisc_solicited_node(target, &want);
        return memcmp(group, &want, sizeof(want)) == 0;
}

int ndisc_parse(const void *buf, size_t len, NdMsg *ret)
{
        const uint8_t *b = buf, *icmp, *opt;
        size_t plen, olen;
        NdMsg m = {};

        if (!buf || len < IPV6_HDR_LEN + 24)
                return -EBADMSG;
        if ((b[0] >> 4) != 6 || b[6] != IPPROTO_ICMPV6 || b[7] != NDISC_HOP_LIMIT)
                return -EBADMSG;
        plen = (size_t)(b[4] << 8 | b[5]);
        if (plen < 24 || plen > len - IPV6_HDR_LEN)
                return -EBADMSG;
        memcpy(&m.src, b + 8, 16);
        memcpy(&m.dst, b + 24, 16);
        icmp = b + IPV6_HDR_LEN;
        if ((icmp[0] != ND_TYPE_NS && icmp[0] != ND_TYPE_NA) || icmp[1] != 0)
                return -EBADMSG;
        if (ndisc_checksum(&m.src, &m.dst, icmp, plen) != 0)
                return -EBADMSG;
        m.type = icmp[0];
        m.flags = m.type == ND_TYPE_NA ? icmp[4] & 0xe0 : 0;
        memcpy(&m.target, icmp + 8, 16);
        if (IN6_IS_ADDR_MULTICAST(&m.target) || IN6_IS_ADDR_MULTICAST(&m.src))
                return -EBADMSG;

        /* Options: type, length in 8-byte units (never 0), all within the payload. */
        opt = icmp + 24;
        olen = plen - 24;
        while (olen > 0) {
                size_t l;

                if (olen < 2 || opt[1] == 0)
                        return -EBADMSG;
                l = (size_t)opt[1] * 8;
                if (l > olen)
                        return -EBADMSG;
                if ((m.type == ND_TYPE_NS && opt[0] == ND_OPT_SLLA) ||
                    (m.type == ND_TYPE_NA && opt[0] == ND_OPT_TLLA)) {
                        if (l != 8) /* Ethernet: exactly one unit (RFC 2464 §6) */
                                return -EBADMSG;
                        m.has_lladdr = true;
                        memcpy(m.lladdr, opt + 2, ETH_ALEN);
                }
                opt += l;
                olen -= l;
        }

        if (m.type == ND_TYPE_NS && IN6_IS_ADDR_UNSPECIFIED(&m.src)) {
                /* RFC 4861 §7.1.1: from ::, to a solicited-node group, no SLLA. */
                if (!is_solicited_node_of(&m.dst, &m.target) || m.has_lladdr)
                        return -EBADMSG;
        }
        if (m.type == ND_TYPE_NA && IN6_IS_ADDR_UNSPECIFIED(&m.src))
                return -EBADMSG;
        /* RFC 4861 §7.1.2: a multicast NA must not have the Solicited flag. */
        if (m.type == ND_TYPE_NA && IN6_IS_ADDR_MULTICAST(&m.dst) &&
            (m.flags & ND_NA_FLAG_SOLICITED))
                return -EBADMSG;
        *ret = m;
        return 0;
}

int ndisc_socket_open(int ifindex, const struct in6_addr *join_group)
{
        /* SOCK_DGRAM: the filter sees the IPv6 header at offset 0. No extension headers:
         * RFC 4861 packets we care about carry none. */
        static const struct sock_filter filter[] = {
            BPF_STMT(BPF_LD + BPF_W + BPF_LEN, 0),
            BPF_JUMP(BPF_JMP + BPF_JGE + BPF_K, IPV6_HDR_LEN + 24, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_B + BPF_ABS, 6), /* next header */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, IPPROTO_ICMPV6, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_B + BPF_ABS, 7), /* hop limit */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, NDISC_HOP_LIMIT, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_B + BPF_ABS, IPV6_HDR_LEN), /* ICMPv6 type */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ND_TYPE_NS, 2, 0),
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ND_TYPE_NA, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_RET + BPF_K, 0xffff),
        };
        const struct sock_fprog fprog = {.len = ELEMENTSOF(filter),
                                         .filter = (struct sock_filter *)filter};
        _cleanup_close_ int fd = packet_socket_open(ifindex, ETH_P_IPV6, &fprog);

        if (fd < 0)
                return fd;
        if (join_group) {
                struct packet_mreq mr = {
                    .mr_ifindex = ifindex,
                    .mr_type = PACKET_MR_MULTICAST,
                    .mr_alen = ETH_ALEN,
                };

                if (!IN6_IS_ADDR_MULTICAST(join_group))
                        return -EINVAL;
                ndisc_multicast_mac(join_group, mr.mr_address);
                if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
                        return -errno;
        }
        return TAKE_FD(fd);
}

int ndisc_send(int fd, int ifindex, const uint8_t *buf, size_t len)
{
        uint8_t dst_mac[ETH_ALEN];
        struct in6_addr dst;

        if (len < IPV6_HDR_LEN)
                return -EINVAL;
        memcpy(&dst, buf + 24, 16);
        if (!IN6_IS_ADDR_MULTICAST(&dst))
                return -EINVAL;
        ndisc_multicast_mac(&dst, dst_mac);
        return packet_send(fd, ifindex, ETH_P_IPV6, dst_mac, buf, len);
}

int ndisc_recv(int fd, NdMsg *ret, uint8_t src_mac[ETH_ALEN])
{
        uint8_t buf[1500];
        struct sockaddr_ll sll = {};
        socklen_t sl = sizeof(sll);
        ssize_t n;
        int r;

        n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&sll, &sl);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (sll.sll_pkttype == PACKET_OUTGOING)
                return -EAGAIN;
        if ((size_t)n > sizeof(buf))
                return -EBADMSG; /* larger than any NS/NA on Ethernet */
        r = ndisc_parse(buf, (size_t)n, ret);
        if (r < 0)
                return r;
        if (src_mac) {
                if (sll.sll_halen == ETH_ALEN)
                        memcpy(src_mac, sll.sll_addr, ETH_ALEN);
                else
                        memset(src_mac, 0, ETH_ALEN);
        }
        return 0;
}

/* getifaddrs() dumps every address of the host: once per announcement that was
 * O(addresses) each, O(N^2) for a takeover of N addresses (with 7,000 addresses on the
 * interface most of a first reconcile). The answer is kept per interface for a second;
 * a link-local address that changes meanwhile only makes the source of a few NAs stale,
 * and RFC 4861 §7.2.4 allows any address of the interface there. */
#define LINK_LOCAL_CACHE_USEC (1000 * 1000ULL)
#define LINK_LOCAL_CACHE_SLOTS 8

typedef struct LinkLocalSlot {
        int ifindex; /* 0: empty */
        int r;
        struct in6_addr addr;
        uint64_t until;
} LinkLocalSlot;

static LinkLocalSlot link_local_cache[LINK_LOCAL_CACHE_SLOTS];

static uint64_t monotonic_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static int link_local_lookup(int ifindex, struct in6_addr *ret)
{
        struct ifaddrs *ifa_list = NULL;
        int r = -ENOENT;

        if (getifaddrs(&ifa_list) < 0)
                return -errno;
        for (struct ifaddrs *i = ifa_list; i; i = i->ifa_next) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)i->ifa_addr;

                if (!sin6 || sin6->sin6_family != AF_INET6 ||
                    !IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
                        continue;
                if ((int)sin6->sin6_scope_id != ifindex)
                        continue;
                *ret = sin6->sin6_addr;
                r = 0;
                break;
        }
        freeifaddrs(ifa_list);
        return r;
}

int ndisc_link_local(int ifindex, struct in6_addr *ret)
{
        uint64_t now = monotonic_usec();
        LinkLocalSlot *slot = &link_local_cache[0];
        struct in6_addr a = {};
        int r;

        for (size_t i = 0; i < LINK_LOCAL_CACHE_SLOTS; i++) {
                LinkLocalSlot *s = &link_local_cache[i];
                if (s->ifindex == ifindex && now < s->until) {
                        if (s->r == 0)
                                *ret = s->addr;
                        return s->r;
                }
                if (s->ifindex == 0 || s->until < slot->until)
                        slot = s; /* an empty or the oldest slot is reused */
        }
        r = link_local_lookup(ifindex, &a);
        if (r < 0 && r != -ENOENT)
                return r; /* a failed dump is not remembered */
        *slot = (LinkLocalSlot){ifindex, r, a, now + LINK_LOCAL_CACHE_USEC};
        if (r == 0)
                *ret = a;
        return r;
}
