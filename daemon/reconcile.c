/* SPDX-License-Identifier: MIT */
/*
 * Reconcile: from the model (Services, EndpointSlices, Nodes, Namespaces) to allocations,
 * from allocations and the cluster's view to the addresses this node holds, and on to
 * the announcer. One deferred, coalesced step (manager_schedule_reconcile()); nothing
 * else adds or removes service addresses. decide() holds the per-address rules
 * (docs/cluster.md).
 */
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "event-log.h"
#include "foreign.h"
#include "manager-private.h"
#include "metrics-counters.h"
#include "util/htable.h"
#include "util/log.h"

static void fill_request(Manager *m, const Service *s, const ServiceRequest *sr, AllocRequest *r,
                         AllocPort *ports, char *selector, size_t selector_len)
{
        const Namespace *ns = model_namespace(m->model, s->meta.namespace);
        size_t n = 0;

        *r = (AllocRequest){
            .key = s->meta.key,
            .namespace = s->meta.namespace,
            .service_labels = &s->meta.labels,
            .namespace_labels = ns ? &ns->meta.labels : NULL,
            .pool = sr->pool,
            .n_requested = sr->n_addresses,
            .requested_source = sr->addresses_source,
            .policy = (AllocFamilyPolicy)s->ip_family_policy,
            .n_families = s->n_ip_families,
            .sharing_key = sr->sharing_key,
            .traffic_local = s->external_traffic_policy == TRAFFIC_LOCAL,
        };
        memcpy(r->requested, sr->addresses, sizeof(r->requested));
        memcpy(r->families, s->ip_families, sizeof(r->families));
        /* control-proto.c refuses more ports and longer selectors than these */
        for (size_t i = 0; i < s->n_ports && i < CTL_SERVICE_PORTS_MAX; i++) {
                static const uint8_t proto[] = {[PROTO_TCP] = IPPROTO_TCP,
                                                [PROTO_UDP] = IPPROTO_UDP,
                                                [PROTO_SCTP] = IPPROTO_SCTP};
                ports[i] = (AllocPort){proto[s->ports[i].protocol], s->ports[i].port};
                n++;
        }
        r->ports = ports;
        r->n_ports = n;
        /* spec.selector as sorted "k=v,..." for MetalLB's Local sharing rule */
        selector[0] = 0;
        const Labels *sel = &s->selector;
        bool used[CTL_SELECTOR_LABELS_MAX] = {0};
        for (size_t k = 0; k < sel->n && k < CTL_SELECTOR_LABELS_MAX; k++) {
                size_t best = SIZE_MAX;
                for (size_t j = 0; j < sel->n && j < CTL_SELECTOR_LABELS_MAX; j++)
                        if (!used[j] && (best == SIZE_MAX ||
                                         strcmp(sel->items[j].key, sel->items[best].key) < 0))
                                best = j;
                used[best] = true;
                size_t l = strlen(selector);
                snprintf(selector + l, selector_len - l, "%s%s=%s", l ? "," : "",
                         sel->items[best].key, sel->items[best].value);
        }
        r->pod_selector = selector;
}

/* The interface to announce addresses of `pool` on: the first interface that exists here
 * among those the pool's announcement rule lists (L2Advertisement `interfaces`, or the
 * native pool's `interface`); the first listed one when none exists here (the announcer
 * then refuses with "no such device"); NULL when the rule lists none (the announcer picks
 * the interface whose subnet holds the address, else the default-route one). */
static const char *pool_interface(Manager *m, size_t pool)
{
        const PoolSet *ps = allocator_pools(m->alloc);
        const char *listed = NULL;

        for (size_t i = 0; i < ps->n_adverts; i++) {
                const Advert *a = &ps->adverts[i];
                bool covers = false;
                for (size_t k = 0; k < a->n_pools && !covers; k++)
                        covers = a->pools[k] == pool;
                for (size_t k = 0; covers && k < a->n_interfaces; k++) {
                        if (if_nametoindex(a->interfaces[k]) > 0)
                                return a->interfaces[k];
                        if (!listed)
                                listed = a->interfaces[k];
                }
        }
        return listed;
}

bool restored_owned(Manager *m, u128 addr)
{
        for (size_t i = 0; m->restored && i < m->restored->n_owned; i++)
                if (m->restored->owned[i].addr == addr)
                        return true;
        return false;
}

/* SipHash under one random key per process: addresses in a Service's request are chosen
 * by users, so they must not be able to make probe runs long. */
static uint64_t addrset_hash(u128 a)
{
        static HKey key;
        static bool have_key;

        if (!have_key)
                have_key = ht_key_init(&key) >= 0; /* without it: a fixed key, still correct */
        return ht_hash(&key, &a, sizeof(a));
}

