/* SPDX-License-Identifier: MIT */
/* Conflict probe engine; see probe.h. */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "packet.h"
#include "l2.h"
#include "probe.h"
#include "util/log.h"

#define TIMER_ACCURACY_USEC 1000 /* sd-event's default (250 ms) would swamp our gaps */

struct Probe {
        int ifindex;
        uint8_t mac[ETH_ALEN];
        u128 addr;
        ProbeConfig cfg;
        ProbeState state;
        unsigned sent;
        int fd;
        sd_event *event;
        int64_t priority;
        sd_event_source *io, *timer;
        probe_cb_t cb;
        void *userdata;
};

static const char *const probe_state_table[_PROBE_STATE_MAX] = {
    [PROBE_STATE_INIT] = "init",       [PROBE_STATE_WAITING] = "waiting",
    [PROBE_STATE_PROBING] = "probing", [PROBE_STATE_ANNOUNCE_WAIT] = "announce-wait",
    [PROBE_STATE_DONE] = "done",
};

const char *probe_state_to_string(ProbeState s)
{
        return s >= 0 && s < _PROBE_STATE_MAX ? probe_state_table[s] : NULL;
}

const char *probe_result_to_string(ProbeResult r)
{
        switch (r) {
        case PROBE_RESULT_FREE:
                return "free";
        case PROBE_RESULT_CONFLICT:
                return "conflict";
        case PROBE_RESULT_ERROR:
                return "error";
        }
        return NULL;
}

uint64_t random_range(uint64_t lo, uint64_t hi)
{
        uint64_t v;

        if (hi <= lo)
                return lo;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint64_t)time(NULL) * 6364136223846793005ULL + (uint64_t)clock();
        if (hi - lo == UINT64_MAX)
                return v;
        return lo + v % (hi - lo + 1);
}

void probe_config_default(u128 addr, ProbeConfig *ret)
{
        if (addr_is_v4(addr))
                *ret = (ProbeConfig){
                    .probe_num = PROBE_NUM,
                    .probe_wait_usec = PROBE_WAIT_USEC,
                    .probe_min_usec = PROBE_MIN_USEC,
                    .probe_max_usec = PROBE_MAX_USEC,
                    .announce_wait_usec = ANNOUNCE_WAIT_USEC,
                };
        else
                *ret = (ProbeConfig){
                    .probe_num = ND_DAD_TRANSMITS,
                    .probe_wait_usec = ND_MAX_DELAY_USEC,
                    .probe_min_usec = ND_RETRANS_TIMER_USEC,
                    .probe_max_usec = ND_RETRANS_TIMER_USEC,
                    .announce_wait_usec = ND_RETRANS_TIMER_USEC,
                };
}

int probe_config_validate(const ProbeConfig *c)
{
        const uint64_t minute = 60 * 1000000ULL;

        if (c->probe_num > 100 || c->probe_min_usec > c->probe_max_usec ||
            c->probe_max_usec > minute || c->probe_wait_usec > minute ||
            c->announce_wait_usec > minute)
                return -EINVAL;
        return 0;
}

static void probe_set_state(Probe *p, ProbeState s)
{
        char buf[ADDR_STR_MAX];

        if (p->state == s)
                return;
        log_debug("probe %s: %s -> %s", addr_format(p->addr, buf), probe_state_to_string(p->state),
                  probe_state_to_string(s));
        p->state = s;
}

static void probe_reset(Probe *p)
{
        p->timer = sd_event_source_disable_unref(p->timer);
        p->io = sd_event_source_disable_unref(p->io);
        packet_socket_close(p->fd);
        p->fd = -EBADF;
        p->sent = 0;
}

/* Ends the probe and tells the owner; must be the last thing a handler does. */
static void probe_finish(Probe *p, ProbeResult result, const uint8_t mac[ETH_ALEN], int error)
{
        char buf[ADDR_STR_MAX], mbuf[MAC_STR_MAX];

        probe_reset(p);
        probe_set_state(p, PROBE_STATE_DONE);
        if (result == PROBE_RESULT_CONFLICT)
                log_warning("probe %s: in use on the LAN by %s", addr_format(p->addr, buf),
                            mac_format(mac, mbuf));
        else if (result == PROBE_RESULT_ERROR)
                log_warning_errno(error, "probe %s failed: %m", addr_format(p->addr, buf));
        else
                log_debug("probe %s: free", addr_format(p->addr, buf));
        if (p->cb)
                p->cb(p, result, mac, error, p->userdata);
}

static int probe_timer_fn(sd_event_source *s, uint64_t usec, void *userdata);

