/* SPDX-License-Identifier: MIT */
/* Per-address announcement state machine; see announcer.h. */
#include <string.h>

#include "announce-burst.h"
#include "announcer.h"
#include "arp.h"
#include "claim-watch.h"
#include "packet.h"
#include "probe.h"
#include "util/log.h"

/* The daemon's probe is shorter than RFC 5227's defaults (1-7 s): a Service waiting for
 * its address should not wait seconds. Two probes 50-100 ms apart and 200 ms of silence
 * still catch any host that answers ARP or NDP on a LAN. */
#define MLBD_PROBE_NUM 2
#define MLBD_PROBE_WAIT_USEC (20 * 1000ULL)
#define MLBD_PROBE_MIN_USEC (50 * 1000ULL)
#define MLBD_PROBE_MAX_USEC (100 * 1000ULL)
#define MLBD_ANNOUNCE_WAIT_USEC (200 * 1000ULL)

typedef struct Entry Entry;
struct Entry {
        Announcer *owner;
        Entry *next;
        u128 addr;
        AnnState state;
        bool vet_only; /* probe, do not add */
        int ifindex;
        char ifname[IF_NAMESIZE];
        uint8_t mac[ETH_ALEN];
        Probe *probe;
        AnnounceBurst *burst;
        ClaimWatch *watch;
        sd_event_source *refresh;
};

struct Announcer {
        sd_event *event;
        Netlink *nl;
        AnnounceSettings settings;
        char *interface;
        AnnouncerCallbacks cb;
        void *userdata;
        Entry *entries;
        ClaimHub *claims; /* one listening socket per interface and family */
        int send_fd;      /* one send-only packet socket for every burst */
};

static const char *const state_names[_ANN_STATE_MAX] = {
    [ANN_PROBING] = "probing",
    [ANN_OWNED] = "owned",
    [ANN_REFUSED] = "refused",
    [ANN_VETTED] = "vetted",
};

const char *ann_state_to_string(AnnState s)
{
        return s >= 0 && s < _ANN_STATE_MAX ? state_names[s] : NULL;
}

static void entry_set_state(Entry *e, AnnState s)
{
        char buf[ADDR_STR_MAX];

        if (e->state != s)
                log_debug("announce %s on %s: %s -> %s", addr_format(e->addr, buf), e->ifname,
                          state_names[e->state], state_names[s]);
        e->state = s;
}

static void entry_stop(Entry *e)
{
        e->probe = probe_free(e->probe);
        e->burst = burst_free(e->burst);
        e->watch = claim_watch_free(e->watch);
        e->refresh = sd_event_source_disable_unref(e->refresh);
}

static Entry *find(const Announcer *a, u128 addr, Entry ***prevp)
{
        Entry **pp = (Entry **)&a->entries;

        for (; *pp; pp = &(*pp)->next)
                if ((*pp)->addr == addr) {
                        if (prevp)
                                *prevp = pp;
                        return *pp;
                }
        return NULL;
}

static void burst_done(AnnounceBurst *b, unsigned sent, int error, void *userdata)
{
        Entry *e = userdata;
        char buf[ADDR_STR_MAX];

        if (error < 0)
                log_warning_errno(error, "announce %s on %s: sending failed after %u: %m",
                                  addr_format(e->addr, buf), e->ifname, sent);
}

static int announce_now(Entry *e)
{
        Announcer *a = e->owner;
        int r;

        e->burst = burst_free(e->burst);
        if (a->settings.garp_count == 0)
                return 0;
        r = burst_new(&e->burst, e->ifindex, e->mac, e->addr, a->settings.garp_count,
                      a->settings.garp_interval_usec);
        if (r >= 0)
                burst_set_socket(e->burst, a->send_fd);
        if (r >= 0)
                r = burst_attach_event(e->burst, a->event, 0);
        if (r >= 0)
                r = burst_start(e->burst, burst_done, e);
        return r;
}

