/* SPDX-License-Identifier: MIT */
/*
 * ARP packets and the ARP socket; see arp.h. Wire layout (RFC 826):
 *   htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 op(2) sha(6) spa(4) tha(6) tpa(4)
 */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "arp.h"
#include "packet.h"

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = v >> 8;
        p[1] = v;
}
static void put32(uint8_t *p, uint32_t v)
{
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
}
static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t arp_build(uint8_t buf[static ARP_PACKET_LEN], const ArpPacket *p)
{
        put16(buf, ARPHRD_ETHER);
        put16(buf + 2, ETH_P_IP);
        buf[4] = ETH_ALEN;
        buf[5] = 4;
        put16(buf + 6, p->op);
        memcpy(buf + 8, p->sha, ETH_ALEN);
        put32(buf + 14, p->spa);
        memcpy(buf + 18, p->tha, ETH_ALEN);
        put32(buf + 24, p->tpa);
        return ARP_PACKET_LEN;
}

size_t arp_build_probe(uint8_t buf[static ARP_PACKET_LEN], const uint8_t mac[static ETH_ALEN],
                       uint32_t target)
{
        ArpPacket p = {.op = ARP_OP_REQUEST, .spa = 0, .tpa = target};

        memcpy(p.sha, mac, ETH_ALEN);
        return arp_build(buf, &p);
}

size_t arp_build_announce(uint8_t buf[static ARP_PACKET_LEN], const uint8_t mac[static ETH_ALEN],
                          uint32_t addr)
{
        ArpPacket p = {.op = ARP_OP_REQUEST, .spa = addr, .tpa = addr};

        memcpy(p.sha, mac, ETH_ALEN);
        return arp_build(buf, &p);
}

int arp_parse(const void *buf, size_t len, ArpPacket *ret)
{
        const uint8_t *b = buf;
        ArpPacket p = {};

        if (!buf || len < ARP_PACKET_LEN)
                return -EBADMSG;
        if (get16(b) != ARPHRD_ETHER || get16(b + 2) != ETH_P_IP || b[4] != ETH_ALEN || b[5] != 4)
                return -EBADMSG;
        p.op = get16(b + 6);
        if (p.op != ARP_OP_REQUEST && p.op != ARP_OP_REPLY)
                return -EBADMSG;
        memcpy(p.sha, b + 8, ETH_ALEN);
        p.spa = get32(b + 14);
        memcpy(p.tha, b + 18, ETH_ALEN);
        p.tpa = get32(b + 24);
        *ret = p;
        return 0;
}

const char *mac_format(const uint8_t mac[static ETH_ALEN], char buf[static MAC_STR_MAX])
{
        snprintf(buf, MAC_STR_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                 mac[4], mac[5]);
        return buf;
}

bool mac_parse(const char *s, uint8_t ret[static ETH_ALEN])
{
        unsigned v[ETH_ALEN];
        int n = 0;

        if (!s || strlen(s) != 17)
                return false;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &n) !=
                6 ||
            n != 17)
                return false;
        for (int i = 0; i < ETH_ALEN; i++)
                ret[i] = (uint8_t)v[i];
        return true;
}

int arp_socket_open(int ifindex)
{
        /* On a SOCK_DGRAM packet socket the filter sees the ARP payload at offset 0. */
        static const struct sock_filter filter[] = {
            BPF_STMT(BPF_LD + BPF_W + BPF_LEN, 0),
            BPF_JUMP(BPF_JMP + BPF_JGE + BPF_K, ARP_PACKET_LEN, 1, 0), /* long enough? */
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 0), /* htype */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ARPHRD_ETHER, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 2), /* ptype */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ETH_P_IP, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 4), /* hlen, plen */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, (ETH_ALEN << 8) | 4, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 6), /* op */
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ARP_OP_REQUEST, 2, 0),
            BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, ARP_OP_REPLY, 1, 0),
            BPF_STMT(BPF_RET + BPF_K, 0),
            BPF_STMT(BPF_RET + BPF_K, 0xffff),
        };
        const struct sock_fprog fprog = {.len = ELEMENTSOF(filter),
                                         .filter = (struct sock_filter *)filter};
        return packet_socket_open(ifindex, ETH_P_ARP, &fprog);
}

int arp_send(int fd, int ifindex, const uint8_t *buf, size_t len)
{
        static const uint8_t broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        return packet_send(fd, ifindex, ETH_P_ARP, broadcast, buf, len);
}

int arp_recv(int fd, ArpPacket *ret, uint8_t src_mac[ETH_ALEN])
{
        uint8_t buf[256];
        struct sockaddr_ll sll = {};
        socklen_t sl = sizeof(sll);
        ssize_t n;
        int r;

        n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&sll, &sl);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (sll.sll_pkttype == PACKET_OUTGOING)
                return -EAGAIN;
        r = arp_parse(buf, MIN((size_t)n, sizeof(buf)), ret);
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
