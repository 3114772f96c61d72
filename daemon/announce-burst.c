/* SPDX-License-Identifier: MIT */
/* Gratuitous ARP / unsolicited NA bursts; see announce-burst.h. */
#include <string.h>

#include "announce-burst.h"
#include "l2.h"
#include "packet.h"
#include "util/log.h"

#define TIMER_ACCURACY_USEC 1000

struct AnnounceBurst {
        int ifindex;
        uint8_t mac[ETH_ALEN];
        u128 addr;
        unsigned count, sent;
        uint64_t interval_usec;
        int fd;        /* >= 0 while running */
        int shared_fd; /* borrowed send socket, or -EBADF */
        sd_event *event;
        int64_t priority;
        sd_event_source *timer;
        burst_cb_t cb;
        void *userdata;
};

static void burst_reset(AnnounceBurst *b)
{
        b->timer = sd_event_source_disable_unref(b->timer);
        if (b->fd != b->shared_fd)
                closep(&b->fd);
        b->fd = -EBADF;
}

static void burst_finish(AnnounceBurst *b, int error)
{
        char buf[ADDR_STR_MAX];

        burst_reset(b);
        if (error < 0)
                log_warning_errno(error, "announce %s: stopped after %u of %u: %m",
                                  addr_format(b->addr, buf), b->sent, b->count);
        else
                log_debug("announce %s: %u sent", addr_format(b->addr, buf), b->sent);
        if (b->cb)
                b->cb(b, b->sent, error, b->userdata);
}

static int burst_timer_fn(sd_event_source *s, uint64_t usec, void *userdata);

/* Sends one packet and arms the next; ends the burst (with the callback) when done. */
static void burst_step(AnnounceBurst *b)
{
        int r = l2_send_announce(b->fd, b->ifindex, b->mac, b->addr);

        if (r < 0)
                return burst_finish(b, r);
        b->sent++;
        if (b->sent >= b->count)
                return burst_finish(b, 0);
        b->timer = sd_event_source_disable_unref(b->timer);
        r = sd_event_add_time_relative(b->event, &b->timer, CLOCK_BOOTTIME, b->interval_usec,
                                       TIMER_ACCURACY_USEC, burst_timer_fn, b);
        if (r < 0)
                return burst_finish(b, r);
        (void)sd_event_source_set_priority(b->timer, b->priority);
}

static int burst_timer_fn(sd_event_source *s, uint64_t usec, void *userdata)
{
        AnnounceBurst *b = userdata;

        if (b->sent >= b->count)
                burst_finish(b, 0);
        else
                burst_step(b);
        return 0;
}

int burst_new(AnnounceBurst **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
              unsigned count, uint64_t interval_usec)
{
        AnnounceBurst *b;

        if (ifindex <= 0 || count == 0 || mac_is_zero(mac))
                return -EINVAL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ifindex = ifindex;
        memcpy(b->mac, mac, ETH_ALEN);
        b->addr = addr;
        b->count = count;
        b->interval_usec = interval_usec;
        b->fd = -EBADF;
        b->shared_fd = -EBADF;
        *ret = b;
        return 0;
}

int burst_attach_event(AnnounceBurst *b, sd_event *e, int64_t priority)
{
        if (b->event)
                return -EBUSY;
        b->event = sd_event_ref(e);
        b->priority = priority;
        return 0;
}

/* The first packet goes out from here, at once (a takeover waits for nothing); the
 * callback still never runs inside burst_start(): the end of a burst is always reported
 * from a timer, so the caller's state is settled before it runs. */
int burst_start(AnnounceBurst *b, burst_cb_t cb, void *userdata)
{
        int r;

        if (!b->event)
                return -ENXIO;
        if (b->fd >= 0)
                return -EBUSY;
        b->cb = cb;
        b->userdata = userdata;
        b->sent = 0;
        b->fd = b->shared_fd >= 0 ? b->shared_fd : packet_send_socket_open();
        if (b->fd < 0) {
                r = b->fd;
                b->fd = -EBADF;
                return r;
        }
        r = l2_send_announce(b->fd, b->ifindex, b->mac, b->addr);
        if (r < 0) {
                burst_reset(b);
                return r;
        }
        b->sent = 1;
        r = sd_event_add_time_relative(b->event, &b->timer, CLOCK_BOOTTIME,
                                       b->sent >= b->count ? 0 : b->interval_usec,
                                       TIMER_ACCURACY_USEC, burst_timer_fn, b);
        if (r < 0) {
                burst_reset(b);
                return r;
        }
        (void)sd_event_source_set_priority(b->timer, b->priority);
        return 0;
}

void burst_set_socket(AnnounceBurst *b, int fd)
{
        b->shared_fd = fd;
}

void burst_stop(AnnounceBurst *b)
{
        burst_reset(b);
}

bool burst_is_running(const AnnounceBurst *b)
{
        return b->fd >= 0;
}

unsigned burst_get_sent(const AnnounceBurst *b)
{
        return b->sent;
}

AnnounceBurst *burst_free(AnnounceBurst *b)
{
        if (!b)
                return NULL;
        burst_reset(b);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}
