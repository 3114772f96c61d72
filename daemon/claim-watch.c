/* SPDX-License-Identifier: MIT */
/* Foreign claims on an owned address; see claim-watch.h. */
#include <inttypes.h>
#include <string.h>

#include "claim-watch.h"
#include "l2.h"
#include "util/log.h"

struct ClaimWatch {
        int ifindex;
        uint8_t mac[ETH_ALEN];
        u128 addr;
        int fd;
        sd_event_source *io;
        uint64_t count;
        uint8_t last_mac[ETH_ALEN];
        claim_watch_cb_t cb;
        void *userdata;
};

static int claim_watch_io_fn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        ClaimWatch *w = userdata;
        char buf[ADDR_STR_MAX], mbuf[MAC_STR_MAX];
        uint8_t mac[ETH_ALEN];

        for (int i = 0; i < 64; i++) {
                int r = l2_recv_claim(w->fd, w->addr, w->mac, mac);

                if (r == -EAGAIN)
                        return 0;
                if (r == -EBADMSG || r == -ENETDOWN || r == -ENOBUFS)
                        continue;
                if (r < 0) {
                        log_warning_errno(r, "claim watch %s: %m", addr_format(w->addr, buf));
                        w->io = sd_event_source_disable_unref(w->io);
                        if (w->cb)
                                w->cb(w, NULL, w->count, r, w->userdata);
                        return 0;
                }
                /* Only USE is a claim on an owned address: a probe for it is answered by
                 * the kernel, and the prober then backs off (RFC 5227 §2.1.1). */
                if (r != L2_CLAIM_USE)
                        continue;
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
                return 0; /* the callback may have freed w */
        }
        return 0;
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
        w->fd = -EBADF;
        w->cb = cb;
        w->userdata = userdata;
        *ret = w;
        return 0;
}

int claim_watch_attach_event(ClaimWatch *w, sd_event *e, int64_t priority)
{
        int r;

        if (w->fd >= 0)
                return -EBUSY;
        /* IPv6: NAs for the address go to ff02::1 or to us; no group to join. */
        w->fd =
            addr_is_v4(w->addr) ? arp_socket_open(w->ifindex) : ndisc_socket_open(w->ifindex, NULL);
        if (w->fd < 0) {
                r = w->fd;
                w->fd = -EBADF;
                return r;
        }
        r = sd_event_add_io(e, &w->io, w->fd, EPOLLIN, claim_watch_io_fn, w);
        if (r < 0) {
                closep(&w->fd);
                w->fd = -EBADF;
                return r;
        }
        return sd_event_source_set_priority(w->io, priority);
}

uint64_t claim_watch_get_count(const ClaimWatch *w)
{
        return w->count;
}

ClaimWatch *claim_watch_free(ClaimWatch *w)
{
        if (!w)
                return NULL;
        w->io = sd_event_source_disable_unref(w->io);
        closep(&w->fd);
        free(w);
        return NULL;
}
