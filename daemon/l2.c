/* SPDX-License-Identifier: MIT */
/* ARP/ND behind one interface; see l2.h. */
#include <string.h>

#include "l2.h"

const char *l2_claim_to_string(L2Claim c)
{
        switch (c) {
        case L2_CLAIM_NONE:
                return "none";
        case L2_CLAIM_PROBE:
                return "probe";
        case L2_CLAIM_USE:
                return "use";
        }
        return NULL;
}

L2Claim l2_classify_arp(const ArpPacket *p, uint32_t addr, const uint8_t our_mac[static ETH_ALEN],
                        uint8_t ret_mac[static ETH_ALEN])
{
        L2Claim c = L2_CLAIM_NONE;

        if (memcmp(p->sha, our_mac, ETH_ALEN) == 0 || addr == 0)
                return L2_CLAIM_NONE;
        /* RFC 5227 §2.1.1: any ARP (request or reply) whose sender IP is the address... */
        if (p->spa == addr)
                c = L2_CLAIM_USE;
        /* ...or an ARP Probe for it from another hardware address. */
        else if (arp_is_probe(p) && p->tpa == addr)
                c = L2_CLAIM_PROBE;
        if (c != L2_CLAIM_NONE)
                memcpy(ret_mac, p->sha, ETH_ALEN);
        return c;
}

L2Claim l2_classify_nd(const NdMsg *m, const uint8_t eth_src[static ETH_ALEN],
                       const struct in6_addr *addr, const uint8_t our_mac[static ETH_ALEN],
                       uint8_t ret_mac[static ETH_ALEN])
{
        const uint8_t *mac = m->has_lladdr ? m->lladdr : eth_src;
        L2Claim c = L2_CLAIM_NONE;

        if (memcmp(&m->target, addr, sizeof(*addr)) != 0)
                return L2_CLAIM_NONE;
        if (memcmp(mac, our_mac, ETH_ALEN) == 0 || memcmp(eth_src, our_mac, ETH_ALEN) == 0)
                return L2_CLAIM_NONE;
        /* RFC 4862 §5.4.4: an NA for the target means it is in use. */
        if (m->type == ND_TYPE_NA)
                c = L2_CLAIM_USE;
        /* RFC 4862 §5.4.3: an NS from :: for the target is another host's DAD. An NS from
         * a unicast source is ordinary address resolution, not a claim. */
        else if (m->type == ND_TYPE_NS && IN6_IS_ADDR_UNSPECIFIED(&m->src))
                c = L2_CLAIM_PROBE;
        if (c != L2_CLAIM_NONE)
                memcpy(ret_mac, mac, ETH_ALEN);
        return c;
}

int l2_socket_open(u128 addr, int ifindex)
{
        struct in6_addr a, group;

        if (addr_is_v4(addr))
                return arp_socket_open(ifindex);
        addr_to_in6(addr, &a);
        ndisc_solicited_node(&a, &group);
        return ndisc_socket_open(ifindex, &group);
}

int l2_send_probe(int fd, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr)
{
        if (addr_is_v4(addr)) {
                uint8_t buf[ARP_PACKET_LEN];

                return arp_send(fd, ifindex, buf, arp_build_probe(buf, mac, addr_to_v4(addr)));
        } else {
                uint8_t buf[NDISC_NS_DAD_LEN];
                struct in6_addr a;

                addr_to_in6(addr, &a);
                return ndisc_send(fd, ifindex, buf, ndisc_build_dad_ns(buf, &a));
        }
}

int l2_send_announce(int fd, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr)
{
        if (addr_is_v4(addr)) {
                uint8_t buf[ARP_PACKET_LEN];

                return arp_send(fd, ifindex, buf, arp_build_announce(buf, mac, addr_to_v4(addr)));
        } else {
                uint8_t buf[NDISC_NA_LEN];
                struct in6_addr a, src;

                addr_to_in6(addr, &a);
                if (ndisc_link_local(ifindex, &src) < 0)
                        src = a; /* RFC 4861 §7.2.4 allows any address of the interface */
                return ndisc_send(fd, ifindex, buf, ndisc_build_unsolicited_na(buf, &src, &a, mac));
        }
}

int l2_recv_claim(int fd, u128 addr, const uint8_t our_mac[static ETH_ALEN],
                  uint8_t ret_mac[static ETH_ALEN])
{
        uint8_t eth_src[ETH_ALEN];
        int r;

        if (addr_is_v4(addr)) {
                ArpPacket p;

                r = arp_recv(fd, &p, eth_src);
                if (r < 0)
                        return r;
                return l2_classify_arp(&p, addr_to_v4(addr), our_mac, ret_mac);
        } else {
                struct in6_addr a;
                NdMsg m;

                r = ndisc_recv(fd, &m, eth_src);
                if (r < 0)
                        return r;
                addr_to_in6(addr, &a);
                return l2_classify_nd(&m, eth_src, &a, our_mac, ret_mac);
        }
}
