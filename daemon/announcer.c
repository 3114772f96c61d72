/* SPDX-License-Identifier: MIT */
/* Per-address announcement state machine; see announcer.h. */
#include <string.h>

#include "announce-burst.h"
#include "announcer.h"
#include "arp.h"
#include "claim-watch.h"
#include "event-log.h"
#include "foreign.h"
#include "metrics-counters.h"
#include "packet.h"
#include "probe.h"
#include "reply-count.h"
#include "util/htable.h"
#include "util/log.h"

/* The daemon's probe is shorter than RFC 5227's defaults (1-7 s): a Service waiting for
 * its address should not wait seconds. Two probes 50-100 ms apart and 200 ms of silence
 * still catch any host that answers ARP or NDP on a LAN. */
#define MLBD_PROBE_NUM 2
#define MLBD_PROBE_WAIT_USEC (20 * 1000ULL)
#define MLBD_PROBE_MIN_USEC (50 * 1000ULL)
#define MLBD_PROBE_MAX_USEC (100 * 1000ULL)
#define MLBD_ANNOUNCE_WAIT_USEC (200 * 1000ULL)

/* Nothing that goes wrong is final while the owner lives (docs/cluster.md "Retries"):
 * an address that could not be added (no such interface yet, netlink ENOBUFS, EMFILE) is
 * tried again after 1 s, doubling up to a minute; one found in use by another host is
 * probed again after 5 s, doubling up to 5 minutes (a spoofed reply or a host that went
 * away must not leave it dark for good; one still in use is reported each time). */
#define RETRY_FIRST_USEC (1000 * 1000ULL)
#define RETRY_MAX_USEC (60 * 1000 * 1000ULL)
#define REPROBE_FIRST_USEC (5 * 1000 * 1000ULL)
#define REPROBE_MAX_USEC (300 * 1000 * 1000ULL)
/* RFC 5227 §2.4 (c): a host may defend an address once per DEFEND_INTERVAL (10 s) and then
 * gives it up. An owner here never gives up (its peers agree it owns the address) and a
 * client that followed a foreign claim must come back at once, so mlbd re-announces at
 * once and at most once a second, with one more announcement at the end of that second
 * when the claims went on (the last word on the LAN is the owner's). */
#define DEFEND_INTERVAL_USEC (1000 * 1000ULL)
/* A vet (a probe that passed for an address not added, announcer_vet()) stands for
 * VET_MAX_AGE_USEC: a want with a probe takes a younger one at once, an older one is
 * probed again first. A vetted entry probes itself again in the background every
 * VET_REFRESH_USEC (plus up to VET_REFRESH_JITTER_USEC, so that entries vetted together
 * spread out) while staying vetted, and watches for claims meanwhile (an ARP with the
 * address as sender, an NA for it, from another MAC): a claim or a re-probe that finds
 * the address in use refuses it, as a probe conflict. Two probes per VET_REFRESH_USEC per
 * vetted address is what vetting costs on the LAN. */
#define VET_MAX_AGE_USEC (60 * 1000 * 1000ULL)
#define VET_REFRESH_USEC (30 * 1000 * 1000ULL)
#define VET_REFRESH_JITTER_USEC (10 * 1000 * 1000ULL)
/* A foreign claim is logged at warning level at most this often per address. */
#define CLAIM_LOG_INTERVAL_USEC (10 * 1000 * 1000ULL)

typedef struct Entry Entry;
struct Entry {
        HNode h; /* Announcer.by_addr; first member */
        Announcer *owner;
        Entry *next, *prev; /* Announcer.entries */
        u128 addr;
        AnnState state;
        bool vet_only;          /* probe, do not add */
        bool prevet;            /* vetted ahead of demand: refreshed, claims watched */
        bool probe_first;       /* probe before the first add (a fresh address) */
        bool added;             /* we put it on the interface */
        bool link_down;         /* its link was down when last heard of */
        char hint[IF_NAMESIZE]; /* the interface asked for ("" = by route), by name */
        int ifindex;
        char ifname[IF_NAMESIZE];
        uint8_t mac[ETH_ALEN];
        Probe *probe;
        AnnounceBurst *burst;
        ClaimWatch *watch;
        ReplyCount *replies; /* the kernel's ARP replies / solicited NAs for it */
        sd_event_source *refresh;
        sd_event_source *timer;  /* retry (FAILED), re-probe (REFUSED), release (QUIET) */
        unsigned attempts;       /* retries since the last success */
        uint64_t conflicts;      /* probes that found another host using it */
        char *reason;            /* the last failure reported */
        sd_event_source *defend; /* trailing defence at the end of the interval */
        uint64_t defend_until;
        bool defend_pending;
        uint64_t claim_logged;   /* when a claim was last logged at warning level */
        uint64_t garp_sent;      /* announcements of the bursts that ended (metrics) */
        uint64_t l2_requests;    /* of the claim watches that ended (metrics) */
        uint64_t l2_responses;   /* of the reply counts that ended (metrics) */
        uint64_t takeover_since; /* CLOCK_MONOTONIC: death noticed; 0 = no takeover pending */
        bool hushed;             /* owned, handed over: no more announcements (announcer_hush) */
        uint64_t vetted_at;      /* CLOCK_MONOTONIC: the last vet that passed; 0 = none */
        sd_event_source *revet;  /* background re-probe of a vetted entry */
        bool vet_claimed;        /* a claim was seen while vetted: refused by the timer */
        uint8_t claim_mac[ETH_ALEN];
};