/* The index slot holding a, or the empty slot where it would go (linear probing). */
static size_t addrset_slot(const AddrSet *d, u128 a)
{
        size_t mask = d->n_index - 1;

        for (size_t i = addrset_hash(a) & mask;; i = (i + 1) & mask)
                if (d->index[i] == 0 || d->addrs[d->index[i] - 1] == a)
                        return i;
}

/* Rebuilds the index for at least `want` addresses; false when memory is short (the set
 * then has no index and is searched linearly, as before). */
static bool addrset_reindex(AddrSet *d, size_t want)
{
        size_t nb = 16;

        while (nb < 2 * want)
                nb *= 2;
        free(d->index);
        d->index = want < UINT32_MAX ? calloc(nb, sizeof(*d->index)) : NULL;
        d->n_index = d->index ? nb : 0;
        for (size_t i = 0; d->index && i < d->n; i++)
                d->index[addrset_slot(d, d->addrs[i])] = (uint32_t)(i + 1);
        return d->index;
}

bool addrset_has(const AddrSet *d, u128 a)
{
        if (d->n_index)
                return d->index[addrset_slot(d, a)] != 0;
        for (size_t i = 0; i < d->n; i++)
                if (d->addrs[i] == a)
                        return true;
        return false;
}

int addrset_add(AddrSet *d, u128 a)
{
        if (addrset_has(d, a))
                return 0;
        if (GROW(d->addrs, d->cap, d->n + 1) < 0)
                return -ENOMEM;
        d->addrs[d->n++] = a;
        if (d->n_index < 2 * d->n)
                (void)addrset_reindex(d, d->cap);
        else
                d->index[addrset_slot(d, a)] = (uint32_t)d->n;
        return 0;
}

/* Empties index slot i, moving later entries of its probe run back (no tombstones). */
static void addrset_unslot(AddrSet *d, size_t i)
{
        size_t mask = d->n_index - 1;

        for (size_t j = (i + 1) & mask; d->index[j]; j = (j + 1) & mask) {
                size_t k = addrset_hash(d->addrs[d->index[j] - 1]) & mask;
                /* an entry whose home lies cyclically in (i, j] stays */
                if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                        continue;
                d->index[i] = d->index[j];
                i = j;
        }
        d->index[i] = 0;
}

bool addrset_remove(AddrSet *d, u128 a)
{
        size_t i;

        if (!d->n_index) {
                for (i = 0; i < d->n && d->addrs[i] != a; i++)
                        ;
        } else {
                size_t s = addrset_slot(d, a);
                if (!d->index[s])
                        return false;
                i = d->index[s] - 1;
                addrset_unslot(d, s);
        }
        if (i >= d->n)
                return false;
        if (i != d->n - 1) { /* the last one takes its place */
                if (d->n_index)
                        d->index[addrset_slot(d, d->addrs[d->n - 1])] = (uint32_t)(i + 1);
                d->addrs[i] = d->addrs[d->n - 1];
        }
        d->n--;
        return true;
}

void addrset_clear(AddrSet *d)
{
        d->n = 0;
        if (d->n_index)
                memset(d->index, 0, d->n_index * sizeof(*d->index));
}

void addrset_done(AddrSet *d)
{
        free(d->addrs);
        free(d->index);
        *d = (AddrSet){0};
}

