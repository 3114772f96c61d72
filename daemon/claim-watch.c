/* SPDX-License-Identifier: MIT */
/* Foreign claims on an owned address; see claim-watch.h. */
#include <inttypes.h>
#include <string.h>

#include "packet.h"
#include "claim-watch.h"
#include "l2.h"
#include "ndisc.h"
#include "util/htable.h"
#include "util/log.h"

/* One listening socket and the watches that read from it, by address: a packet is
 * matched against the one watch of the address it claims, not against every watch (a
 * flood of ARP on a node with thousands of addresses cost a walk of all of them per
 * packet), and a watch leaves in O(1). */
typedef struct Listener {
        ClaimHub *hub; /* NULL: owned by a single watch (claim_watch_attach_event) */
        int ifindex;
        bool v4;
        int fd;
        sd_event_source *io;
        HTable watches; /* ClaimWatch.h, by address */
        HKey key;
        size_t n;
} Listener;

struct ClaimHub {
        sd_event *event;
        int64_t priority;
        Listener **listeners;
        size_t n, cap;
};

struct ClaimWatch {
        HNode h; /* Listener.watches */
        int ifindex;
        uint8_t mac[ETH_ALEN];
        u128 addr;
        Listener *listener;
        uint64_t count;
        uint64_t requests; /* ARP requests / NS for it received */
        uint8_t last_mac[ETH_ALEN];
        claim_watch_cb_t cb;
        void *userdata;
};

static void listener_free(Listener *l)
{
        if (!l)
                return;
        l->io = sd_event_source_disable_unref(l->io);
        packet_socket_close(l->fd);
        l->fd = -EBADF;
        ht_done(&l->watches);
        free(l);
}

/* Counts and reports one claim (the callback may free the watch, and with it, if it was
 * the last, the listener). */
static void report(ClaimWatch *w, const uint8_t mac[ETH_ALEN])
{
        char buf[ADDR_STR_MAX], mbuf[MAC_STR_MAX];

        w->count++;
        if (w->count == 1 || memcmp(mac, w->last_mac, ETH_ALEN) != 0)
                log_warning("%s is claimed on the LAN by %s (claims so far: %" PRIu64 ")",
                            addr_format(w->addr, buf), mac_format(mac, mbuf), w->count);
        else
                log_debug("%s claimed again by %s (%" PRIu64 ")", addr_format(w->addr, buf),
                          mac_format(mac, mbuf), w->count);
        memcpy(w->last_mac, mac, ETH_ALEN);
        if (w->cb)
                w->cb(w, mac, w->count, 0, w->userdata);
}

/* Reads one packet; returns the watch it is a claim against (with *mac), NULL if none,
 * or sets *error (-EAGAIN: the queue is empty). */
static ClaimWatch *read_claim(Listener *l, uint8_t mac[ETH_ALEN], int *error)
{
        uint8_t eth_src[ETH_ALEN];
        ArpPacket p;
        NdMsg m;
        int r = l->v4 ? arp_recv(l->fd, &p, eth_src) : ndisc_recv(l->fd, &m, eth_src);

        *error = r < 0 ? r : 0;
        if (r < 0)
                return NULL;
        /* what MetalLB's layer2_requests_received counts (the kernel answers): a request
         * (not a gratuitous one) or a solicitation naming a watched address as its target */
        if (l->v4 ? p.op == ARP_OP_REQUEST && p.tpa != p.spa : m.type == ND_TYPE_NS) {
                u128 asked = l->v4 ? addr_from_v4(p.tpa) : addr_from_in6(&m.target);
                uint64_t ha = ht_hash(&l->key, &asked, sizeof(asked));
                for (HNode *n = ht_chain(&l->watches, ha); n; n = n->next)
                        ((ClaimWatch *)n)->requests +=
                            n->hash == ha && ((ClaimWatch *)n)->addr == asked;
        }
        /* A claim of use names the address as the ARP sender or the NA's target. */
        u128 claimed = l->v4 ? addr_from_v4(p.spa) : addr_from_in6(&m.target);
        uint64_t h = ht_hash(&l->key, &claimed, sizeof(claimed));
        for (HNode *n = ht_chain(&l->watches, h); n; n = n->next) {
                ClaimWatch *w = (ClaimWatch *)n;
                struct in6_addr a;
                L2Claim c;
                if (n->hash != h || w->addr != claimed)
                        continue;
                if (l->v4)
                        c = l2_classify_arp(&p, addr_to_v4(w->addr), w->mac, mac);
                else {
                        addr_to_in6(w->addr, &a);
                        c = l2_classify_nd(&m, eth_src, &a, w->mac, mac);
                }
                /* Only USE is a claim on an owned address: a probe for it is answered by
                 * the kernel, and the prober then backs off (RFC 5227 §2.1.1). */
                if (c == L2_CLAIM_USE)
                        return w;
        }
        return NULL;
}

/* Every watch of l (for a failed socket: each is told, and may free itself). */
static ClaimWatch **listener_snapshot(Listener *l, size_t *ret_n)
{
        ClaimWatch **snap = calloc(l->n + 1, sizeof(ClaimWatch *));
        size_t k = 0;

        for (size_t b = 0; snap && b < l->watches.nb; b++)
                for (HNode *n = l->watches.b[b]; n && k < l->n; n = n->next)
                        snap[k++] = (ClaimWatch *)n;
        *ret_n = k;
        return snap;
}

