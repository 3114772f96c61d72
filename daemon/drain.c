/* SPDX-License-Identifier: MIT */
/*
 * Draining: a handover between two live nodes that keeps TCP connections (docs/cluster.md
 * "Draining"). The node that takes an address from a live holder forwards the segments of
 * that holder's connections to it (handover-rules.h) from before its first announcement
 * until the holder stops listing the address; the holder, once the new owner lists the
 * address and the linger is over, stops answering ARP/NS for it and keeps it until none of
 * its TCP connections on it may hear from their client any more (tcp-busy.h), at most
 * drain_ms. drain_ms = 0 turns both off.
 */
#include "manager-private.h"
#include "tcp-busy.h"

#define DRAIN_POLL_USEC (10 * 1000)

static void busy_cb(u128 local, void *userdata)
{
        (void)addrset_add(userdata, local);
}

/* Whether h's connections are over (or the drain is: bound, failure); records it. */
static bool check_drained(Manager *m, Handover *h, const AddrSet *busy, uint64_t now)
{
        char buf[ADDR_STR_MAX];

        if (h->drained)
                return true;
        if (!busy || !addrset_has(busy, h->addr))
                h->drained = true;
        else if (now >= h->drain_started + (uint64_t)m->conf->drain_ms * 1000) {
                log_info("%s: TCP connections still open after drain_ms = %u; removing it",
                         addr_format(h->addr, buf), m->conf->drain_ms);
                h->drained = true;
        }
        if (h->drained && h->drain_said)
                log_info("%s: drained in %" PRIu64 " ms", addr_format(h->addr, buf),
                         (now - h->drain_started) / 1000);
        return h->drained;
}

/* The busy local addresses now, in *busy; false when they cannot be known (logged at
 * debug: draining then ends at once, as with drain_ms = 0). */
static bool busy_now(AddrSet *busy)
{
        int r = tcp_busy_foreach(busy_cb, busy);

        if (r < 0)
                log_debug_errno(r, "sock_diag: cannot list TCP connections: %m");
        return r >= 0;
}

static void arm_drain_timer(Manager *m)
{
        (void)sd_event_source_set_time_relative(m->drain_timer, DRAIN_POLL_USEC);
        (void)sd_event_source_set_enabled(m->drain_timer, SD_EVENT_ONESHOT);
}

bool drain_done(Manager *m, Handover *h)
{
        AddrSet busy = {0};
        char buf[ADDR_STR_MAX];
        bool done;

        if (m->conf->drain_ms == 0 || h->drained)
                return true;
        if (!h->hushed) {
                /* from now on no ARP/NS answer pulls a client back here; and a node
                 * letting go forwards nothing for it (two nodes forwarding one address
                 * to each other would pass a segment back and forth) */
                if (handover_rules_forward(m->rules, h->addr, 0) < 0 ||
                    handover_rules_hush(m->rules, h->addr, true) < 0 ||
                    handover_rules_commit(m->rules) < 0) {
                        (void)handover_rules_hush(m->rules, h->addr, false);
                        return h->drained = true;
                }
                h->hushed = true;
                h->drain_started = manager_now(m);
        }
        done = check_drained(m, h, busy_now(&busy) ? &busy : NULL, manager_now(m));
        addrset_done(&busy);
        if (done)
                return true;
        if (!h->drain_said) {
                log_info("%s: no longer answering for it; keeping it for its TCP connections "
                         "under way (at most %u ms)",
                         addr_format(h->addr, buf), m->conf->drain_ms);
                h->drain_said = true;
        }
        arm_drain_timer(m);
        return false;
}

int manager_on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;
        AddrSet busy = {0};
        bool known = busy_now(&busy), any_done = false, any_left = false;
        uint64_t now = manager_now(m);

        for (size_t i = 0; i < m->n_handovers; i++) {
                Handover *h = &m->handovers[i];
                if (!h->hushed || h->drained)
                        continue;
                if (check_drained(m, h, known ? &busy : NULL, now))
                        any_done = true;
                else
                        any_left = true;
        }
        addrset_done(&busy);
        if (any_left)
                arm_drain_timer(m);
        if (any_done) {
                if (m->stopping)
                        manager_stop_progress(m);
                else
                        manager_schedule_reconcile(m);
        }
        return 0;
}

void drain_unhush(Manager *m, Handover *h)
{
        if (!h->hushed)
                return;
        (void)handover_rules_hush(m->rules, h->addr, false);
        (void)handover_rules_commit(m->rules);
        h->hushed = false;
}

void drain_forward_from_holder(Manager *m, u128 addr)
{
        const PeerInfo *h = cluster_holder(m->cluster, addr);
        char buf[ADDR_STR_MAX];

        if (m->conf->drain_ms == 0 || !h || !h->alive || addr_is_v4(h->addr) != addr_is_v4(addr))
                return;
        if (handover_rules_forward(m->rules, addr, h->addr) < 0 ||
            handover_rules_commit(m->rules) < 0)
                return; /* logged: its connections are reset, as without draining */
        log_debug("%s: forwarding the TCP connections of %s to it", addr_format(addr, buf),
                  h->name);
}

static void prune_cb(u128 addr, u128 to, void *userdata)
{
        Manager *m = userdata;
        const PeerInfo *h = cluster_holder(m->cluster, addr);
        AnnState st;

        if (!(announcer_has(m->announcer, addr, &st, NULL) && st == ANN_OWNED) || !h || !h->alive ||
            h->addr != to)
                (void)handover_rules_forward(m->rules, addr, 0);
}

void drain_prune_forwards(Manager *m)
{
        handover_rules_foreach_forward(m->rules, prune_cb, m);
        (void)handover_rules_commit(m->rules);
}