static int probe_arm(Probe *p, uint64_t delay_usec)
{
        p->timer = sd_event_source_disable_unref(p->timer);
        return sd_event_add_time_relative(p->event, &p->timer, CLOCK_BOOTTIME, delay_usec,
                                          TIMER_ACCURACY_USEC, probe_timer_fn, p);
}

static int probe_timer_fn(sd_event_source *s, uint64_t usec, void *userdata)
{
        Probe *p = userdata;
        int r;

        switch (p->state) {
        case PROBE_STATE_WAITING:
        case PROBE_STATE_PROBING:
                if (p->sent < p->cfg.probe_num) {
                        r = l2_send_probe(p->fd, p->ifindex, p->mac, p->addr);
                        if (r < 0)
                                goto fail;
                        p->sent++;
                        probe_set_state(p, PROBE_STATE_PROBING);
                }
                if (p->sent < p->cfg.probe_num) {
                        r = probe_arm(p,
                                      random_range(p->cfg.probe_min_usec, p->cfg.probe_max_usec));
                } else {
                        /* RFC 5227 §2.1.1: after the last probe, wait ANNOUNCE_WAIT. */
                        probe_set_state(p, PROBE_STATE_ANNOUNCE_WAIT);
                        r = probe_arm(p, p->cfg.announce_wait_usec);
                }
                if (r < 0)
                        goto fail;
                return 0;
        case PROBE_STATE_ANNOUNCE_WAIT:
                probe_finish(p, PROBE_RESULT_FREE, NULL, 0);
                return 0;
        default:
                return 0;
        }
fail:
        probe_finish(p, PROBE_RESULT_ERROR, NULL, r);
        return 0;
}

static int probe_io_fn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Probe *p = userdata;
        uint8_t mac[ETH_ALEN];

        /* Bounded drain; a flood cannot starve the loop. */
        for (int i = 0; i < 64; i++) {
                int r = l2_recv_claim(p->fd, p->addr, p->mac, mac);

                if (r == -EAGAIN)
                        return 0;
                if (r == -EBADMSG)
                        continue;
                if (r < 0) {
                        if (r == -ENETDOWN || r == -ENOBUFS)
                                continue; /* transient; the timers go on */
                        probe_finish(p, PROBE_RESULT_ERROR, NULL, r);
                        return 0;
                }
                if (r != L2_CLAIM_NONE) {
                        probe_finish(p, PROBE_RESULT_CONFLICT, mac, 0);
                        return 0;
                }
        }
        return 0;
}

int probe_new(Probe **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
              const ProbeConfig *cfg)
{
        Probe *p;

        if (ifindex <= 0 || mac_is_zero(mac) || (cfg && probe_config_validate(cfg) < 0))
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->ifindex = ifindex;
        memcpy(p->mac, mac, ETH_ALEN);
        p->addr = addr;
        if (cfg)
                p->cfg = *cfg;
        else
                probe_config_default(addr, &p->cfg);
        p->fd = -EBADF;
        p->state = PROBE_STATE_INIT;
        *ret = p;
        return 0;
}

int probe_attach_event(Probe *p, sd_event *e, int64_t priority)
{
        if (p->event)
                return -EBUSY;
        p->event = sd_event_ref(e);
        p->priority = priority;
        return 0;
}

int probe_start(Probe *p, probe_cb_t cb, void *userdata)
{
        int r;

        if (!p->event)
                return -ENXIO;
        if (p->state != PROBE_STATE_INIT && p->state != PROBE_STATE_DONE)
                return -EBUSY;
        probe_reset(p);
        p->cb = cb;
        p->userdata = userdata;
        p->fd = l2_socket_open(p->addr, p->ifindex);
        if (p->fd < 0) {
                r = p->fd;
                p->fd = -EBADF;
                return r;
        }
        r = sd_event_add_io(p->event, &p->io, p->fd, EPOLLIN, probe_io_fn, p);
        if (r < 0)
                goto fail;
        (void)sd_event_source_set_priority(p->io, p->priority);
        probe_set_state(p, PROBE_STATE_WAITING);
        /* RFC 5227 §2.1.1: wait a random time in [0, PROBE_WAIT] before the first probe. */
        r = probe_arm(p, random_range(0, p->cfg.probe_wait_usec));
        if (r < 0)
                goto fail;
        return 0;
fail:
        probe_reset(p);
        probe_set_state(p, PROBE_STATE_INIT);
        return r;
}

void probe_stop(Probe *p)
{
        probe_reset(p);
        probe_set_state(p, PROBE_STATE_INIT);
}

ProbeState probe_get_state(const Probe *p)
{
        return p->state;
}

u128 probe_get_address(const Probe *p)
{
        return p->addr;
}

Probe *probe_free(Probe *p)
{
        if (!p)
                return NULL;
        probe_reset(p);
        sd_event_unref(p->event);
        free(p);
        return NULL;
}
