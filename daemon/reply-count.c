/* SPDX-License-Identifier: MIT */
/* Responses the kernel sends for announced addresses; see reply-count.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/socket.h>

#include "arp.h"
#include "ndisc.h"
#include "packet.h"
#include "reply-count.h"
#include "util/log.h"

/* Bytes the filter keeps and reply_classify() reads: the ARP payload, or the IPv6 header
 * and the NA up to the end of its target. */
#define SNAP_ARP ARP_PACKET_LEN
#define SNAP_NA (IPV6_HDR_LEN + 24)
/* Packets read per wakeup: a burst of replies cannot starve the loop (the rest waits for
 * the next iteration; epoll is level-triggered). */
#define READS_PER_WAKEUP 64

typedef struct Listener {
        ReplyHub *hub;
        int ifindex;
        int fd;
        sd_event_source *io;
        ReplyCount **counts;
        size_t n, cap;
} Listener;

struct ReplyHub {
        sd_event *event;
        int64_t priority;
        Listener **listeners;
        size_t n, cap;
};

struct ReplyCount {
        u128 addr;
        Listener *listener;
        uint64_t count;
};

bool reply_classify(uint16_t proto, const void *buf, size_t len, u128 *ret)
{
        const uint8_t *b = buf;

        if (!buf)
                return false;
        if (proto == ETH_P_ARP) {
                ArpPacket p;

                /* a gratuitous ARP reply has sender IP = target IP: an announcement */
                if (arp_parse(buf, len, &p) < 0 || p.op != ARP_OP_REPLY || p.spa == p.tpa ||
                    p.spa == 0)
                        return false;
                *ret = addr_from_v4(p.spa);
                return true;
        }
        if (proto == ETH_P_IPV6) {
                struct in6_addr t;

                if (len < SNAP_NA || b[0] >> 4 != 6 || b[6] != IPPROTO_ICMPV6 ||
                    b[7] != NDISC_HOP_LIMIT || b[IPV6_HDR_LEN] != ND_TYPE_NA ||
                    b[IPV6_HDR_LEN + 1] != 0 || !(b[IPV6_HDR_LEN + 4] & ND_NA_FLAG_SOLICITED))
                        return false;
                memcpy(&t, b + IPV6_HDR_LEN + 8, sizeof(t));
                if (IN6_IS_ADDR_MULTICAST(&t) || IN6_IS_ADDR_UNSPECIFIED(&t))
                        return false;
                *ret = addr_from_in6(&t);
                return true;
        }
        return false;
}

/* Instruction numbers the jumps below go to (offsets are relative to the next one). */
#define L_V6 19
#define L_DROP 31
#define JF(i, k, to) BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, (k), 0, (to) - (i)-1)

static int reply_socket_open(int ifindex)
{
        /* SOCK_DGRAM: the filter sees the network header at offset 0, outgoing packets
         * included; the Ethernet type is the skb's protocol. */
        static const struct sock_filter filter[] = {
            /* 0 */ BPF_STMT(BPF_LD + BPF_W + BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
            /* 1 */ JF(1, PACKET_OUTGOING, L_DROP),
            /* 2 */ BPF_STMT(BPF_LD + BPF_W + BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
            /* 3 */ JF(3, ETH_P_ARP, L_V6),
            /* 4 */ BPF_STMT(BPF_LD + BPF_W + BPF_LEN, 0),
            /* 5 */ BPF_JUMP(BPF_JMP + BPF_JGE + BPF_K, SNAP_ARP, 0, L_DROP - 6),
            /* 6 */ BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 0), /* htype */
            /* 7 */ JF(7, ARPHRD_ETHER, L_DROP),
            /* 8 */ BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 2), /* ptype */
            /* 9 */ JF(9, ETH_P_IP, L_DROP),
            /* 10 */ BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 4), /* hlen, plen */
            /* 11 */ JF(11, (ETH_ALEN << 8) | 4, L_DROP),
            /* 12 */ BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 6), /* op */
            /* 13 */ JF(13, ARP_OP_REPLY, L_DROP),
            /* 14 */ BPF_STMT(BPF_LD + BPF_W + BPF_ABS, 14), /* sender IP */
            /* 15 */ BPF_STMT(BPF_MISC + BPF_TAX, 0),
            /* 16 */ BPF_STMT(BPF_LD + BPF_W + BPF_ABS, 24),                 /* target IP */
            /* 17 */ BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_X, 0, L_DROP - 18, 0), /* gratuitous */
            /* 18 */ BPF_STMT(BPF_RET + BPF_K, SNAP_ARP),
            /* 19 L_V6 (A: the protocol) */ JF(19, ETH_P_IPV6, L_DROP),
            /* 20 */ BPF_STMT(BPF_LD + BPF_W + BPF_LEN, 0),
            /* 21 */ BPF_JUMP(BPF_JMP + BPF_JGE + BPF_K, SNAP_NA, 0, L_DROP - 22),
            /* 22 */ BPF_STMT(BPF_LD + BPF_B + BPF_ABS, 6), /* next header: no extensions */
            /* 23 */ JF(23, IPPROTO_ICMPV6, L_DROP),
            /* 24 */ BPF_STMT(BPF_LD + BPF_B + BPF_ABS, 7), /* hop limit */
            /* 25 */ JF(25, NDISC_HOP_LIMIT, L_DROP),
            /* 26 */ BPF_STMT(BPF_LD + BPF_B + BPF_ABS, IPV6_HDR_LEN), /* ICMPv6 type */
            /* 27 */ JF(27, ND_TYPE_NA, L_DROP),
            /* 28 */ BPF_STMT(BPF_LD + BPF_B + BPF_ABS, IPV6_HDR_LEN + 4), /* NA flags */
            /* 29 */ BPF_JUMP(BPF_JMP + BPF_JSET + BPF_K, ND_NA_FLAG_SOLICITED, 0, L_DROP - 30),
            /* 30 */ BPF_STMT(BPF_RET + BPF_K, SNAP_NA),
            /* 31 L_DROP */ BPF_STMT(BPF_RET + BPF_K, 0),
        };
        const struct sock_fprog fprog = {.len = ELEMENTSOF(filter),
                                         .filter = (struct sock_filter *)filter};
        _Static_assert(ELEMENTSOF(filter) == L_DROP + 1, "jump targets");
        /* packet_socket_open() attaches the filter before binding: nothing unfiltered is
         * ever queued. */
        return packet_socket_open(ifindex, ETH_P_ALL, &fprog);
}

