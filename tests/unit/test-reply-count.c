/* SPDX-License-Identifier: MIT */
/*
 * What the reply count takes for a response the host sent (reply_classify): ARP replies
 * and solicited NAs for an address, never gratuitous ARPs (requests, or replies with
 * sender IP = target IP) nor unsolicited NAs; built with arp.c and ndisc.c's builders.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <string.h>

#include "arp.h"
#include "ndisc.h"
#include "reply-count.h"
#include "tap.h"

static const uint8_t mac_a[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x01};
static const uint8_t mac_b[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x02};
#define IP_150 0xc0000296U /* 192.0.2.150 */
#define IP_10 0xc000020aU  /* 192.0.2.10 */

static void test_arp(void)
{
        uint8_t buf[ARP_PACKET_LEN];
        ArpPacket p = {.op = ARP_OP_REPLY, .spa = IP_150, .tpa = IP_10};
        u128 a = 0;

        memcpy(p.sha, mac_a, ETH_ALEN);
        memcpy(p.tha, mac_b, ETH_ALEN);
        arp_build(buf, &p);
        ok(reply_classify(ETH_P_ARP, buf, sizeof(buf), &a), "ARP reply is a response");
        ok(a == addr_from_v4(IP_150), "for its sender IP");
        ok(!reply_classify(ETH_P_ARP, buf, sizeof(buf) - 1, &a), "a short one is not");
        ok(!reply_classify(ETH_P_IPV6, buf, sizeof(buf), &a), "nor as IPv6");
        p.tpa = IP_150;
        arp_build(buf, &p);
        ok(!reply_classify(ETH_P_ARP, buf, sizeof(buf), &a), "gratuitous reply (spa = tpa) is not");
        arp_build_announce(buf, mac_a, IP_150);
        ok(!reply_classify(ETH_P_ARP, buf, sizeof(buf), &a), "ARP announcement is not");
        arp_build_probe(buf, mac_a, IP_150);
        ok(!reply_classify(ETH_P_ARP, buf, sizeof(buf), &a), "ARP probe is not");
}

static void test_na(void)
{
        uint8_t buf[NDISC_NA_LEN];
        struct in6_addr t, src, dst;
        u128 a = 0;

        inet_pton(AF_INET6, "2001:db8::150", &t);
        inet_pton(AF_INET6, "2001:db8::150", &src);
        inet_pton(AF_INET6, "2001:db8::10", &dst);
        ndisc_build_na(buf, &src, &dst, &t, ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE, mac_a);
        ok(reply_classify(ETH_P_IPV6, buf, sizeof(buf), &a), "solicited NA is a response");
        ok(a == addr_from_in6(&t), "for its target");
        ok(reply_classify(ETH_P_IPV6, buf, IPV6_HDR_LEN + 24, &a), "cut to 64 bytes too");
        ok(!reply_classify(ETH_P_IPV6, buf, IPV6_HDR_LEN + 23, &a), "shorter is not");
        ok(!reply_classify(ETH_P_ARP, buf, sizeof(buf), &a), "nor as ARP");
        ndisc_build_unsolicited_na(buf, &src, &t, mac_a);
        ok(!reply_classify(ETH_P_IPV6, buf, sizeof(buf), &a), "unsolicited NA is not");
        ndisc_build_na(buf, &src, &dst, &t, ND_NA_FLAG_OVERRIDE, mac_a);
        ok(!reply_classify(ETH_P_IPV6, buf, sizeof(buf), &a), "NA without Solicited is not");
        ndisc_build_dad_ns(buf, &t);
        ok(!reply_classify(ETH_P_IPV6, buf, NDISC_NS_DAD_LEN, &a), "NS is not");
        ndisc_build_na(buf, &src, &dst, &t, ND_NA_FLAG_SOLICITED, mac_a);
        buf[6] = 0; /* hop-by-hop options header first: not read past */
        ok(!reply_classify(ETH_P_IPV6, buf, sizeof(buf), &a), "an extension header is not read");
}

int main(void)
{
        test_arp();
        test_na();
        return tap_done();
}