static int refresh_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Entry *e = userdata;

        if (e->state == ANN_OWNED)
                (void)announce_now(e);
        (void)sd_event_source_set_time_relative(s, e->owner->settings.refresh_usec);
        return 0;
}

static void claim_seen(ClaimWatch *w, const uint8_t mac[ETH_ALEN], uint64_t count, int error,
                       void *userdata)
{
        Entry *e = userdata;
        char buf[ADDR_STR_MAX], m[MAC_STR_MAX];

        if (error < 0) {
                log_warning_errno(error, "announce %s: claim watch failed: %m",
                                  addr_format(e->addr, buf));
                return;
        }
        /* RFC 5227 §2.4 (b)/(c): log and keep the address; never fight forever. */
        log_warning("announce %s: host %s also claims this address (%" PRIu64 " claims seen)",
                    addr_format(e->addr, buf), mac_format(mac, m), count);
}

/* Adds the address to the interface and announces it. */
static void take(Entry *e)
{
        Announcer *a = e->owner;
        char buf[ADDR_STR_MAX];
        int r;

        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
        if (r < 0 && r != -EEXIST) {
                log_error_errno(r, "announce %s: cannot add it to %s: %m",
                                addr_format(e->addr, buf), e->ifname);
                entry_set_state(e, ANN_REFUSED);
                if (a->cb.refused)
                        a->cb.refused(e->addr, NULL, "cannot add the address to the interface",
                                      a->userdata);
                return;
        }
        entry_set_state(e, ANN_OWNED);
        log_info("announce %s: now on %s", addr_format(e->addr, buf), e->ifname);
        r = announce_now(e);
        if (r < 0)
                log_warning_errno(r, "announce %s: cannot announce on %s: %m", buf, e->ifname);
        r = claim_watch_new(&e->watch, e->ifindex, e->mac, e->addr, claim_seen, e);
        if (r >= 0)
                r = claim_watch_attach_hub(e->watch, a->claims);
        if (r < 0) {
                e->watch = claim_watch_free(e->watch);
                log_warning_errno(r, "announce %s: cannot watch for claims: %m", buf);
        }
        if (a->settings.refresh_usec > 0 && !e->refresh)
                (void)sd_event_add_time_relative(a->event, &e->refresh, CLOCK_MONOTONIC,
                                                 a->settings.refresh_usec, 0, refresh_fired, e);
        if (a->cb.owned)
                a->cb.owned(e->addr, e->ifname, a->userdata);
}

static void probe_done(Probe *p, ProbeResult result, const uint8_t mac[ETH_ALEN], int error,
                       void *userdata)
{
        Entry *e = userdata;
        Announcer *a = e->owner;
        char buf[ADDR_STR_MAX], m[MAC_STR_MAX], reason[256];

        e->probe = probe_free(e->probe);
        switch (result) {
        case PROBE_RESULT_FREE:
                if (!e->vet_only)
                        take(e);
                else {
                        entry_set_state(e, ANN_VETTED);
                        if (a->cb.owned)
                                a->cb.owned(e->addr, e->ifname, a->userdata);
                }
                return;
        case PROBE_RESULT_CONFLICT:
                snprintf(reason, sizeof(reason), "address %s is in use on the network by %s",
                         addr_format(e->addr, buf), mac_format(mac, m));
                break;
        default:
                snprintf(reason, sizeof(reason), "probing %s on %s failed: %s",
                         addr_format(e->addr, buf), e->ifname, strerror(-error));
                mac = NULL;
                break;
        }
        log_warning("announce: %s; not announcing it", reason);
        entry_set_state(e, ANN_REFUSED);
        if (a->cb.refused)
                a->cb.refused(e->addr, mac, reason, a->userdata);
}