/* Reads one packet and counts it: 0, -EAGAIN when the queue is empty, or -errno. */
static int listener_read(Listener *l)
{
        uint8_t buf[SNAP_NA];
        struct sockaddr_ll sll = {};
        socklen_t sl = sizeof(sll);
        ssize_t n;
        u128 addr;

        n = recvfrom(l->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&sll, &sl);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (sll.sll_pkttype != PACKET_OUTGOING ||
            !reply_classify(ntohs(sll.sll_protocol), buf, MIN((size_t)n, sizeof(buf)), &addr))
                return 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->counts[i]->addr == addr) {
                        l->counts[i]->count++;
                        break;
                }
        return 0;
}

static int listener_io_fn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Listener *l = userdata;

        for (int i = 0; i < READS_PER_WAKEUP; i++) {
                int r = listener_read(l);
                if (r == -EAGAIN)
                        return 0;
                if (r == -ENETDOWN || r == -ENOBUFS)
                        continue;
                if (r < 0) {
                        log_warning_errno(r, "reply count on interface %d: %m; stopped",
                                          l->ifindex);
                        l->io = sd_event_source_disable_unref(l->io);
                        return 0;
                }
        }
        return 0;
}

static void listener_free(Listener *l)
{
        if (!l)
                return;
        l->io = sd_event_source_disable_unref(l->io);
        packet_socket_close(l->fd);
        l->fd = -EBADF;
        free(l->counts);
        free(l);
}

static void hub_drop_listener(ReplyHub *h, Listener *l)
{
        for (size_t i = 0; i < h->n; i++)
                if (h->listeners[i] == l) {
                        h->listeners[i] = h->listeners[--h->n];
                        break;
                }
        listener_free(l);
}

static int hub_listener(ReplyHub *h, int ifindex, Listener **ret)
{
        Listener *l;
        int r;

        for (size_t i = 0; i < h->n; i++)
                if (h->listeners[i]->ifindex == ifindex) {
                        *ret = h->listeners[i];
                        return 0;
                }
        if (GROW(h->listeners, h->cap, h->n + 1) < 0)
                return -ENOMEM;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->hub = h;
        l->ifindex = ifindex;
        l->fd = reply_socket_open(ifindex);
        if (l->fd < 0) {
                r = l->fd;
                l->fd = -EBADF;
                listener_free(l);
                return r;
        }
        r = sd_event_add_io(h->event, &l->io, l->fd, EPOLLIN, listener_io_fn, l);
        if (r >= 0)
                r = sd_event_source_set_priority(l->io, h->priority);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        h->listeners[h->n++] = l;
        *ret = l;
        return 0;
}

int reply_hub_new(ReplyHub **ret, sd_event *e, int64_t priority)
{
        ReplyHub *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(e);
        h->priority = priority;
        *ret = h;
        return 0;
}

ReplyHub *reply_hub_free(ReplyHub *h)
{
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++) {
                Listener *l = h->listeners[i];
                for (size_t k = 0; k < l->n; k++)
                        l->counts[k]->listener = NULL;
                listener_free(l);
        }
        free(h->listeners);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

size_t reply_hub_sockets(const ReplyHub *h)
{
        return h ? h->n : 0;
}

int reply_count_new(ReplyCount **ret, ReplyHub *h, int ifindex, u128 addr)
{
        ReplyCount *c;
        Listener *l = NULL;
        int r;

        if (!h || ifindex <= 0)
                return -EINVAL;
        r = hub_listener(h, ifindex, &l);
        if (r < 0)
                return r;
        if (GROW(l->counts, l->cap, l->n + 1) < 0 || !(c = calloc(1, sizeof(*c)))) {
                if (l->n == 0)
                        hub_drop_listener(h, l);
                return -ENOMEM;
        }
        c->addr = addr;
        c->listener = l;
        l->counts[l->n++] = c;
        *ret = c;
        return 0;
}

uint64_t reply_count_get(const ReplyCount *c)
{
        return c ? c->count : 0;
}

ReplyCount *reply_count_free(ReplyCount *c)
{
        Listener *l;

        if (!c)
                return NULL;
        l = c->listener;
        if (l) {
                for (size_t i = 0; i < l->n; i++)
                        if (l->counts[i] == c) {
                                l->counts[i] = l->counts[--l->n];
                                break;
                        }
                /* the last address on the interface closes its socket */
                if (l->n == 0)
                        hub_drop_listener(l->hub, l);
        }
        free(c);
        return NULL;
}