uint64_t manager_now(Manager *m)
{
        uint64_t t = 0;
        (void)sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static void arm_handover_timer(Manager *m, uint64_t when)
{
        uint64_t cur = 0;

        if (m->handover_timer && sd_event_source_get_enabled(m->handover_timer, NULL) > 0 &&
            sd_event_source_get_time(m->handover_timer, &cur) >= 0 && cur <= when)
                return;
        if (m->handover_timer) {
                (void)sd_event_source_set_time(m->handover_timer, when);
                (void)sd_event_source_set_enabled(m->handover_timer, SD_EVENT_ONESHOT);
        }
}

static Handover *handover_get(Manager *m, u128 addr, bool *created)
{
        *created = false;
        for (size_t i = 0; i < m->n_handovers; i++)
                if (m->handovers[i].addr == addr)
                        return &m->handovers[i];
        if (GROW(m->handovers, m->cap_handovers, m->n_handovers + 1) < 0)
                return NULL;
        *created = true;
        m->handovers[m->n_handovers] = (Handover){.addr = addr, .since = manager_now(m)};
        return &m->handovers[m->n_handovers++];
}

/* The new owner lists addr in its heartbeats: it has added the address and sent its first
 * announcement, so new requests go there. This node still answers what is already on its
 * way here (a request queued for a service that has not replied yet, or a short TCP
 * exchange under way, would be lost with the address) for handover_linger() more: 50 ms,
 * at most dead_after_ms (two nodes answer ARP meanwhile). The new owner announces again
 * when this node stops listing it (the contested rule), for a client that resolved the
 * address here meanwhile. Returns whether the linger is over. */
static uint64_t handover_linger(Manager *m)
{
        return MIN(50 * 1000ULL, (uint64_t)m->conf->dead_after_ms * 1000);
}

bool handover_linger_done(Manager *m, u128 addr)
{
        uint64_t now = manager_now(m);
        bool created;
        Handover *h = handover_get(m, addr, &created);

        if (!h)
                return true;
        if (h->listed == 0)
                h->listed = now;
        if (now >= h->listed + handover_linger(m))
                return drain_done(m, h);
        arm_handover_timer(m, h->listed + handover_linger(m));
        return false;
}

/* Make before break: whether this node may let go of addr, whose owner is now node o of
 * the cluster view (-1: nobody may announce it). It keeps the address until the owner
 * holds it: an owner that cannot take it is replaced by a stand-in after STANDIN_GRACE
 * (effective_owner()), and if that is this node, it keeps the address for good. */
static bool handover_done(Manager *m, u128 addr, ssize_t o)
{
        bool created;
        Handover *h;

        if (o < 0)
                return true;
        if (cluster_node_holds(m->cluster, (size_t)o, addr))
                return handover_linger_done(m, addr);
        h = handover_get(m, addr, &created);
        if (!h)
                return true;
        if (created) {
                char buf[ADDR_STR_MAX];
                log_info("%s: node %s owns it now; keeping it until that node holds it",
                         addr_format(addr, buf), cluster_view(m->cluster)->names[o]);
        }
        return false;
}

static uint64_t standin_grace(Manager *m)
{
        return (2 * (uint64_t)m->conf->dead_after_ms + 1000) * 1000;
}

/* Since when peer `node` owns addr without holding it (recorded now when new). */
static uint64_t unheld_since(Manager *m, u128 addr, const char *node)
{
        for (size_t i = 0; i < m->n_unheld; i++)
                if (m->unheld[i].addr == addr && strcmp(m->unheld[i].node, node) == 0) {
                        m->unheld[i].seen = true;
                        return m->unheld[i].since;
                }
        uint64_t now = manager_now(m);
        char *copy = strdup(node);
        if (!copy || GROW(m->unheld, m->cap_unheld, m->n_unheld + 1) < 0) {
                free(copy);
                return now;
        }
        m->unheld[m->n_unheld++] = (Unheld){addr, copy, now, true};
        return now;
}

/* Forgets the records no reconcile step asked for (owners that hold now, addresses gone). */
static void unheld_prune(Manager *m)
{
        for (size_t i = 0; i < m->n_unheld;)
                if (!m->unheld[i].seen) {
                        free(m->unheld[i].node);
                        m->unheld[i] = m->unheld[--m->n_unheld];
                } else
                        m->unheld[i++].seen = false;
}

/*
 * The node that announces addr: its owner by rendezvous hashing, unless that is a peer
 * that has owned it for STANDIN_GRACE without holding it (it cannot: another host answers
 * its probe, it has no interface or route for the address, adding failed). Then the next
 * live eligible node in rank stands in, as every node computes alike; the owner takes
 * the address back, make before break, once it can. *standin: o is such a stand-in.
 */
static ssize_t effective_owner(Manager *m, u128 addr, size_t pool, const Service *s,
                               const OwnerView *v, bool *standin)
{
        const PoolSet *ps = allocator_pools(m->alloc);
        OwnerView w = *v;
        uint64_t now = manager_now(m), grace = standin_grace(m);
        char buf[ADDR_STR_MAX];
        ssize_t o;

        w.exclusion = (m->conf->ignore_exclude_lb ? OWNERSHIP_IGNORE_EXCLUDE_LB : 0) |
                      (m->conf->exclude_not_ready ? OWNERSHIP_EXCLUDE_NOT_READY : 0);
        o = address_owner(ps, pool, m->model, s, addr, &w);

        *standin = false;
        for (size_t k = 0; o > 0 && k < v->n; k++) {
                if (cluster_node_holds(m->cluster, (size_t)o, addr))
                        break;
                uint64_t since = unheld_since(m, addr, v->names[o]);
                if (now < since + grace) {
                        arm_handover_timer(m, since + grace);
                        break;
                }
                if (!*standin) {
                        if (GROW(m->standin_live, m->cap_standin_live, v->n) < 0)
                                break;
                        memcpy(m->standin_live, v->live, v->n * sizeof(bool));
                        w.live = m->standin_live;
                }
                log_debug("%s: owner %s has not held it for %" PRIu64
                          " ms; the next node stands in",
                          addr_format(addr, buf), v->names[o], (now - since) / 1000);
                m->standin_live[o] = false;
                *standin = true;
                o = address_owner(ps, pool, m->model, s, addr, &w);
        }
        return o;
}

void handover_forget(Manager *m, u128 addr)
{
        for (size_t i = 0; i < m->n_handovers; i++)
                if (m->handovers[i].addr == addr) {
                        drain_unhush(m, &m->handovers[i]);
                        m->handovers[i] = m->handovers[--m->n_handovers];
                        return;
                }
}

/* Another node holds addr too: when it lets go, announce again (clients may still point
 * at that node). held: this node owned and announced it before the peer listed it, so the
 * peer took it while this node looked dead to it (a loop or link stall past dead_after_ms)
 * and announced it: clients follow the peer now, and the peer lets go once this node's
 * heartbeats list it again plus the 50 ms linger, sooner than a foreign claim is answered
 * (claim_grace()). Defend it at once (rate-limited), as a node whose link returns does
 * for what it owned before the cut. */
static void contest(Manager *m, u128 addr, bool held)
{
        if (cluster_peer_holds(m->cluster, addr)) {
                if (held && !addrset_has(&m->contested, addr))
                        announcer_defend(m->announcer, addr);
                addrset_add(&m->contested, addr);
        } else if (addrset_remove(&m->contested, addr))
                announcer_reannounce(m->announcer, addr);
}

/* This node just became the owner of addr: if another node held it (its heartbeats
 * said so), or this node stands in, that is a takeover, counted by cause and logged. */
static void count_takeover(Manager *m, u128 addr, bool standin)
{
        const PeerInfo *h = cluster_holder(m->cluster, addr);
        TakeoverCause cause;
        char buf[ADDR_STR_MAX];

        if (!h && !standin)
                return; /* nobody held it: a first announcement */
        cause = standin      ? TAKEOVER_STANDIN
                : !h->alive  ? TAKEOVER_PEER_DEAD
                : h->leaving ? TAKEOVER_PEER_LEAVING
                             : TAKEOVER_REBALANCE;
        metrics_counters.takeovers[cause]++;
        if (cause == TAKEOVER_PEER_DEAD)
                announcer_note_takeover(m->announcer, addr, h->dead_since_usec);
        event_log(EVENT_TAKEOVER, LOG_NOTICE, &addr, h ? h->name : NULL,
                  "%s: taking it over%s%s (%s)", addr_format(addr, buf), h ? " from " : "",
                  h ? h->name : "", takeover_cause_to_string(cause));
}

/*
 * One address of pool `pool`, held by Service s (NULL: restored from state.json, Service
 * not known yet); fresh: the leader just allocated it and nobody announces it yet.
 * Decides whether this node takes it, vets it (probe only, for the leader), keeps it for
 * a handover, or leaves it alone; adds what it keeps to want. Returns whether the address
 * is settled for an "allocated" notification; *ret_owner names the owner ("": no live
 * node is eligible; NULL: not known yet, the cluster is not settled).
 */
static bool decide(Manager *m, u128 addr, size_t pool, const Service *s, bool fresh, AddrSet *want,
                   const char **ret_owner)
{
        const OwnerView *v = cluster_view(m->cluster);
        const char *iface = pool_interface(m, pool);
        AnnState st = _ANN_STATE_INVALID;
        bool has = announcer_has(m->announcer, addr, &st, NULL), standin;
        ssize_t o;

        *ret_owner = NULL;
        if (!cluster_settled(m->cluster)) {
                /* who is alive is not known yet: keep what we hold, take what we held */
                if (has || restored_owned(m, addr)) {
                        addrset_add(want, addr);
                        announcer_want(m->announcer, addr, iface, false);
                        contest(m, addr, false);
                }
                return false;
        }
        o = effective_owner(m, addr, pool, s, v, &standin);
        *ret_owner = o >= 0 ? v->names[o] : ""; /* "": no live node is eligible */
        if (o == 0) {
                addrset_add(want, addr);
                handover_forget(m, addr);
                if (!has || st == ANN_VETTED)
                        drain_forward_from_holder(m, addr); /* before the first announcement */
                /* probe only what nobody announced yet: not an address this node held
                 * before, nor one a peer says it holds (a handover, not a conflict); a
                 * stand-in probes what nobody holds (the owner may have seen a conflict) */
                announcer_want(m->announcer, addr, iface,
                               (fresh || !s || standin) && !restored_owned(m, addr) &&
                                   !cluster_peer_holds(m->cluster, addr));
                if (!has || st == ANN_VETTED)
                        count_takeover(m, addr, standin);
                contest(m, addr, has && st == ANN_OWNED);
                return announcer_has(m->announcer, addr, &st, NULL) && st == ANN_OWNED;
        }
        if (fresh && m->leader && !(has && st == ANN_OWNED)) {
                /* another node will own it: probe it here before the bridge hears of it,
                 * unless a peer already holds it (the status was lost, not the address) */
                if (cluster_peer_holds(m->cluster, addr))
                        return true;
                addrset_add(want, addr);
                announcer_vet(m->announcer, addr, iface);
                return announcer_has(m->announcer, addr, &st, NULL) &&
                       (st == ANN_VETTED || st == ANN_OWNED);
        }
        if (has && st == ANN_OWNED) {
                /* another node owns it (or nobody may): not one more announcement from
                 * here, or a client would follow this node while it lets go (the rest of
                 * a takeover's burst used to go out after the owner had come back) */
                announcer_hush(m->announcer, addr);
                if (!handover_done(m, addr, o))
                        addrset_add(want, addr);
        }
        return true;
}

/* ---- pre-vetting (docs/cluster.md "Pre-vetting") ----
 * The leader probes ahead of demand the addresses its allocator will hand out next, so
 * that a new Service's address is vetted already and "allocated" goes out without waiting
 * for a probe. Per pool and family: the next PREVET_PER_POOL free addresses, walking past
 * at most PREVET_AVOID_PER_POOL that another host was found using (avoided: the automatic
 * choice skips them; they stay wanted, so the announcer probes them again on its refused
 * schedule, 5 s doubling to 5 min, and one found free is handed out again); at most
 * PREVET_MAX addresses in all. Nothing is added to an interface; a pre-vetted address is
 * probed again in the background every 30-40 s (announcer_prevet()). */
#define PREVET_PER_POOL 16
#define PREVET_AVOID_PER_POOL 16
#define PREVET_MAX 256

static bool prevet_on(Manager *m)
{
        return m->leader && m->synced && !m->stopping && cluster_settled(m->cluster);
}

/* Before the Services are allocated: the addresses of the last pass that another host
 * uses (refused and held by no Service) are avoided, and stay so while probed again
 * (a reload, the refused schedule) until a probe finds them free. */
static void prevet_avoid(Manager *m)
{
        _cleanup_free_ u128 *v = calloc(m->prevet.n + 1, sizeof(u128));
        size_t k = 0;

        if (!v)
                return (void)log_oom();
        for (size_t i = 0; prevet_on(m) && i < m->prevet.n; i++) {
                u128 a = m->prevet.addrs[i];
                AnnState st;
                if (announcer_has(m->announcer, a, &st, NULL) &&
                    (st == ANN_REFUSED || (st == ANN_PROBING && alloc_is_avoided(m->alloc, a))) &&
                    alloc_users(m->alloc, a, NULL, 0) == 0)
                        v[k++] = a;
        }
        if (allocator_set_avoided(m->alloc, v, k) < 0)
                log_oom();
}

/* After the Services: vets the next addresses of every pool; adds them to want. */
static void prevet_refill(Manager *m, AddrSet *want)
{
        const PoolSet *ps = allocator_pools(m->alloc);
        size_t total = 0;

        addrset_clear(&m->prevet);
        if (!prevet_on(m))
                return;
        for (size_t k = 0; k < ps->n_pools && total < PREVET_MAX; k++) {
                size_t pool = ps->order ? ps->order[k] : k;
                const char *iface = pool_interface(m, pool);
                for (int pass = 0; pass < 2; pass++) {
                        int f = pass == 0 ? AF_INET : AF_INET6;
                        AllocCursor c = {0};
                        size_t good = 0, walked = 0;
                        u128 a;
                        while (good < PREVET_PER_POOL &&
                               walked < PREVET_PER_POOL + PREVET_AVOID_PER_POOL &&
                               total < PREVET_MAX && alloc_next_free(m->alloc, pool, f, &c, &a)) {
                                AnnState st;
                                walked++;
                                /* a peer still holds it (a release under way): not free on
                                 * the LAN yet, and its answer would be no conflict */
                                if (cluster_peer_holds(m->cluster, a))
                                        continue;
                                /* one still owned here (released just now) goes first,
                                 * below; then it is pre-vetted like any other */
                                int r = announcer_prevet(m->announcer, a, iface);
                                if (r == 0) {
                                        if (!addrset_has(want, a))
                                                manager_schedule_reconcile(m);
                                        continue;
                                }
                                if (r < 0 || addrset_add(want, a) < 0 ||
                                    addrset_add(&m->prevet, a) < 0)
                                        return (void)log_oom();
                                total++;
                                if (!alloc_is_avoided(m->alloc, a) &&
                                    !(announcer_has(m->announcer, a, &st, NULL) &&
                                      st == ANN_REFUSED))
                                        good++;
                        }
                }
        }
}

/* The leader tells the bridge which node announces each address, when that changes. */
static void report_owner(Manager *m, SvcInfo *info, size_t i, u128 addr, const char *owner)
{
        if (!m->leader || !owner || (info->assigned[i] && strcmp(info->assigned[i], owner) == 0))
                return;
        free(info->assigned[i]);
        info->assigned[i] = strdup(owner);
        char *t = NULL;
        /* nobody eligible: "node": null, so the bridge can say why it is not announced */
        ctl_notify_node_assigned(info->key, info->uid, addr, *owner ? owner : NULL, &t, NULL);
        manager_notify(m, t);
}

static void reconcile_service(Manager *m, const Service *s, AddrSet *want)
{
        ServiceRequest sr;
        AllocRequest req;
        AllocPort ports[64];
        AllocResult res = {0};
        char selector[1024], err[512];
        SvcInfo *info = svc_get(m, s->meta.key, s->meta.uid);
        bool had = alloc_lookup(m->alloc, s->meta.key, &res);
        int r;

        if (!info)
                return (void)log_oom();
        info->seen = true;
        if (service_resolve_request(s, &sr, err, sizeof(err)) < 0) {
                if (info->state != SVC_FAILED || !info->reason || strcmp(info->reason, err)) {
                        svc_set(info, SVC_FAILED, err);
                        char *t = NULL;
                        ctl_notify_allocation_failed(s->meta.key, s->meta.uid, err, &t, NULL);
                        manager_notify(m, t);
                }
                return;
        }
        if (!sr.sharing_key || !info->sharing_key || strcmp(sr.sharing_key, info->sharing_key)) {
                free(info->sharing_key);
                info->sharing_key = strdup_or_null(sr.sharing_key);
        }
        fill_request(m, s, &sr, &req, ports, selector, sizeof(selector));

        if (s->n_ingress > 0)
                r = alloc_adopt(m->alloc, &req, s->ingress, MIN(s->n_ingress, 2), &res);
        else if (m->leader)
                r = alloc_service(m->alloc, &req, &res);
        else if (had)
                r = 0; /* keep what we had until the leader's status arrives */
        else {
                /* a refusal stands (with its reason) until a leader looks again */
                if (info->state != SVC_FAILED)
                        svc_set(info, SVC_PENDING, "waiting for the leader to allocate an address");
                return;
        }
        if (r > 0) {
                bool changed = info->state != SVC_FAILED || !info->reason ||
                               strcmp(info->reason, res.reason) != 0;
                svc_set(info, SVC_FAILED, res.reason);
                if (changed) {
                        log_notice("%s: %s", s->meta.key, res.reason);
                        char *t = NULL;
                        ctl_notify_allocation_failed(s->meta.key, s->meta.uid, res.reason, &t,
                                                     NULL);
                        manager_notify(m, t);
                }
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s: allocation failed: %m", s->meta.key);
                return;
        }
        bool fresh = s->n_ingress == 0, ready = true, refused = false;
        const char *owners[2] = {NULL, NULL};
        for (size_t i = 0; !had && i < res.n_addrs && i < 2; i++)
                /* asked for by name, and pre-vetting found it in use: probe it again now
                 * (a conflict is then reported to this Service) */
                if (alloc_is_avoided(m->alloc, res.addrs[i]))
                        announcer_retry(m->announcer, res.addrs[i]);
        for (size_t i = 0; i < res.n_addrs && i < 2; i++) {
                AnnState st;
                ready &= decide(m, res.addrs[i], res.pool, s, fresh, want, &owners[i]);
                /* refused or failed here: it stays failed (with the announcer's reason)
                 * while the announcer tries again */
                refused |= announcer_has(m->announcer, res.addrs[i], &st, NULL) &&
                           (st == ANN_REFUSED || st == ANN_FAILED);
        }
        if (!refused && info->state != SVC_ALLOCATED)
                svc_set(info, SVC_ALLOCATED, NULL);
        if (!info->notified && ready && fresh) {
                const PoolSet *ps = allocator_pools(m->alloc);
                char *t = NULL;
                ctl_notify_allocated(s->meta.key, s->meta.uid, res.addrs, res.n_addrs,
                                     res.pool < ps->n_pools ? ps->pools[res.pool].name : NULL, &t,
                                     NULL);
                manager_notify(m, t);
                info->notified = true;
        }
        for (size_t i = 0; (info->notified || !fresh) && i < res.n_addrs && i < 2; i++)
                report_owner(m, info, i, res.addrs[i], owners[i]);
}

/* Whether the allocation of Service `key` should go: the Service is gone (deleted, or left
 * out of a full sync) or no longer wants a load balancer. Only Services seen in the model
 * have an entry here; allocations restored from state.json are not in the allocator and
 * stay wanted until the first full sync (manager_reconcile()). */
/* The Service of key "ns/name" in the model, or NULL. */
static const Service *service_by_key(Manager *m, const char *key)
{
        const char *slash = strchr(key, '/');
        char ns[K8S_LABEL_NAME_MAX + 1];

        if (!slash || (size_t)(slash - key) > K8S_LABEL_NAME_MAX)
                return NULL;
        memcpy(ns, key, (size_t)(slash - key));
        ns[slash - key] = 0;
        return model_service(m->model, ns, slash + 1);
}

/* Whether the allocation of Service `key` should go: the Service is gone (deleted, or left
 * out of a full sync) or no longer wants a load balancer. Only Services seen in the model
 * have an entry here; allocations restored from state.json are not in the allocator and
 * stay wanted until the first full sync (manager_reconcile()). */
static bool release_due(Manager *m, const char *key)
{
        const Service *s;

        if (!strchr(key, '/'))
                return false;
        s = service_by_key(m, key);
        return !s || !service_wants_load_balancer(s, NULL);
}

static void release_gone(Manager *m)
{
        /* collect first: releasing drops entries of m->svcs */
        char **keys = calloc(m->n_svcs + 1, sizeof(char *));
        size_t n = 0;
        AllocResult res;

        if (!keys)
                return (void)log_oom();
        for (size_t i = 0; i < m->n_svcs; i++)
                if (alloc_lookup(m->alloc, m->svcs[i].key, &res) && release_due(m, m->svcs[i].key))
                        keys[n++] = m->svcs[i].key;
        for (size_t i = 0; i < n; i++)
                if (!(keys[i] = strdup(keys[i])))
                        return (void)log_oom(), strv_free_n(keys, i);
        for (size_t i = 0; i < n; i++) {
                SvcInfo *info = svc_find(m, keys[i]);
                char *t = NULL;
                if (!alloc_lookup(m->alloc, keys[i], &res))
                        continue;
                ctl_notify_released(keys[i], info ? info->uid : NULL, res.addrs, res.n_addrs, &t,
                                    NULL);
                manager_notify(m, t);
                alloc_release(m->alloc, keys[i]);
                log_info("%s: released", keys[i]);
                if (info)
                        svc_drop(m, (size_t)(info - m->svcs));
        }
        strv_free_n(keys, n);
}

static void unwant_cb(u128 addr, const char *ifname, void *userdata)
{
        AddrSet *d = ((AddrSet **)userdata)[0];
        AddrSet *drop = ((AddrSet **)userdata)[1];
        if (!addrset_has(d, addr))
                addrset_add(drop, addr);
}

void manager_schedule_save(Manager *m)
{
        if (m->save_source)
                (void)fair_defer_arm(m->save_source);
}

static int cmp_u128(const void *a, const void *b)
{
        u128 x = *(const u128 *)a, y = *(const u128 *)b;
        return x < y ? -1 : x > y;
}

void addrset_collect_cb(u128 addr, const char *ifname, void *userdata)
{
        AddrSet *l = userdata;
        if (l->n < l->cap)
                l->addrs[l->n++] = addr;
}

/* Tells the peers (heartbeats) what this node holds now. */
void manager_publish_owned(Manager *m)
{
        size_t n = announcer_count(m->announcer, ANN_OWNED);
        AddrSet l = {.addrs = calloc(n + 1, sizeof(u128)), .cap = n};

        if (!l.addrs)
                return (void)log_oom();
        announcer_foreach(m->announcer, ANN_OWNED, addrset_collect_cb, &l);
        qsort(l.addrs, l.n, sizeof(u128), cmp_u128);
        cluster_set_owned(m->cluster, l.addrs, l.n);
        free(l.addrs);
}

int manager_reconcile(sd_event_source *source, void *userdata)
{
        Manager *m = userdata;
        AddrSet want = {0}, drop = {0};
        const void **list = NULL;
        size_t n = 0;

        if (m->stopping)
                return 0;
        if (m->reconciling) { /* asked from inside one (a client it dropped): run again after */
                manager_schedule_reconcile(m);
                return 0;
        }
        m->reconciling = true;
        for (size_t i = 0; i < m->n_svcs; i++)
                m->svcs[i].seen = false;
        cluster_update_members(m->cluster, m->model);
        if (m->synced)
                cluster_members_known(m->cluster);
        if (foreign_exclude_nodes(m->alloc, m->model) < 0) /* the Nodes' addresses */
                log_oom();

        /* Release before allocate: a Service deleted in the same batch as another is
         * created (back-to-back watch events, kubectl replace --force) gives its address
         * back first, so the new Service gets it, as MetalLB does. */
        release_gone(m);
        prevet_avoid(m);
        if (model_list_sorted(m->model, OBJ_SERVICE, &list, &n) < 0) {
                m->reconciling = false;
                return log_oom(), 0;
        }
        for (size_t i = 0; i < n; i++) {
                const Service *s = list[i];
                if (service_wants_load_balancer(s, NULL))
                        reconcile_service(m, s, &want);
        }
        free(list);

        /* forget Services that are gone and held nothing */
        for (size_t i = 0; i < m->n_svcs;) {
                AllocResult res;
                if (!m->svcs[i].seen && !alloc_lookup(m->alloc, m->svcs[i].key, &res))
                        svc_drop(m, i);
                else
                        i++;
        }
        /* restored addresses stay wanted until the first full sync (if still ours) */
        for (size_t i = 0; !m->synced && m->restored && i < m->restored->n_allocs; i++)
                for (size_t j = 0; j < m->restored->allocs[i].n_addrs; j++) {
                        u128 a = m->restored->allocs[i].addrs[j];
                        size_t pool;
                        const char *owner;
                        if (alloc_find_pool(m->alloc, a, &pool))
                                (void)decide(m, a, pool, NULL, false, &want, &owner);
                }
        prevet_refill(m, &want);

        AddrSet *pair[2] = {&want, &drop};
        announcer_foreach(m->announcer, _ANN_STATE_INVALID, unwant_cb, pair);
        for (size_t i = 0; i < drop.n; i++) {
                announcer_unwant(m->announcer, drop.addrs[i]);
                handover_forget(m, drop.addrs[i]);
                addrset_remove(&m->contested, drop.addrs[i]);
        }
        unheld_prune(m);
        drain_prune_forwards(m);
        /* what was taken while a link was down waits for the peers: once every one of
         * them is heard again, what they hold has just been dropped above */
        if (cluster_peers_alive(m->cluster) == peers_count(cluster_peers(m->cluster)))
                announcer_release_quiet(m->announcer);
        addrset_done(&want);
        addrset_done(&drop);
        manager_publish_owned(m);
        manager_schedule_save(m);
        manager_update_status(m);
        m->reconciling = false;
        return 0;
}

/* ---- announcer callbacks ---------------------------------------------------------- */

void manager_on_owned(u128 addr, const char *ifname, void *userdata)
{
        manager_schedule_reconcile(userdata); /* may complete an "allocated" notification */
}

void manager_on_refused(u128 addr, const uint8_t *mac, const char *reason, void *userdata)
{
        Manager *m = userdata;
        size_t n = alloc_users(m->alloc, addr, NULL, 0);
        _cleanup_free_ const char **keys = calloc(n + 1, sizeof(char *));

        if (!keys)
                return (void)log_oom();
        n = alloc_users(m->alloc, addr, keys, n); /* every sharer of the address */
        for (size_t i = 0; i < n; i++) {
                SvcInfo *info = svc_find(m, keys[i]);
                if (!info)
                        continue;
                svc_set(info, SVC_FAILED, reason);
                char *t = NULL;
                ctl_notify_allocation_failed(info->key, info->uid, reason, &t, NULL);
                manager_notify(m, t);
        }
        manager_schedule_reconcile(m);
}

void manager_service_changed(Manager *m, const char *key)
{
        AllocResult res;

        if (alloc_lookup(m->alloc, key, &res))
                for (size_t i = 0; i < res.n_addrs && i < 2; i++)
                        announcer_retry(m->announcer, res.addrs[i]);
}

/* Another host claims an address this node announces. It may be a peer taking it over
 * (a returning owner announces first and lists it in its next heartbeat, a moment later),
 * so the claim is judged after claim_grace() (two heartbeat intervals, 100-250 ms: the
 * returning node's heartbeat, sent right after its announcement, has arrived by then even
 * on a loaded machine): the owner then answers at once (clients
 * that followed the claim come back); a node letting the address go to its new owner, or
 * leaving, does not fight the owner it hands over to. */
static uint64_t claim_grace(Manager *m)
{
        uint64_t g = 2 * (uint64_t)m->conf->heartbeat_interval_ms * 1000;
        return MIN(MAX(g, 100 * 1000ULL), 250 * 1000ULL);
}

void manager_on_claimed(u128 addr, const uint8_t *mac, void *userdata)
{
        Manager *m = userdata;
        uint64_t t = 0;

        if (m->stopping || addrset_add(&m->claimed, addr) < 0)
                return;
        if (sd_event_source_get_enabled(m->claim_timer, NULL) > 0)
                return;
        t = manager_now(m) + claim_grace(m);
        (void)sd_event_source_set_time(m->claim_timer, t);
        (void)sd_event_source_set_enabled(m->claim_timer, SD_EVENT_ONESHOT);
}

static bool owned_here(Manager *m, u128 addr)
{
        const char *key = NULL;
        size_t pool;

        if (m->stopping || !cluster_settled(m->cluster) || !alloc_find_pool(m->alloc, addr, &pool))
                return false;
        for (size_t i = 0; i < m->n_handovers; i++)
                if (m->handovers[i].addr == addr)
                        return false;
        const Service *s = alloc_users(m->alloc, addr, &key, 1) > 0 ? service_by_key(m, key) : NULL;
        bool standin;
        return effective_owner(m, addr, pool, s, cluster_view(m->cluster), &standin) == 0;
}

int manager_on_claim_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        for (size_t i = 0; i < m->claimed.n; i++) {
                u128 addr = m->claimed.addrs[i];
                if (!owned_here(m, addr))
                        continue; /* not ours to defend (any more) */
                announcer_defend(m->announcer, addr);
                /* a peer that lists it too yields once it hears us; announce again then
                 * (the contested rule in decide()) */
                if (cluster_peer_holds(m->cluster, addr))
                        addrset_add(&m->contested, addr);
        }
        addrset_clear(&m->claimed);
        return 0;
}