static int choose_interface(Announcer *a, u128 addr, const char *hint, Entry *e)
{
        const char *name = hint ? hint : a->interface;
        NlLink link;
        int r;

        if (name) {
                e->ifindex = (int)if_nametoindex(name);
                if (e->ifindex == 0)
                        return -ENODEV;
        } else {
                r = netlink_route_iface(a->nl, addr, &e->ifindex);
                if (r < 0)
                        return r;
        }
        r = netlink_link_get(a->nl, e->ifindex, &link);
        if (r < 0)
                return r;
        if (!link.has_mac)
                return -EPFNOSUPPORT; /* no Ethernet address: nothing to announce with */
        memcpy(e->mac, link.mac, ETH_ALEN);
        snprintf(e->ifname, sizeof(e->ifname), "%s", link.name);
        return 0;
}

static int start(Announcer *a, u128 addr, const char *ifname, bool probe, bool vet_only)
{
        _cleanup_free_ Entry *e = NULL;
        char buf[ADDR_STR_MAX];
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->owner = a;
        e->addr = addr;
        e->state = ANN_PROBING;
        e->vet_only = vet_only;
        r = choose_interface(a, addr, ifname, e);
        if (r < 0) {
                char reason[256];
                snprintf(reason, sizeof(reason), "no interface to announce %s on: %s",
                         addr_format(addr, buf), strerror(-r));
                log_warning("announce: %s", reason);
                e->state = ANN_REFUSED;
                e->next = a->entries;
                a->entries = TAKE_PTR(e);
                if (a->cb.refused)
                        a->cb.refused(addr, NULL, reason, a->userdata);
                return 0;
        }
        Entry *n = TAKE_PTR(e);
        n->next = a->entries;
        a->entries = n;
        if (!probe) {
                take(n);
                return 0;
        }
        ProbeConfig cfg = {
            .probe_num = MLBD_PROBE_NUM,
            .probe_wait_usec = MLBD_PROBE_WAIT_USEC,
            .probe_min_usec = MLBD_PROBE_MIN_USEC,
            .probe_max_usec = MLBD_PROBE_MAX_USEC,
            .announce_wait_usec = MLBD_ANNOUNCE_WAIT_USEC,
        };
        r = probe_new(&n->probe, n->ifindex, n->mac, addr, &cfg);
        if (r >= 0)
                r = probe_attach_event(n->probe, a->event, 0);
        if (r >= 0)
                r = probe_start(n->probe, probe_done, n);
        if (r < 0) {
                n->probe = probe_free(n->probe);
                probe_done(NULL, PROBE_RESULT_ERROR, NULL, r, n);
        }
        log_debug("announce %s: probing on %s", addr_format(addr, buf), n->ifname);
        return 0;
}

int announcer_want(Announcer *a, u128 addr, const char *ifname, bool probe)
{
        Entry *e = find(a, addr, NULL);

        if (!e)
                return start(a, addr, ifname, probe, false);
        if (e->vet_only) {
                e->vet_only = false; /* a probe under way adds it when it passes */
                if (e->state == ANN_VETTED)
                        take(e);
        }
        return 0;
}

int announcer_vet(Announcer *a, u128 addr, const char *ifname)
{
        return find(a, addr, NULL) ? 0 : start(a, addr, ifname, true, true);
}

void announcer_reannounce(Announcer *a, u128 addr)
{
        Entry *e = find(a, addr, NULL);
        char buf[ADDR_STR_MAX];

        if (!e || e->state != ANN_OWNED)
                return;
        log_info("announce %s: announcing again on %s", addr_format(addr, buf), e->ifname);
        (void)announce_now(e);
}

static void entry_remove(Announcer *a, Entry *e, Entry **prevp)
{
        char buf[ADDR_STR_MAX];

        entry_stop(e);
        if (e->state == ANN_OWNED) {
                int r = netlink_addr_del(a->nl, e->ifindex, e->addr);
                if (r < 0 && r != -EADDRNOTAVAIL && r != -ENODEV)
                        log_warning_errno(r, "announce %s: cannot remove it from %s: %m",
                                          addr_format(e->addr, buf), e->ifname);
                else
                        log_info("announce %s: removed from %s", addr_format(e->addr, buf),
                                 e->ifname);
        }
        *prevp = e->next;
        free(e);
}