struct Announcer {
        sd_event *event;
        Netlink *nl;
        AnnounceSettings settings;
        char *interface;
        char *node_name;
        AnnouncerCallbacks cb;
        void *userdata;
        Entry *entries;
        HTable by_addr; /* the entries by address: find() is O(1) */
        HKey hkey;
        ClaimHub *claims;     /* one listening socket per interface and family */
        ReplyHub *replies;    /* one ETH_P_ALL socket per interface (responses sent) */
        ForeignCache foreign; /* address and route dumps of this loop iteration */
        NlRouteCache routes;  /* prefixes and default routes of this loop iteration */
        int send_fd;          /* one send-only packet socket for every burst */
};

static const char *const state_names[_ANN_STATE_MAX] = {
    [ANN_PROBING] = "probing", [ANN_OWNED] = "owned",   [ANN_REFUSED] = "refused",
    [ANN_VETTED] = "vetted",   [ANN_FAILED] = "failed", [ANN_QUIET] = "quiet",
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

static uint64_t now_usec(const Announcer *a)
{
        uint64_t t = 0;
        (void)sd_event_now(a->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* Stops what runs for the current state (not the retry timer). */
static void entry_drop_burst(Entry *e)
{
        if (e->burst)
                e->garp_sent += burst_get_sent(e->burst);
        e->burst = burst_free(e->burst);
}

static void entry_drop_watch(Entry *e)
{
        if (e->watch) {
                e->l2_requests += claim_watch_get_requests(e->watch);
        }
        e->watch = claim_watch_free(e->watch);
        e->l2_responses += reply_count_get(e->replies);
        e->replies = reply_count_free(e->replies);
}

static void entry_stop(Entry *e)
{
        e->probe = probe_free(e->probe);
        entry_drop_burst(e);
        entry_drop_watch(e);
        e->refresh = sd_event_source_disable_unref(e->refresh);
        e->revet = sd_event_source_disable_unref(e->revet);
        e->vet_claimed = false;
        e->defend = sd_event_source_disable_unref(e->defend);
        e->defend_pending = false;
}

static void entry_free(Entry *e)
{
        entry_stop(e);
        sd_event_source_disable_unref(e->timer);
        free(e->reason);
        free(e);
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *userdata);

/* Arms the entry's one timer `usec` from now. */
static void arm_timer(Entry *e, uint64_t usec)
{
        Announcer *a = e->owner;
        int r;

        if (e->timer) {
                r = sd_event_source_set_time_relative(e->timer, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(e->timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(a->event, &e->timer, CLOCK_MONOTONIC, usec, 1000,
                                               timer_fired, e);
        if (r < 0)
                log_error_errno(r, "announce: cannot arm a timer: %m");
}

static void disarm_timer(Entry *e)
{
        if (e->timer)
                (void)sd_event_source_set_enabled(e->timer, SD_EVENT_OFF);
}

static uint64_t backoff(unsigned attempts, uint64_t first, uint64_t max)
{
        uint64_t d = first;

        for (unsigned i = 1; i < attempts && d < max; i++)
                d *= 2;
        return MIN(d, max);
}

static uint64_t hash_addr(const Announcer *a, u128 addr)
{
        return ht_hash(&a->hkey, &addr, sizeof(addr));
}

/* The entry of addr; *prevp (if given) is the link that points at it in a->entries. */
static Entry *find(const Announcer *a, u128 addr, Entry ***prevp)
{
        uint64_t h = hash_addr(a, addr);

        for (HNode *n = ht_chain(&a->by_addr, h); n; n = n->next) {
                Entry *e = (Entry *)n;
                if (n->hash != h || e->addr != addr)
                        continue;
                if (prevp)
                        *prevp = e->prev ? &e->prev->next : (Entry **)&a->entries;
                return e;
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

        entry_drop_burst(e);
        if (a->settings.garp_count == 0 || e->hushed)
                return 0; /* hushed: handed over, this node no longer speaks for it */
        r = burst_new(&e->burst, e->ifindex, e->mac, e->addr, a->settings.garp_count,
                      a->settings.garp_interval_usec);
        if (r >= 0)
                burst_set_socket(e->burst, a->send_fd);
        if (r >= 0)
                r = burst_attach_event(e->burst, a->event, 0);
        if (r >= 0)
                r = burst_start(e->burst, burst_done, e);
        if (r >= 0 && e->takeover_since) {
                /* the first announcement of a takeover went out (burst_start sends it) */
                uint64_t now = now_usec(a);
                metrics_observe_takeover_latency(now > e->takeover_since ? now - e->takeover_since
                                                                         : 0);
                e->takeover_since = 0;
        }
        return r;
}

static int refresh_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Entry *e = userdata;

        if (e->state == ANN_OWNED && !e->hushed)
                (void)announce_now(e);
        /* a time source fires once: set the next time and enable it again */
        (void)sd_event_source_set_time_relative(s, e->owner->settings.refresh_usec);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void claim_seen(ClaimWatch *w, const uint8_t mac[ETH_ALEN], uint64_t count, int error,
                       void *userdata)
{
        Entry *e = userdata;
        Announcer *a = e->owner;
        char buf[ADDR_STR_MAX], m[MAC_STR_MAX];
        uint64_t now = now_usec(a);

        if (error < 0) {
                log_warning_errno(error, "announce %s: claim watch failed: %m",
                                  addr_format(e->addr, buf));
                return;
        }
        if (e->state == ANN_VETTED) {
                /* another host started using an address vetted but not added: the vet is
                 * void; refused from the timer (the watch cannot be freed in its callback) */
                if (!e->vet_claimed) {
                        e->vet_claimed = true;
                        memcpy(e->claim_mac, mac, ETH_ALEN);
                        arm_timer(e, 0);
                }
                return;
        }
        /* RFC 5227 §2.4 (b)/(c): keep the address; the owner decides on a defence. A
         * flood of claims must not flood the journal: one warning per interval. */
        metrics_counters.foreign_claims++;
        if (e->claim_logged == 0 || now >= e->claim_logged + CLAIM_LOG_INTERVAL_USEC) {
                e->claim_logged = now;
                event_log(EVENT_FOREIGN_CLAIM, LOG_WARNING, &e->addr, NULL,
                          "announce %s: host %s also claims this address (%" PRIu64 " claims seen)",
                          addr_format(e->addr, buf), mac_format(mac, m), count);
        }
        if (a->cb.claimed)
                a->cb.claimed(e->addr, mac, a->userdata);
}

/* Reports a failure to the owner once per distinct reason (a retry that fails the same
 * way says nothing new), and always for a conflict (each probe that still finds the
 * address in use is an Event). */
static void report_refused(Entry *e, const uint8_t *mac, const char *reason)
{
        Announcer *a = e->owner;

        if (!mac && e->reason && strcmp(e->reason, reason) == 0)
                return;
        free(e->reason);
        e->reason = strdup(reason);
        if (mac)
                event_log(EVENT_CONFLICT, LOG_WARNING, &e->addr, NULL, "announce: %s", reason);
        else
                log_warning("announce: %s", reason);
        if (a->cb.refused)
                a->cb.refused(e->addr, mac, reason, a->userdata);
}

/* Could not add or probe it: try again later, from the interface's name. */
static void fail(Entry *e, const char *reason)
{
        entry_stop(e);
        entry_set_state(e, ANN_FAILED);
        e->attempts++;
        arm_timer(e, backoff(e->attempts, RETRY_FIRST_USEC, RETRY_MAX_USEC));
        report_refused(e, NULL, reason);
}

static void succeeded(Entry *e)
{
        e->attempts = 0;
        e->reason = mfree(e->reason);
        disarm_timer(e);
}

/* The address is someone else's here (foreign.h): refused like a conflict, with the
 * reason, and looked at again on the re-probe schedule (it may be removed). */
static void refuse_foreign(Entry *e, const char *reason)
{
        entry_stop(e);
        entry_set_state(e, ANN_REFUSED);
        e->attempts++;
        arm_timer(e, backoff(e->attempts, REPROBE_FIRST_USEC, REPROBE_MAX_USEC));
        report_refused(e, NULL, reason);
}

static void watch_claims(Entry *e)
{
        char buf[ADDR_STR_MAX];
        int r;

        if (e->watch)
                return;
        r = claim_watch_new(&e->watch, e->ifindex, e->mac, e->addr, claim_seen, e);
        if (r >= 0)
                r = claim_watch_attach_hub(e->watch, e->owner->claims);
        if (r < 0) {
                e->watch = claim_watch_free(e->watch);
                log_warning_errno(r, "announce %s: cannot watch for claims: %m",
                                  addr_format(e->addr, buf));
        }
}

/* Another host uses the address (its MAC): refused, probed again later, reported. how:
 * "seen by N probes" or the like. */
static void conflict(Entry *e, const uint8_t *mac, const char *how)
{
        char buf[ADDR_STR_MAX], m[MAC_STR_MAX], reason[320];

        metrics_counters.probe_conflicts++;
        entry_stop(e);
        e->conflicts++;
        e->attempts++;
        uint64_t next = backoff(e->attempts, REPROBE_FIRST_USEC, REPROBE_MAX_USEC);
        snprintf(reason, sizeof(reason),
                 "address %s is in use on the network by %s (%s%" PRIu64 " probe%s; probing "
                 "again in %" PRIu64 " s)",
                 addr_format(e->addr, buf), mac_format(mac, m), how, e->conflicts,
                 e->conflicts == 1 ? "" : "s", next / 1000000);
        entry_set_state(e, ANN_REFUSED);
        arm_timer(e, next);
        report_refused(e, mac, reason);
}

static void start_probe(Entry *e);

static int revet_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Entry *e = userdata;

        e->revet = sd_event_source_disable_unref(e->revet);
        if (e->state == ANN_VETTED && !e->probe)
                start_probe(e); /* stays vetted meanwhile */
        return 0;
}

/* A pre-vetted entry: claims watched, probed again in the background later. */
static void prevet_watch(Entry *e)
{
        Announcer *a = e->owner;

        watch_claims(e);
        e->revet = sd_event_source_disable_unref(e->revet);
        if (sd_event_add_time_relative(a->event, &e->revet, CLOCK_MONOTONIC,
                                       VET_REFRESH_USEC + random_range(0, VET_REFRESH_JITTER_USEC),
                                       1000 * 1000, revet_fired, e) < 0)
                e->revet = NULL;
}

/* A vet passed: vetted now, probed again in the background later. */
static void vetted(Entry *e)
{
        Announcer *a = e->owner;
        bool again = e->state == ANN_VETTED; /* a background re-probe */

        entry_set_state(e, ANN_VETTED);
        e->vetted_at = now_usec(a);
        succeeded(e);
        if (e->prevet)
                prevet_watch(e);
        /* nobody waits for a pre-vet (a Service that gets the address ends it) */
        if (!again && !e->prevet && a->cb.owned)
                a->cb.owned(e->addr, e->ifname, a->userdata);
}

/* A claim seen while vetted (claim_seen() cannot free the watch it is called from):
 * refused now. True if it was. */
static bool settle_claim(Entry *e)
{
        uint8_t mac[ETH_ALEN];

        if (e->state != ANN_VETTED || !e->vet_claimed)
                return false;
        memcpy(mac, e->claim_mac, ETH_ALEN);
        conflict(e, mac, "it claimed the address after it was vetted; ");
        return true;
}

static bool vet_fresh(const Entry *e)
{
        uint64_t now = now_usec(e->owner);
        return e->state == ANN_VETTED && e->vetted_at > 0 && now - e->vetted_at <= VET_MAX_AGE_USEC;
}

/* Puts the address on the interface and announces it (unless its link is down: then it
 * waits, quiet, for the link and the peers; see announcer_release_quiet()). */
static void take(Entry *e)
{
        Announcer *a = e->owner;
        char buf[ADDR_STR_MAX], reason[256];
        int r;

        addr_format(e->addr, buf);
        if (e->link_down) {
                /* Taken while cut off (its peers look dead from here). Announcing it when
                 * the link returns would send every client to this node although the real
                 * owner may well be alive: not added, not claimed, until we know. */
                entry_stop(e);
                entry_set_state(e, ANN_QUIET);
                succeeded(e);
                log_info("announce %s: link %s is down; holding it back", buf, e->ifname);
                return;
        }
        /* a vetted entry may be probing again in the background: its last vet stands */
        e->probe = probe_free(e->probe);
        e->revet = sd_event_source_disable_unref(e->revet);
        e->vet_claimed = false;
        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
        if (r == -EEXIST && !e->added) {
                /* Already there. Adopt it only if mlbd added it (a restart); one that
                 * someone else added (e.g. during the probe) is theirs: refused, never
                 * removed, looked at again later. */
                int k =
                    foreign_check(NULL, 0, a->nl, e->addr, a->node_name, reason, sizeof(reason));
                if (k == FOREIGN_NONE) /* gone meanwhile */
                        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
                else if (k == FOREIGN_MLBD)
                        r = 0;
                else {
                        if (k < 0)
                                snprintf(reason, sizeof(reason),
                                         "address %s is already on %s and mlbd cannot tell "
                                         "whether it added it: %s",
                                         buf, e->ifname, strerror(-k));
                        refuse_foreign(e, reason);
                        return;
                }
        }
        if (r < 0 && r != -EEXIST) {
                snprintf(reason, sizeof(reason), "cannot add %s to %s: %s", buf, e->ifname,
                         strerror(-r));
                fail(e, reason);
                return;
        }
        e->added = true;
        entry_set_state(e, ANN_OWNED);
        succeeded(e);
        log_info("announce %s: now on %s", buf, e->ifname);
        r = announce_now(e);
        if (r < 0)
                log_warning_errno(r, "announce %s: cannot announce on %s: %m", buf, e->ifname);
        watch_claims(e);
        if (!e->replies) {
                r = reply_count_new(&e->replies, a->replies, e->ifindex, e->addr);
                if (r < 0)
                        log_warning_errno(r, "announce %s: cannot count the replies sent: %m", buf);
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
        char buf[ADDR_STR_MAX], reason[320];

        e->probe = probe_free(e->probe);
        switch (result) {
        case PROBE_RESULT_FREE:
                e->probe_first = false;
                e->conflicts = 0;
                if (!e->vet_only)
                        take(e);
                else
                        vetted(e);
                return;
        case PROBE_RESULT_CONFLICT:
                conflict(e, mac, "seen by ");
                return;
        default:
                snprintf(reason, sizeof(reason), "probing %s on %s failed: %s",
                         addr_format(e->addr, buf), e->ifname, strerror(-error));
                fail(e, reason);
                return;
        }
}

static int choose_interface(Announcer *a, Entry *e)
{
        const char *name = e->hint[0] ? e->hint : a->interface;
        NlLink link;
        int r;

        if (name) {
                e->ifindex = (int)if_nametoindex(name);
                if (e->ifindex == 0)
                        return -ENODEV;
        } else {
                uint64_t iteration = 0;
                (void)sd_event_get_iteration(a->event, &iteration);
                r = netlink_route_iface_cached(a->nl, &a->routes, iteration, e->addr, &e->ifindex);
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
        e->link_down = !nl_link_is_up(&link);
        return 0;
}

/* From the start: find the interface (again), then probe or add. */
static void run(Entry *e, bool probe)
{
        Announcer *a = e->owner;
        char buf[ADDR_STR_MAX], reason[256];
        int r;

        entry_stop(e);
        entry_set_state(e, ANN_PROBING);
        r = choose_interface(a, e);
        if (r < 0) {
                snprintf(reason, sizeof(reason), "no interface to announce %s on: %s",
                         addr_format(e->addr, buf), strerror(-r));
                fail(e, reason);
                return;
        }
        /* someone else's here (this node's own address, one added by hand, the default
         * gateway): refused before probing; a failed check leaves it to take()'s EEXIST */
        uint64_t iteration = 0;
        (void)sd_event_get_iteration(a->event, &iteration);
        r = foreign_check(&a->foreign, iteration, a->nl, e->addr, a->node_name, reason,
                          sizeof(reason));
        if (r < 0)
                log_warning_errno(r, "announce %s: cannot tell whether it is in use here: %m",
                                  addr_format(e->addr, buf));
        if (r == FOREIGN_LOCAL || r == FOREIGN_GATEWAY) {
                refuse_foreign(e, reason);
                return;
        }
        if (!probe) {
                take(e);
                return;
        }
        start_probe(e);
}

static void start_probe(Entry *e)
{
        Announcer *a = e->owner;
        char buf[ADDR_STR_MAX];
        int r;

        ProbeConfig cfg = {
            .probe_num = MLBD_PROBE_NUM,
            .probe_wait_usec = MLBD_PROBE_WAIT_USEC,
            .probe_min_usec = MLBD_PROBE_MIN_USEC,
            .probe_max_usec = MLBD_PROBE_MAX_USEC,
            .announce_wait_usec = MLBD_ANNOUNCE_WAIT_USEC,
        };
        r = probe_new(&e->probe, e->ifindex, e->mac, e->addr, &cfg);
        if (r >= 0)
                r = probe_attach_event(e->probe, a->event, 0);
        if (r >= 0)
                r = probe_start(e->probe, probe_done, e);
        if (r < 0) {
                e->probe = probe_free(e->probe);
                probe_done(NULL, PROBE_RESULT_ERROR, NULL, r, e);
                return;
        }
        log_debug("announce %s: probing on %s", addr_format(e->addr, buf), e->ifname);
}

/* Runs the entry again now: a failed one from its interface's name, a refused one with
 * a new probe. */
static void retry(Entry *e)
{
        bool probe = e->state == ANN_REFUSED || e->vet_only || e->probe_first;

        disarm_timer(e);
        run(e, probe);
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Entry *e = userdata;

        switch (e->state) {
        case ANN_FAILED:
        case ANN_REFUSED:
                retry(e);
                break;
        case ANN_QUIET:
                if (!e->link_down)
                        take(e); /* nobody claimed it since the link came back */
                break;
        case ANN_VETTED:
                (void)settle_claim(e);
                break;
        default:
                break;
        }
        return 0;
}

static int start(Announcer *a, u128 addr, const char *ifname, bool probe, bool vet_only,
                 bool prevet)
{
        Entry *e = calloc(1, sizeof(*e));

        if (!e)
                return -ENOMEM;
        e->owner = a;
        e->addr = addr;
        e->state = ANN_PROBING;
        e->vet_only = vet_only;
        e->prevet = prevet;
        e->probe_first = probe;
        if (ifname)
                snprintf(e->hint, sizeof(e->hint), "%s", ifname);
        e->next = a->entries;
        if (e->next)
                e->next->prev = e;
        a->entries = e;
        e->h.hash = hash_addr(a, addr);
        ht_insert(&a->by_addr, &e->h);
        run(e, probe);
        return 0;
}

int announcer_want(Announcer *a, u128 addr, const char *ifname, bool probe)
{
        Entry *e = find(a, addr, NULL);
        char buf[ADDR_STR_MAX];

        if (!e)
                return start(a, addr, ifname, probe, false, false);
        if (e->hushed) {
                /* ours again before we let go (the new owner left, or never took it):
                 * clients may have followed its announcements */
                e->hushed = false;
                if (e->state == ANN_OWNED) {
                        log_info("announce %s: ours again; announcing on %s",
                                 addr_format(addr, buf), e->ifname);
                        (void)announce_now(e);
                        if (a->settings.refresh_usec > 0 && !e->refresh)
                                (void)sd_event_add_time_relative(
                                    a->event, &e->refresh, CLOCK_MONOTONIC,
                                    a->settings.refresh_usec, 0, refresh_fired, e);
                }
        }
        if (strcmp(e->hint, ifname ? ifname : "") != 0 &&
            (e->state == ANN_FAILED || e->state == ANN_REFUSED)) {
                /* the configuration names another interface now: look there at once */
                snprintf(e->hint, sizeof(e->hint), "%s", ifname ? ifname : "");
                e->attempts = 0;
                retry(e);
        }
        e->prevet = false;
        if (e->vet_only) {
                e->vet_only = false; /* a probe under way adds it when it passes */
                if (settle_claim(e))
                        ; /* refused: probed again later, as any conflict */
                else if (e->state == ANN_VETTED && (!probe || vet_fresh(e)))
                        take(e);
                else if (e->state == ANN_VETTED) {
                        e->probe_first = true; /* too old: probe again, then add */
                        run(e, true);
                }
        }
        return 0;
}

int announcer_vet(Announcer *a, u128 addr, const char *ifname)
{
        Entry *e = find(a, addr, NULL);

        if (!e)
                return start(a, addr, ifname, true, true, false);
        if (settle_claim(e) || !e->prevet)
                return 0;
        /* a pre-vetted address a Service holds now, which another node will own: no more
         * background probes or claims (that node's answers and announcements are no
         * conflict); a vet too old to stand for a probe is probed again */
        e->prevet = false;
        e->revet = sd_event_source_disable_unref(e->revet);
        entry_drop_watch(e);
        if (e->state == ANN_VETTED && !vet_fresh(e)) {
                e->probe_first = true;
                run(e, true);
        } else if (e->state == ANN_VETTED)
                e->probe = probe_free(e->probe);
        return 0;
}

int announcer_prevet(Announcer *a, u128 addr, const char *ifname)
{
        Entry *e = find(a, addr, NULL);
        int r;

        if (!e) {
                r = start(a, addr, ifname, true, true, true);
                return r < 0 ? r : 1;
        }
        if (!e->vet_only)
                return 0; /* wanted (owned, quiet, failed ...): not a vet */
        if (e->prevet) {
                (void)settle_claim(e);
                return 1;
        }
        /* vetted for a Service that is gone before its status was written: pre-vetted
         * from now on */
        e->prevet = true;
        if (e->state == ANN_VETTED && !vet_fresh(e)) {
                e->probe_first = true;
                run(e, true);
        } else if (e->state == ANN_VETTED)
                prevet_watch(e);
        return 1;
}

bool announcer_vet_fresh(const Announcer *a, u128 addr)
{
        const Entry *e = find(a, addr, NULL);
        return e && vet_fresh(e);
}

void announcer_hush(Announcer *a, u128 addr)
{
        Entry *e = find(a, addr, NULL);
        char buf[ADDR_STR_MAX];

        if (!e || e->state != ANN_OWNED || e->hushed)
                return;
        if (e->burst && burst_get_sent(e->burst) < a->settings.garp_count)
                log_debug("announce %s: handed over; the rest of the burst is not sent",
                          addr_format(addr, buf));
        e->hushed = true;
        entry_drop_burst(e);
        e->refresh = sd_event_source_disable_unref(e->refresh);
        e->defend = sd_event_source_disable_unref(e->defend);
        e->defend_pending = false;
}

void announcer_reannounce(Announcer *a, u128 addr)
{
        Entry *e = find(a, addr, NULL);
        char buf[ADDR_STR_MAX];

        if (!e || e->state != ANN_OWNED || e->hushed)
                return;
        log_info("announce %s: announcing again on %s", addr_format(addr, buf), e->ifname);
        (void)announce_now(e);
}

static int defend_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Entry *e = userdata;

        e->defend = sd_event_source_disable_unref(e->defend);
        if (e->state == ANN_OWNED && e->defend_pending) {
                e->defend_pending = false;
                e->defend_until = now_usec(e->owner) + DEFEND_INTERVAL_USEC;
                (void)announce_now(e);
        }
        return 0;
}

void announcer_defend(Announcer *a, u128 addr)
{
        Entry *e = find(a, addr, NULL);
        uint64_t now = now_usec(a);
        char buf[ADDR_STR_MAX];

        if (!e || e->state != ANN_OWNED || e->hushed)
                return;
        if (now >= e->defend_until) {
                log_info("announce %s: defending it on %s", addr_format(addr, buf), e->ifname);
                e->defend_until = now + DEFEND_INTERVAL_USEC;
                (void)announce_now(e);
                return;
        }
        e->defend_pending = true;
        if (!e->defend && sd_event_add_time(a->event, &e->defend, CLOCK_MONOTONIC, e->defend_until,
                                            1000, defend_fired, e) < 0)
                e->defend = NULL;
}

void announcer_retry(Announcer *a, u128 addr)
{
        Entry *e = find(a, addr, NULL);

        if (e && (e->state == ANN_FAILED || e->state == ANN_REFUSED)) {
                e->attempts = 0;
                retry(e);
        }
}

void announcer_retry_all(Announcer *a)
{
        for (Entry *e = a->entries, *next; e; e = next) {
                next = e->next;
                if (e->state == ANN_FAILED || e->state == ANN_REFUSED) {
                        e->attempts = 0;
                        retry(e);
                }
        }
}

void announcer_release_quiet(Announcer *a)
{
        for (Entry *e = a->entries; e; e = e->next)
                if (e->state == ANN_QUIET && !e->link_down)
                        take(e);
}

static void entry_remove(Announcer *a, Entry *e, Entry **prevp)
{
        char buf[ADDR_STR_MAX];

        entry_stop(e);
        /* only what mlbd added: never an address someone else put there */
        if (e->added) {
                int r = netlink_addr_del(a->nl, e->ifindex, e->addr);
                if (r < 0 && r != -EADDRNOTAVAIL && r != -ENODEV)
                        log_warning_errno(r, "announce %s: cannot remove it from %s: %m",
                                          addr_format(e->addr, buf), e->ifname);
                else {
                        metrics_counters.releases++;
                        event_log(EVENT_RELEASE, LOG_INFO, &e->addr, NULL,
                                  "announce %s: removed from %s", addr_format(e->addr, buf),
                                  e->ifname);
                }
        }
        *prevp = e->next;
        if (e->next)
                e->next->prev = e->prev;
        ht_remove(&a->by_addr, &e->h);
        entry_free(e);
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
                if (state == _ANN_STATE_INVALID || e->state == state)
                        cb(e->addr, e->ifname, userdata);
}

void announcer_note_takeover(Announcer *a, u128 addr, uint64_t since_usec)
{
        Entry *e = find(a, addr, NULL);

        if (!e || !since_usec)
                return;
        if (e->state == ANN_OWNED && (e->burst || e->garp_sent)) {
                /* announcer_want() took it at once (no probe): announced just now */
                uint64_t now = now_usec(a);
                metrics_observe_takeover_latency(now > since_usec ? now - since_usec : 0);
                return;
        }
        e->takeover_since = since_usec;
}

void announcer_foreach_stats(const Announcer *a, AnnState state,
                             void (*cb)(u128 addr, const AnnStats *st, void *userdata),
                             void *userdata)
{
        for (Entry *e = a->entries; e; e = e->next) {
                if (state != _ANN_STATE_INVALID && e->state != state)
                        continue;
                AnnStats st = {
                    .ifname = e->ifname,
                    .garp_sent = e->garp_sent + (e->burst ? burst_get_sent(e->burst) : 0),
                    .requests =
                        e->l2_requests + (e->watch ? claim_watch_get_requests(e->watch) : 0),
                    .responses = e->l2_responses + reply_count_get(e->replies),
                };
                cb(e->addr, &st, userdata);
        }
}

/* The entry's link is gone, or its address cannot be put back: the kernel no longer has
 * the address, so heartbeats must not claim it; retried by name. */
static void link_lost(Entry *e, const char *why)
{
        char buf[ADDR_STR_MAX], reason[320];

        e->added = false;
        snprintf(reason, sizeof(reason), "%s on %s: %s", addr_format(e->addr, buf), e->ifname, why);
        fail(e, reason);
}

static void link_up(Announcer *a, Entry *e)
{
        char buf[ADDR_STR_MAX], reason[256];
        int r;

        e->link_down = false;
        switch (e->state) {
        case ANN_OWNED:
                /* ours before the cut: clients may announce-follow it at once */
                log_info("announce %s: link %s is up again; announcing", addr_format(e->addr, buf),
                         e->ifname);
                r = netlink_addr_add(a->nl, e->ifindex, e->addr);
                if (r < 0 && r != -EEXIST) {
                        snprintf(reason, sizeof(reason), "cannot add it: %s", strerror(-r));
                        link_lost(e, reason);
                        return;
                }
                (void)announce_now(e);
                break;
        case ANN_QUIET:
                /* taken while cut off: wait for the peers (the manager releases it when
                 * they are heard) or, at most, until they would be declared dead */
                log_info("announce %s: link %s is up; waiting for the peers before announcing",
                         addr_format(e->addr, buf), e->ifname);
                arm_timer(e, a->settings.quiet_usec);
                break;
        case ANN_FAILED:
        case ANN_REFUSED:
                e->attempts = 0;
                retry(e);
                break;
        default:
                break;
        }
}

static int cmp_nladdr(const void *x, const void *y)
{
        const NlAddr *a = x, *b = y;

        if (a->addr != b->addr)
                return a->addr < b->addr ? -1 : 1;
        return (a->ifindex > b->ifindex) - (a->ifindex < b->ifindex);
}

/* Events were lost: every owned address must still be in place. One sorted dump, and
 * only the missing ones are added back and announced: re-adding each (EEXIST) costs an
 * IPv6 add's O(groups of the interface) in the kernel, O(N^2) for N addresses. */
static void overrun(Announcer *a)
{
        _cleanup_free_ NlAddr *have = NULL;
        char reason[256];
        size_t n = 0;
        int r = netlink_addr_dump(a->nl, AF_UNSPEC, &have, &n);

        if (r < 0) {
                log_warning_errno(r, "announce: cannot list the addresses after lost events: %m");
                n = 0; /* then every owned one is put back, as if none were there */
        } else if (n > 0)
                qsort(have, n, sizeof(*have), cmp_nladdr);
        for (Entry *e = a->entries, *next; e; e = next) {
                NlAddr key = {.ifindex = e->ifindex, .addr = e->addr};

                next = e->next;
                if (e->state != ANN_OWNED ||
                    (n > 0 && bsearch(&key, have, n, sizeof(*have), cmp_nladdr)))
                        continue;
                r = netlink_addr_add(a->nl, e->ifindex, e->addr);
                if (r >= 0)
                        (void)announce_now(e);
                else if (r != -EEXIST) {
                        snprintf(reason, sizeof(reason), "cannot put it back: %s", strerror(-r));
                        link_lost(e, reason);
                }
        }
}

/* An address removed from under us: put it back (O(1): the entry by address). */
static void addr_removed(Announcer *a, const NlAddr *addr)
{
        Entry *e = find(a, addr->addr, NULL);
        char buf[ADDR_STR_MAX], reason[256];
        int r;

        if (!e || e->state != ANN_OWNED || addr->ifindex != e->ifindex)
                return;
        log_warning("announce %s: removed from %s by someone else; putting it back",
                    addr_format(e->addr, buf), e->ifname);
        r = netlink_addr_add(a->nl, e->ifindex, e->addr);
        if (r < 0 && r != -EEXIST) {
                snprintf(reason, sizeof(reason), "cannot put it back: %s", strerror(-r));
                link_lost(e, reason);
        } else
                (void)announce_now(e);
}

void announcer_netlink_event(Announcer *a, const NlEvent *ev)
{
        char buf[ADDR_STR_MAX];

        switch (ev->type) {
        case NL_EVENT_ADDR_DEL:
                return addr_removed(a, &ev->addr);
        case NL_EVENT_OVERRUN:
                return overrun(a);
        case NL_EVENT_LINK_DOWN:
        case NL_EVENT_LINK_UP:
        case NL_EVENT_LINK_GONE:
                break;
        default:
                return; /* our own additions among them: one event per address added */
        }
        for (Entry *e = a->entries, *next; e; e = next) {
                next = e->next; /* a retry may call back into the manager */
                switch (ev->type) {
                case NL_EVENT_LINK_DOWN:
                        if (ev->link.ifindex != e->ifindex)
                                break;
                        e->link_down = true;
                        if (e->state == ANN_OWNED)
                                log_warning("announce %s: link %s is down",
                                            addr_format(e->addr, buf), e->ifname);
                        break;
                case NL_EVENT_LINK_UP:
                        /* the same link, one of the asked-for name made anew, or any
                         * link for an address placed by route */
                        if (ev->link.ifindex == e->ifindex ||
                            (e->state == ANN_FAILED &&
                             (!e->hint[0] || strcmp(ev->link.name, e->hint) == 0)))
                                link_up(a, e);
                        break;
                case NL_EVENT_LINK_GONE:
                        if (ev->link.ifindex != e->ifindex || e->state == ANN_FAILED)
                                break;
                        link_lost(e, "the interface is gone");
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
        free(a->node_name);
        a->node_name = s->node_name ? strdup(s->node_name) : NULL;
        a->settings = *s;
        a->settings.interface = a->interface;
        a->settings.node_name = a->node_name;
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
        if (ht_key_init(&a->hkey) < 0 || ht_init(&a->by_addr, 64) < 0 ||
            claim_hub_new(&a->claims, e, 0) < 0 || reply_hub_new(&a->replies, e, 0) < 0) {
                claim_hub_free(a->claims);
                ht_done(&a->by_addr);
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
                entry_free(e);
        }
        ht_done(&a->by_addr);
        claim_hub_free(a->claims);
        reply_hub_free(a->replies);
        closep(&a->send_fd);
        free(a->interface);
        free(a->node_name);
        foreign_cache_done(&a->foreign);
        nl_route_cache_done(&a->routes);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}