static int listener_io_fn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Listener *l = userdata;
        char buf[ADDR_STR_MAX];
        uint8_t mac[ETH_ALEN];

        for (int i = 0; i < 64; i++) {
                int r;
                ClaimWatch *w = read_claim(l, mac, &r);
                if (r == -EAGAIN)
                        return 0;
                if (r == -EBADMSG || r == -ENETDOWN || r == -ENOBUFS)
                        continue;
                if (r < 0) {
                        /* the socket failed: every watch on it stops and is told; a
                         * callback may free its own watch (and so the listener) */
                        size_t n = 0;
                        ClaimWatch **snap = listener_snapshot(l, &n);
                        l->io = sd_event_source_disable_unref(l->io);
                        for (size_t k = 0; snap && k < n; k++) {
                                log_warning_errno(r, "claim watch %s: %m",
                                                  addr_format(snap[k]->addr, buf));
                                if (snap[k]->cb)
                                        snap[k]->cb(snap[k], NULL, snap[k]->count, r,
                                                    snap[k]->userdata);
                        }
                        free(snap);
                        return 0;
                }
                if (w) {
                        report(w, mac);
                        return 0; /* the callback may have freed w and the listener */
                }
        }
        return 0;
}

static int listener_open(Listener *l, sd_event *e, int64_t priority)
{
        int r;

        /* IPv6: NAs for the address go to ff02::1 or to us; no group to join. */
        l->fd = l->v4 ? arp_socket_open(l->ifindex) : ndisc_socket_open(l->ifindex, NULL);
        if (l->fd < 0) {
                r = l->fd;
                l->fd = -EBADF;
                return r;
        }
        r = sd_event_add_io(e, &l->io, l->fd, EPOLLIN, listener_io_fn, l);
        if (r < 0)
                return r;
        return sd_event_source_set_priority(l->io, priority);
}

/* A new listener with an empty table; NULL when out of memory. */
static Listener *listener_new(ClaimHub *hub, int ifindex, bool v4)
{
        Listener *l = calloc(1, sizeof(*l));

        if (!l)
                return NULL;
        *l = (Listener){.hub = hub, .ifindex = ifindex, .v4 = v4, .fd = -EBADF};
        if (ht_key_init(&l->key) < 0 || ht_init(&l->watches, 16) < 0) {
                free(l);
                return NULL;
        }
        return l;
}

static int listener_add(Listener *l, ClaimWatch *w)
{
        w->h.hash = ht_hash(&l->key, &w->addr, sizeof(w->addr));
        ht_insert(&l->watches, &w->h);
        l->n++;
        w->listener = l;
        return 0;
}

static void hub_drop_listener(ClaimHub *h, Listener *l)
{
        for (size_t i = 0; i < h->n; i++)
                if (h->listeners[i] == l) {
                        h->listeners[i] = h->listeners[--h->n];
                        break;
                }
        listener_free(l);
}

int claim_hub_new(ClaimHub **ret, sd_event *e, int64_t priority)
{
        ClaimHub *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(e);
        h->priority = priority;
        *ret = h;
        return 0;
}

ClaimHub *claim_hub_free(ClaimHub *h)
{
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++) {
                size_t n = 0;
                ClaimWatch **snap = listener_snapshot(h->listeners[i], &n);
                for (size_t k = 0; snap && k < n; k++)
                        snap[k]->listener = NULL;
                free(snap);
                listener_free(h->listeners[i]);
        }
        free(h->listeners);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

size_t claim_hub_sockets(const ClaimHub *h)
{
        return h->n;
}

int claim_watch_new(ClaimWatch **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
                    claim_watch_cb_t cb, void *userdata)
{
        ClaimWatch *w;

        if (ifindex <= 0 || mac_is_zero(mac))
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->ifindex = ifindex;
        memcpy(w->mac, mac, ETH_ALEN);
        w->addr = addr;
        w->cb = cb;
        w->userdata = userdata;
        *ret = w;
        return 0;
}

int claim_watch_attach_event(ClaimWatch *w, sd_event *e, int64_t priority)
{
        Listener *l;
        int r;

        if (w->listener)
                return -EBUSY;
        l = listener_new(NULL, w->ifindex, addr_is_v4(w->addr));
        if (!l)
                return -ENOMEM;
        r = listener_open(l, e, priority);
        if (r >= 0)
                r = listener_add(l, w);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        return 0;
}

int claim_watch_attach_hub(ClaimWatch *w, ClaimHub *h)
{
        bool v4 = addr_is_v4(w->addr);
        Listener *l = NULL;
        int r;

        if (w->listener)
                return -EBUSY;
        for (size_t i = 0; i < h->n && !l; i++)
                if (h->listeners[i]->ifindex == w->ifindex && h->listeners[i]->v4 == v4)
                        l = h->listeners[i];
        if (!l) {
                if (GROW(h->listeners, h->cap, h->n + 1) < 0)
                        return -ENOMEM;
                l = listener_new(h, w->ifindex, v4);
                if (!l)
                        return -ENOMEM;
                r = listener_open(l, h->event, h->priority);
                if (r < 0) {
                        listener_free(l);
                        return r;
                }
                h->listeners[h->n++] = l;
        }
        r = listener_add(l, w);
        if (r < 0 && l->n == 0)
                hub_drop_listener(h, l);
        return r;
}

uint64_t claim_watch_get_count(const ClaimWatch *w)
{
        return w->count;
}

uint64_t claim_watch_get_requests(const ClaimWatch *w)
{
        return w->requests;
}

ClaimWatch *claim_watch_free(ClaimWatch *w)
{
        Listener *l;

        if (!w)
                return NULL;
        l = w->listener;
        if (l) {
                ht_remove(&l->watches, &w->h);
                l->n--;
                if (l->n == 0) {
                        if (l->hub)
                                hub_drop_listener(l->hub, l);
                        else
                                listener_free(l);
                }
        }
        free(w);
        return NULL;
}