void announcer_unwant(Announcer *a, u128 addr)
{
        Entry **prevp;
        Entry *e = find(a, addr, &prevp);

        if (e)
                entry_remove(a, e, prevp);
}

void announcer_withdraw_all(Announcer *a)
{
        while (a->entries)
                entry_remove(a, a->entries, &a->entries);
}

bool announcer_has(const Announcer *a, u128 addr, AnnState *state, char ifname[IF_NAMESIZE])
{
        Entry *e = find(a, addr, NULL);

        if (!e)
                return false;
        if (state)
                *state = e->state;
        if (ifname)
                memcpy(ifname, e->ifname, IF_NAMESIZE);
        return true;
}

size_t announcer_count(const Announcer *a, AnnState state)
{
        size_t n = 0;

        for (Entry *e = a->entries; e; e = e->next)
                n += e->state == state;
        return n;
}

void announcer_foreach(const Announcer *a, AnnState state,
                       void (*cb)(u128 addr, const char *ifname, void *userdata), void *userdata)
{
        for (Entry *e = a->entries; e; e = e->next)
                if (e->state == state)
                        cb(e->addr, e->ifname, userdata);
}

void announcer_netlink_event(Announcer *a, const NlEvent *ev)
{
        char buf[ADDR_STR_MAX];
        int r;

        for (Entry *e = a->entries; e; e = e->next) {
                if (e->state != ANN_OWNED)
                        continue;
                switch (ev->type) {
                case NL_EVENT_ADDR_DEL:
                        if (ev->addr.addr != e->addr || ev->addr.ifindex != e->ifindex)
                                break;
                        log_warning("announce %s: removed from %s by someone else; putting "
                                    "it back",
                                    addr_format(e->addr, buf), e->ifname);
                        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
                        if (r < 0 && r != -EEXIST)
                                log_error_errno(r, "announce %s: cannot put it back: %m", buf);
                        else
                                (void)announce_now(e);
                        break;
                case NL_EVENT_LINK_DOWN:
                        if (ev->link.ifindex == e->ifindex)
                                log_warning("announce %s: link %s is down",
                                            addr_format(e->addr, buf), e->ifname);
                        break;
                case NL_EVENT_LINK_UP:
                        if (ev->link.ifindex != e->ifindex)
                                break;
                        log_info("announce %s: link %s is up again; announcing",
                                 addr_format(e->addr, buf), e->ifname);
                        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
                        if (r < 0 && r != -EEXIST)
                                log_error_errno(r, "announce %s: cannot add it: %m", buf);
                        (void)announce_now(e);
                        break;
                case NL_EVENT_OVERRUN:
                        /* events were lost: make sure every owned address is in place */
                        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
                        if (r >= 0)
                                (void)announce_now(e);
                        break;
                default:
                        break;
                }
        }
}

void announcer_set_settings(Announcer *a, const AnnounceSettings *s)
{
        free(a->interface);
        a->interface = s->interface ? strdup(s->interface) : NULL;
        a->settings = *s;
        a->settings.interface = a->interface;
}

int announcer_new(Announcer **ret, sd_event *e, Netlink *nl, const AnnounceSettings *s,
                  const AnnouncerCallbacks *cb, void *userdata)
{
        Announcer *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->event = sd_event_ref(e);
        a->nl = nl;
        a->cb = *cb;
        a->userdata = userdata;
        a->send_fd = packet_send_socket_open(); /* on failure each burst opens its own */
        if (claim_hub_new(&a->claims, e, 0) < 0) {
                closep(&a->send_fd);
                sd_event_unref(a->event);
                free(a);
                return -ENOMEM;
        }
        announcer_set_settings(a, s);
        *ret = a;
        return 0;
}

Announcer *announcer_free(Announcer *a)
{
        if (!a)
                return NULL;
        while (a->entries) {
                Entry *e = a->entries;
                a->entries = e->next;
                entry_stop(e);
                free(e);
        }
        claim_hub_free(a->claims);
        closep(&a->send_fd);
        free(a->interface);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}
