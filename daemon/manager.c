/* SPDX-License-Identifier: MIT */
/*
 * The daemon: event loop, configuration and reload, control-socket requests, reconcile,
 * state file and sd_notify; see manager.h.
 *
 * Invariants:
 *   - only the leader (told by its bridge) allocates; every node adopts addresses found in
 *     Service status, and only after the allocator's pool check;
 *   - an address is announced only while a Service holds it through the allocator;
 *   - a Service is told "allocated" only once every address it was given is known not to
 *     be used by another host (probed), or when this node will not announce it;
 *   - a bad reload or a bad message changes nothing;
 *   - this node adds an address only while it is the owner (ownership.h) or, before the
 *     cluster settled, when it held it before; it removes one it no longer owns only once
 *     the new owner says it holds it, or dead_after_ms later (make before break).
 */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "alloc.h"
#include "announcer.h"
#include "cluster.h"
#include "conf.h"
#include "control-proto.h"
#include "control.h"
#include "manager.h"
#include "model.h"
#include "netlink.h"
#include "ownership.h"
#include "pools.h"
#include "state.h"
#include "util/keymap.h"
#include "util/log.h"

typedef enum SvcState {
        SVC_PENDING,
        SVC_ALLOCATED,
        SVC_FAILED,
} SvcState;

static const char *const svc_state_names[] = {
    [SVC_PENDING] = "pending", [SVC_ALLOCATED] = "allocated", [SVC_FAILED] = "failed"};

/* What the manager remembers per Service between reconciles. */
typedef struct SvcInfo {
        char *key, *uid;
        SvcState state;
        char *reason;      /* why pending/failed */
        bool notified;     /* "allocated" sent for the current addresses */
        bool refused;      /* one of its addresses is used by another host */
        bool seen;         /* marker during reconcile */
        char *assigned[2]; /* owner last reported in node_assigned (leader only) */
        char *sharing_key; /* allow-shared-ip, as last resolved; NULL = none */
} SvcInfo;

/* An address this node holds but no longer owns: kept until the new owner holds it. */
typedef struct Handover {
        u128 addr;
        uint64_t since; /* CLOCK_MONOTONIC µs */
} Handover;

typedef struct AddrSet {
        u128 *addrs;
        size_t n, cap;
} AddrSet;

typedef struct Client {
        bool hello;
        bool subscribe;
        bool bridge;
        unsigned line_no; /* lines received, for error messages */
        Model *pending_sync;
} Client;

struct Manager {
        sd_event *event;
        char *conf_path;
        Conf *conf;
        PoolSet *pools;
        Allocator *alloc;
        Model *model;
        Netlink *nl;
        NlMonitor *monitor;
        Announcer *announcer;
        Cluster *cluster;
        ControlServer *control;
        sd_event_source *reconcile_source;
        sd_event_source *handover_timer, *stop_timer;
        /* state.json is written (with fsync) after everything else of a loop iteration,
         * so that a takeover's first announcement never waits for the disk */
        sd_event_source *save_source;
        Handover *handovers;
        size_t n_handovers, cap_handovers;
        AddrSet contested; /* owned here and also claimed by a peer */
        SvcInfo *svcs;
        size_t n_svcs, cap_svcs;
        KeyMap *svc_index; /* Service key -> index into svcs */
        State *restored;   /* state.json of the previous run, until the first full sync */
        bool leader;
        Client *leader_client; /* the connection that said leader on */
        bool synced;
        size_t n_bridges; /* clients that said hello as mlbd-bridge */
        bool stopping;
        char *status_line;
};

static SvcInfo *svc_find(Manager *m, const char *key)
{
        size_t i;
        return keymap_get(m->svc_index, key, &i) ? &m->svcs[i] : NULL;
}

static SvcInfo *svc_get(Manager *m, const char *key, const char *uid)
{
        SvcInfo *s = svc_find(m, key);

        if (s)
                return s;
        if (GROW(m->svcs, m->cap_svcs, m->n_svcs + 1) < 0)
                return NULL;
        s = &m->svcs[m->n_svcs];
        *s = (SvcInfo){.key = strdup(key), .uid = strdup_or_null(uid)};
        if (!s->key || keymap_put(m->svc_index, s->key, m->n_svcs) < 0) {
                free(s->key);
                free(s->uid);
                return NULL;
        }
        m->n_svcs++;
        return s;
}

static void svc_set(SvcInfo *s, SvcState state, const char *reason)
{
        s->state = state;
        free(s->reason);
        s->reason = strdup_or_null(reason);
}

static void svc_drop(Manager *m, size_t i)
{
        keymap_remove(m->svc_index, m->svcs[i].key);
        free(m->svcs[i].key);
        free(m->svcs[i].uid);
        free(m->svcs[i].reason);
        free(m->svcs[i].assigned[0]);
        free(m->svcs[i].assigned[1]);
        free(m->svcs[i].sharing_key);
        m->svcs[i] = m->svcs[--m->n_svcs];
        if (i < m->n_svcs)
                (void)keymap_put(m->svc_index, m->svcs[i].key, i); /* replaces: no allocation */
}

static bool want_notifications(ControlClient *c, void *userdata)
{
        Client *cl = control_client_get_data(c);
        return cl && cl->subscribe;
}

/* Frees an array of n strings and the array. */
static void free_msgs(char **msgs, size_t n)
{
        for (size_t i = 0; msgs && i < n; i++)
                free(msgs[i]);
        free(msgs);
}

/* ctl_* encoders end lines with '\n'; the transport adds its own. */
static char *chomp(char *text)
{
        size_t len = text ? strlen(text) : 0;

        if (len && text[len - 1] == '\n')
                text[len - 1] = 0;
        return text;
}

static void notify_clients(Manager *m, char *text)
{
        if (!chomp(text))
                return;
        control_server_broadcast(m->control, text, want_notifications);
        free(text);
}

static void schedule_reconcile(Manager *m)
{
        if (m->reconcile_source)
                (void)sd_event_source_set_enabled(m->reconcile_source, SD_EVENT_ONESHOT);
}

static void update_status(Manager *m)
{
        size_t alloc = 0, failed = 0;

        for (size_t i = 0; i < m->n_svcs; i++) {
                alloc += m->svcs[i].state == SVC_ALLOCATED;
                failed += m->svcs[i].state == SVC_FAILED;
        }
        free(m->status_line);
        if (asprintf(&m->status_line,
                     "%zu services (%zu allocated, %zu failed), %zu addresses owned, %zu of %zu "
                     "nodes alive, %s%s",
                     m->n_svcs, alloc, failed, announcer_count(m->announcer, ANN_OWNED),
                     cluster_peers_alive(m->cluster) + 1, cluster_view(m->cluster)->n,
                     m->n_bridges ? "bridge connected" : "no bridge",
                     m->leader ? ", leader" : "") < 0)
                m->status_line = NULL;
        if (m->status_line)
                (void)sd_notifyf(false, "STATUS=%s", m->status_line);
}

/* ---- reconcile -------------------------------------------------------------------- */

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
            .policy = (AllocFamilyPolicy)s->ip_family_policy,
            .n_families = s->n_ip_families,
            .sharing_key = sr->sharing_key,
            .traffic_local = s->external_traffic_policy == TRAFFIC_LOCAL,
        };
        memcpy(r->requested, sr->addresses, sizeof(r->requested));
        memcpy(r->families, s->ip_families, sizeof(r->families));
        for (size_t i = 0; i < s->n_ports && i < 64; i++) {
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
        bool used[64] = {0};
        for (size_t k = 0; k < sel->n && k < 64; k++) {
                size_t best = SIZE_MAX;
                for (size_t j = 0; j < sel->n && j < 64; j++)
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

static const char *pool_interface(Manager *m, size_t pool)
{
        const PoolSet *ps = allocator_pools(m->alloc);
        return pool < ps->n_pools ? ps->pools[pool].interface : NULL;
}

static bool restored_owned(Manager *m, u128 addr)
{
        for (size_t i = 0; m->restored && i < m->restored->n_owned; i++)
                if (m->restored->owned[i].addr == addr)
                        return true;
        return false;
}

typedef AddrSet Desired;

static bool desired_has(const Desired *d, u128 a)
{
        for (size_t i = 0; i < d->n; i++)
                if (d->addrs[i] == a)
                        return true;
        return false;
}

static int desired_add(Desired *d, u128 a)
{
        if (desired_has(d, a))
                return 0;
        if (GROW(d->addrs, d->cap, d->n + 1) < 0)
                return -ENOMEM;
        d->addrs[d->n++] = a;
        return 0;
}

static bool addrset_remove(AddrSet *d, u128 a)
{
        for (size_t i = 0; i < d->n; i++)
                if (d->addrs[i] == a) {
                        d->addrs[i] = d->addrs[--d->n];
                        return true;
                }
        return false;
}

static uint64_t now_usec(Manager *m)
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

/* Make before break: whether this node may let go of addr, whose owner is now node o of
 * the cluster view (-1: nobody may announce it). */
static bool handover_done(Manager *m, u128 addr, ssize_t o)
{
        uint64_t now = now_usec(m), limit = (uint64_t)m->conf->dead_after_ms * 1000;
        Handover *h = NULL;

        if (o < 0 || cluster_node_holds(m->cluster, (size_t)o, addr))
                return true;
        for (size_t i = 0; i < m->n_handovers && !h; i++)
                if (m->handovers[i].addr == addr)
                        h = &m->handovers[i];
        if (!h) {
                if (GROW(m->handovers, m->cap_handovers, m->n_handovers + 1) < 0)
                        return true;
                h = &m->handovers[m->n_handovers++];
                *h = (Handover){addr, now};
                char buf[ADDR_STR_MAX];
                log_info("%s: node %s owns it now; keeping it until that node holds it",
                         addr_format(addr, buf), cluster_view(m->cluster)->names[o]);
        }
        if (now >= h->since + limit)
                return true;
        arm_handover_timer(m, h->since + limit);
        return false;
}

static void handover_forget(Manager *m, u128 addr)
{
        for (size_t i = 0; i < m->n_handovers; i++)
                if (m->handovers[i].addr == addr) {
                        m->handovers[i] = m->handovers[--m->n_handovers];
                        return;
                }
}

/*
 * One address of pool `pool`, held by Service s (NULL: restored from state.json, Service
 * not known yet); fresh: the leader just allocated it and nobody announces it yet.
 * Decides whether this node takes it, vets it (probe only, for the leader), keeps it for
 * a handover, or leaves it alone; adds what it keeps to want. Returns whether the address
 * is settled for an "allocated" notification; *ret_owner names the owner (NULL: nobody).
 */
static bool decide(Manager *m, u128 addr, size_t pool, const Service *s, bool fresh, Desired *want,
                   const char **ret_owner)
{
        const OwnerView *v = cluster_view(m->cluster);
        const char *iface = pool_interface(m, pool);
        AnnState st = _ANN_STATE_INVALID;
        bool has = announcer_has(m->announcer, addr, &st, NULL);
        ssize_t o;

        *ret_owner = NULL;
        if (!cluster_settled(m->cluster)) {
                /* who is alive is not known yet: keep what we hold, take what we held */
                if (has || restored_owned(m, addr)) {
                        desired_add(want, addr);
                        announcer_want(m->announcer, addr, iface, false);
                }
                return false;
        }
        o = address_owner(allocator_pools(m->alloc), pool, m->model, s, addr, v);
        *ret_owner = o >= 0 ? v->names[o] : NULL;
        if (o == 0) {
                desired_add(want, addr);
                handover_forget(m, addr);
                /* probe only what nobody announced yet: not an address this node held
                 * before, nor one a peer says it holds (a handover, not a conflict) */
                announcer_want(m->announcer, addr, iface,
                               (fresh || !s) && !restored_owned(m, addr) &&
                                   !cluster_peer_holds(m->cluster, addr));
                /* another node held it too and let go: clients may still point there */
                if (cluster_peer_holds(m->cluster, addr))
                        desired_add(&m->contested, addr);
                else if (addrset_remove(&m->contested, addr))
                        announcer_reannounce(m->announcer, addr);
                return announcer_has(m->announcer, addr, &st, NULL) && st == ANN_OWNED;
        }
        if (fresh && m->leader && !(has && st == ANN_OWNED)) {
                /* another node will own it: probe it here before the bridge hears of it,
                 * unless a peer already holds it (the status was lost, not the address) */
                if (cluster_peer_holds(m->cluster, addr))
                        return true;
                desired_add(want, addr);
                announcer_vet(m->announcer, addr, iface);
                return announcer_has(m->announcer, addr, &st, NULL) &&
                       (st == ANN_VETTED || st == ANN_OWNED);
        }
        if (has && st == ANN_OWNED && !handover_done(m, addr, o))
                desired_add(want, addr);
        return true;
}

/* The leader tells the bridge which node announces each address, when that changes. */
static void report_owner(Manager *m, SvcInfo *info, size_t i, u128 addr, const char *owner)
{
        if (!m->leader || !owner || (info->assigned[i] && strcmp(info->assigned[i], owner) == 0))
                return;
        free(info->assigned[i]);
        info->assigned[i] = strdup(owner);
        char *t = NULL;
        ctl_notify_node_assigned(info->key, info->uid, addr, owner, &t, NULL);
        notify_clients(m, t);
}

static void reconcile_service(Manager *m, const Service *s, Desired *want)
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
                        notify_clients(m, t);
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
                        notify_clients(m, t);
                }
                return;
        }
        if (r < 0) {
                log_error_errno(r, "%s: allocation failed: %m", s->meta.key);
                return;
        }
        if (info->refused)
                return; /* stays failed until the Service changes its request */
        if (info->state != SVC_ALLOCATED)
                svc_set(info, SVC_ALLOCATED, NULL);

        bool fresh = s->n_ingress == 0, ready = true;
        const char *owners[2] = {NULL, NULL};
        for (size_t i = 0; i < res.n_addrs && i < 2; i++)
                ready &= decide(m, res.addrs[i], res.pool, s, fresh, want, &owners[i]);
        if (!info->notified && ready && fresh) {
                const PoolSet *ps = allocator_pools(m->alloc);
                char *t = NULL;
                ctl_notify_allocated(s->meta.key, s->meta.uid, res.addrs, res.n_addrs,
                                     res.pool < ps->n_pools ? ps->pools[res.pool].name : NULL, &t,
                                     NULL);
                notify_clients(m, t);
                info->notified = true;
        }
        for (size_t i = 0; (info->notified || !fresh) && i < res.n_addrs && i < 2; i++)
                report_owner(m, info, i, res.addrs[i], owners[i]);
}

/* Whether the allocation of Service `key` should go: the Service is gone (deleted, or left
 * out of a full sync) or no longer wants a load balancer. Only Services seen in the model
 * have an entry here; allocations restored from state.json are not in the allocator and
 * stay wanted until the first full sync (reconcile()). */
static bool release_due(Manager *m, const char *key)
{
        const char *slash = strchr(key, '/');
        char ns[K8S_LABEL_NAME_MAX + 1];

        if (!slash || (size_t)(slash - key) > K8S_LABEL_NAME_MAX)
                return false;
        memcpy(ns, key, (size_t)(slash - key));
        ns[slash - key] = 0;
        const Service *s = model_service(m->model, ns, slash + 1);
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
                        return (void)log_oom(), free_msgs(keys, i);
        for (size_t i = 0; i < n; i++) {
                SvcInfo *info = svc_find(m, keys[i]);
                char *t = NULL;
                if (!alloc_lookup(m->alloc, keys[i], &res))
                        continue;
                ctl_notify_released(keys[i], info ? info->uid : NULL, res.addrs, res.n_addrs, &t,
                                    NULL);
                notify_clients(m, t);
                alloc_release(m->alloc, keys[i]);
                log_info("%s: released", keys[i]);
                if (info)
                        svc_drop(m, (size_t)(info - m->svcs));
        }
        free_msgs(keys, n);
}

static void unwant_cb(u128 addr, const char *ifname, void *userdata)
{
        Desired *d = ((Desired **)userdata)[0];
        Desired *drop = ((Desired **)userdata)[1];
        if (!desired_has(d, addr))
                desired_add(drop, addr);
}

static void schedule_save(Manager *m)
{
        if (m->save_source)
                (void)sd_event_source_set_enabled(m->save_source, SD_EVENT_ONESHOT);
}

static int cmp_u128(const void *a, const void *b)
{
        u128 x = *(const u128 *)a, y = *(const u128 *)b;
        return x < y ? -1 : x > y;
}

static void owned_add(u128 addr, const char *ifname, void *userdata)
{
        AddrSet *l = userdata;
        if (l->n < l->cap)
                l->addrs[l->n++] = addr;
}

/* Tells the peers (heartbeats) what this node holds now. */
static void publish_owned(Manager *m)
{
        size_t n = announcer_count(m->announcer, ANN_OWNED);
        AddrSet l = {calloc(n + 1, sizeof(u128)), 0, n};

        if (!l.addrs)
                return (void)log_oom();
        announcer_foreach(m->announcer, ANN_OWNED, owned_add, &l);
        qsort(l.addrs, l.n, sizeof(u128), cmp_u128);
        cluster_set_owned(m->cluster, l.addrs, l.n);
        free(l.addrs);
}

static int reconcile(sd_event_source *source, void *userdata)
{
        Manager *m = userdata;
        Desired want = {0}, drop = {0};
        const void **list = NULL;
        size_t n = 0;

        if (m->stopping)
                return 0;
        for (size_t i = 0; i < m->n_svcs; i++)
                m->svcs[i].seen = false;
        cluster_update_members(m->cluster, m->model);

        if (model_list_sorted(m->model, OBJ_SERVICE, &list, &n) < 0)
                return log_oom(), 0;
        for (size_t i = 0; i < n; i++) {
                const Service *s = list[i];
                if (service_wants_load_balancer(s, NULL))
                        reconcile_service(m, s, &want);
        }
        free(list);
        release_gone(m);

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

        Desired *pair[2] = {&want, &drop};
        announcer_foreach(m->announcer, ANN_OWNED, unwant_cb, pair);
        announcer_foreach(m->announcer, ANN_PROBING, unwant_cb, pair);
        announcer_foreach(m->announcer, ANN_REFUSED, unwant_cb, pair);
        announcer_foreach(m->announcer, ANN_VETTED, unwant_cb, pair);
        for (size_t i = 0; i < drop.n; i++) {
                announcer_unwant(m->announcer, drop.addrs[i]);
                handover_forget(m, drop.addrs[i]);
                addrset_remove(&m->contested, drop.addrs[i]);
        }
        free(want.addrs);
        free(drop.addrs);
        publish_owned(m);
        schedule_save(m);
        update_status(m);
        return 0;
}

/* ---- announcer callbacks ---------------------------------------------------------- */

static void on_owned(u128 addr, const char *ifname, void *userdata)
{
        schedule_reconcile(userdata); /* may complete an "allocated" notification */
}

static void on_refused(u128 addr, const uint8_t *mac, const char *reason, void *userdata)
{
        Manager *m = userdata;
        const char *keys[16];
        size_t n = alloc_users(m->alloc, addr, keys, ELEMENTSOF(keys));

        for (size_t i = 0; i < n && i < ELEMENTSOF(keys); i++) {
                SvcInfo *info = svc_find(m, keys[i]);
                if (!info)
                        continue;
                info->refused = true;
                svc_set(info, SVC_FAILED, reason);
                char *t = NULL;
                ctl_notify_allocation_failed(info->key, info->uid, reason, &t, NULL);
                notify_clients(m, t);
        }
        schedule_reconcile(m);
}

/* ---- state file ------------------------------------------------------------------- */

static int state_add_cb(const char *key, const AllocResult *r, void *userdata)
{
        State *s = userdata;
        return state_add_alloc(s, key, NULL, r->addrs, r->n_addrs) < 0 ? -ENOMEM : 0;
}

static void state_owned_cb(u128 addr, const char *ifname, void *userdata)
{
        (void)state_add_owned(userdata, addr, ifname);
}

static void save_state(Manager *m)
{
        _cleanup_(state_freep) State *s = calloc(1, sizeof(State));

        if (!s || !(s->node = strdup(m->conf->node_name)))
                return (void)log_oom();
        (void)allocator_foreach(m->alloc, state_add_cb, s);
        for (size_t i = 0; i < s->n_allocs; i++) {
                SvcInfo *info = svc_find(m, s->allocs[i].service);
                if (info && info->uid)
                        s->allocs[i].uid = strdup(info->uid);
        }
        /* until the first sync, keep what the previous run knew */
        for (size_t i = 0; !m->synced && m->restored && i < m->restored->n_allocs; i++) {
                StateAlloc *a = &m->restored->allocs[i];
                bool present = false;
                for (size_t j = 0; j < s->n_allocs; j++)
                        present |= strcmp(s->allocs[j].service, a->service) == 0;
                if (!present)
                        (void)state_add_alloc(s, a->service, a->uid, a->addrs, a->n_addrs);
        }
        announcer_foreach(m->announcer, ANN_OWNED, state_owned_cb, s);
        (void)mkdir(m->conf->state_dir, 0750);
        (void)state_save(m->conf->state_dir, s);
}

static int save_fired(sd_event_source *s, void *userdata)
{
        save_state(userdata);
        return 0;
}

/* ---- configuration ---------------------------------------------------------------- */

/* What went wrong in a configuration, for messages: the errors and warnings as
 * "FILE:LINE:COL: message" lines, the number of errors and the file of the first. */
typedef struct ConfReport {
        char **msgs;
        size_t n_msgs, n_errors;
        char *first_file;
} ConfReport;

static void conf_report_clear(ConfReport *r)
{
        free_msgs(r->msgs, r->n_msgs);
        free(r->first_file);
        *r = (ConfReport){0};
}

/* Loads both files, logs every diagnostic; report (may be NULL) gets them too. */
static int load_config(const char *path, Conf **ret_conf, PoolSet **ret_pools, ConfReport *report)
{
        DiagList diags = {0};
        int r = conf_load(path, ret_conf, &diags);

        if (r >= 0) {
                r = pools_load((*ret_conf)->pools, ret_pools, &diags);
                if (r < 0)
                        *ret_conf = conf_free(*ret_conf);
        }
        diag_sort(&diags);
        char **msgs = calloc(diags.n + 1, sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; i < diags.n; i++) {
                char *s = diag_format(&diags.items[i]);
                if (!s)
                        continue;
                int lvl = diags.items[i].level == DIAG_ERROR     ? LOG_ERR
                          : diags.items[i].level == DIAG_WARNING ? LOG_WARNING
                                                                 : LOG_NOTICE;
                log_full_errno(lvl, 0, "%s", s);
                if (report && diags.items[i].level == DIAG_ERROR && report->n_errors++ == 0)
                        report->first_file = strdup_or_null(diags.items[i].file);
                if (msgs && diags.items[i].level != DIAG_NOTICE)
                        msgs[n++] = s;
                else
                        free(s);
        }
        diag_list_clear(&diags);
        if (report) {
                report->msgs = msgs;
                report->n_msgs = n;
        } else
                free_msgs(msgs, n);
        return r;
}

static AnnounceSettings announce_settings(const Conf *c)
{
        return (AnnounceSettings){
            .interface = c->announce_interface,
            .garp_count = c->garp_count,
            .garp_interval_usec = (uint64_t)c->garp_interval_ms * 1000,
            .refresh_usec = (uint64_t)c->garp_refresh_s * 1000000,
        };
}

/* Validates first; on any error nothing changes. */
static int reload(Manager *m, char **reply, const json_t *id)
{
        Conf *conf = NULL;
        PoolSet *pools = NULL;
        Allocator *alloc = NULL;
        AllocDropped *dropped = NULL;
        size_t n_dropped = 0;
        ConfReport rep = {0};
        int r;

        (void)sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration");
        log_info("Reloading %s", m->conf_path);
        r = load_config(m->conf_path, &conf, &pools, &rep);
        if (r >= 0)
                r = allocator_rebuild(m->alloc, pools, &alloc, &dropped, &n_dropped);
        if (r < 0) {
                log_error("Reload failed; the running configuration is unchanged");
                if (reply) {
                        CtlError e = {.code = CTL_ERR_RELOAD_FAILED, .id = (json_t *)id};
                        if (rep.n_errors)
                                snprintf(e.detail, sizeof(e.detail),
                                         "%s: %zu error%s, nothing changed",
                                         rep.first_file ? rep.first_file : m->conf_path,
                                         rep.n_errors, rep.n_errors == 1 ? "" : "s");
                        else
                                snprintf(e.detail, sizeof(e.detail),
                                         "the configuration cannot be used (%s), nothing changed",
                                         strerror(-r));
                        ctl_reply_error(&e, rep.msgs, rep.n_msgs, reply, NULL);
                }
                /* STATUS is one line: the first error (FILE:LINE:COL: message) and a count */
                (void)sd_notifyf(false,
                                 "READY=1\nSTATUS=Reload failed, previous configuration kept: "
                                 "%s%s",
                                 rep.n_msgs ? rep.msgs[0] : "see the log",
                                 rep.n_msgs > 1 ? " (and more in the log)" : "");
                conf_free(conf);
                pool_set_free(pools);
                conf_report_clear(&rep);
                return -EINVAL;
        }
        for (size_t i = 0; i < n_dropped; i++) {
                log_notice("%s: %s", dropped[i].key, dropped[i].reason);
                SvcInfo *info = svc_find(m, dropped[i].key);
                char *t = NULL;
                ctl_notify_released(dropped[i].key, info ? info->uid : NULL, dropped[i].addrs,
                                    dropped[i].n_addrs, &t, NULL);
                notify_clients(m, t);
                if (info) {
                        svc_set(info, SVC_PENDING, dropped[i].reason);
                        info->notified = false;
                }
        }
        alloc_dropped_free(dropped, n_dropped);
        allocator_free(m->alloc);
        m->alloc = alloc;
        pool_set_free(m->pools);
        m->pools = pools;
        conf_free(m->conf);
        m->conf = conf;
        log_max_level = conf->log_level;
        AnnounceSettings as = announce_settings(conf);
        announcer_set_settings(m->announcer, &as);
        (void)cluster_reconfigure(m->cluster, conf);
        if (reply) {
                AddrCount total = {0};
                for (size_t i = 0; i < pools->n_pools; i++)
                        for (size_t j = 0; j < pools->pools[i].n_ranges; j++)
                                addr_count_add_range(&total, &pools->pools[i].ranges[j]);
                CtlReloadReply rr = {pools->n_pools, total, rep.msgs, rep.n_msgs};
                ctl_reply_reload(id, &rr, reply, NULL);
        }
        conf_report_clear(&rep);
        log_info("Reloaded: %zu pools", pools->n_pools);
        (void)sd_notify(false, "READY=1");
        schedule_reconcile(m);
        return 0;
}

/* ---- control requests ------------------------------------------------------------- */

static void send_line(ControlClient *c, char *text)
{
        if (!chomp(text))
                return;
        control_client_send(c, text);
        free(text);
}

static void reply_error(ControlClient *c, CtlError *e)
{
        char *t = NULL;
        ctl_reply_error(e, NULL, 0, &t, NULL);
        send_line(c, t);
}

/* The node that holds addr now (this one, or a live peer that says so), or NULL. */
static const char *holder_of(Manager *m, u128 addr)
{
        const Peers *peers = cluster_peers(m->cluster);
        AnnState st;

        if (announcer_has(m->announcer, addr, &st, NULL) && st == ANN_OWNED)
                return m->conf->node_name;
        for (size_t i = 0; i < peers_count(peers); i++) {
                const PeerInfo *p = peers_get(peers, i);
                if (p->alive && peer_holds(p, addr))
                        return p->name;
        }
        return NULL;
}

static char *reply_status(Manager *m, const json_t *id)
{
        size_t n_owned = announcer_count(m->announcer, ANN_OWNED), alloc = 0, failed = 0;
        AddrSet owned = {calloc(n_owned + 1, sizeof(u128)), 0, n_owned};
        char *t = NULL;

        for (size_t i = 0; i < m->n_svcs; i++) {
                alloc += m->svcs[i].state == SVC_ALLOCATED;
                failed += m->svcs[i].state == SVC_FAILED;
        }
        /* what is on the interfaces, including addresses restored from state.json */
        if (owned.addrs)
                announcer_foreach(m->announcer, ANN_OWNED, owned_add, &owned);
        CtlStatus st = {
            .node = m->conf->node_name,
            .version = PACKAGE_VERSION,
            .leader = m->leader,
            .bridge_connected = m->n_bridges > 0,
            .generation = m->model->generation,
            .services = m->n_svcs,
            .services_allocated = alloc,
            .services_failed = failed,
            .owned = owned.addrs,
            .n_owned = owned.n,
            .peers_alive = cluster_peers_alive(m->cluster) + 1,
            .peers_total = peers_count(cluster_peers(m->cluster)) + 1,
        };
        ctl_reply_status(id, &st, &t, NULL);
        free(owned.addrs);
        return t;
}

static char *reply_pools(Manager *m, const json_t *id)
{
        const PoolSet *ps = allocator_pools(m->alloc);
        CtlPoolInfo *p = calloc(ps->n_pools + 1, sizeof(*p));
        char *t = NULL;

        if (!p)
                return NULL;
        for (size_t i = 0; i < ps->n_pools; i++) {
                AllocPoolStats st = {0};
                alloc_pool_stats(m->alloc, i, &st);
                p[i] = (CtlPoolInfo){ps->pools[i].name,
                                     ps->pools[i].ranges,
                                     ps->pools[i].n_ranges,
                                     ps->pools[i].auto_assign,
                                     st.size,
                                     st.used};
        }
        ctl_reply_pools(id, p, ps->n_pools, &t, NULL);
        free(p);
        return t;
}

/* by namespace, then name (protocol.md: the services reply is sorted) */
static int cmp_service_info(const void *a, const void *b)
{
        const CtlServiceInfo *x = a, *y = b;
        int r = strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "");
        return r ? r : strcmp(x->name, y->name);
}

static char *reply_services(Manager *m, const json_t *id)
{
        CtlServiceInfo *v = calloc(m->n_svcs + 1, sizeof(*v));
        AllocResult *res = calloc(m->n_svcs + 1, sizeof(*res));
        const PoolSet *ps = allocator_pools(m->alloc);
        char *t = NULL;

        if (!v || !res) {
                free(v);
                free(res);
                return NULL;
        }
        for (size_t i = 0; i < m->n_svcs; i++) {
                SvcInfo *s = &m->svcs[i];
                const char *slash = strchr(s->key, '/');
                bool has = alloc_lookup(m->alloc, s->key, &res[i]);
                v[i] = (CtlServiceInfo){
                    .namespace = s->key, /* trimmed below */
                    .name = slash ? slash + 1 : s->key,
                    .uid = s->uid,
                    .state = svc_state_names[s->state],
                    .addresses = has ? res[i].addrs : NULL,
                    .n_addresses = has ? res[i].n_addrs : 0,
                    .pool = has && res[i].pool < ps->n_pools ? ps->pools[res[i].pool].name : NULL,
                    .owner = has ? holder_of(m, res[i].addrs[0]) : NULL,
                    .sharing_key = s->sharing_key,
                    .reason = s->reason,
                };
        }
        /* namespaces are the part of the key before '/': copy them out */
        char **nss = calloc(m->n_svcs + 1, sizeof(char *));
        for (size_t i = 0; nss && i < m->n_svcs; i++) {
                const char *slash = strchr(m->svcs[i].key, '/');
                nss[i] = strndup(m->svcs[i].key, slash ? (size_t)(slash - m->svcs[i].key) : 0);
                v[i].namespace = nss[i];
        }
        qsort(v, m->n_svcs, sizeof(*v), cmp_service_info);
        ctl_reply_services(id, v, m->n_svcs, &t, NULL);
        for (size_t i = 0; nss && i < m->n_svcs; i++)
                free(nss[i]);
        free(nss);
        free(v);
        free(res);
        return t;
}

static char *reply_peers(Manager *m, const json_t *id)
{
        const Peers *peers = cluster_peers(m->cluster);
        size_t n = peers_count(peers);
        CtlPeerInfo *v = calloc(n + 1, sizeof(*v));
        uint64_t now = now_usec(m);
        char *t = NULL;

        if (!v)
                return NULL;
        v[0] = (CtlPeerInfo){
            .name = m->conf->node_name,
            .state = m->stopping ? "leaving" : "alive",
            .self = true,
            .last_seen_ms = -1,
            .incarnation = cluster_incarnation(m->cluster),
            .owned = announcer_count(m->announcer, ANN_OWNED),
        };
        for (size_t i = 0; i < n; i++) {
                const PeerInfo *p = peers_get(peers, i);
                v[i + 1] = (CtlPeerInfo){
                    .name = p->name,
                    .address = p->address,
                    .state = !p->alive    ? "dead"
                             : p->leaving ? "leaving"
                                          : "alive",
                    .last_seen_ms =
                        p->last_seen_usec ? (int64_t)((now - p->last_seen_usec) / 1000) : -1,
                    .incarnation = p->incarnation,
                    .owned = p->n_owned,
                };
        }
        uint64_t counts[_HB_DROP_MAX];
        CtlCounter dropped[_HB_DROP_MAX];
        peers_drop_counts(peers, counts);
        for (int i = 0; i < _HB_DROP_MAX; i++)
                dropped[i] = (CtlCounter){hb_drop_to_string((HbDrop)i), counts[i]};
        ctl_reply_peers(id, v, n + 1, dropped, _HB_DROP_MAX, &t, NULL);
        free(v);
        return t;
}

static void apply_sync(Manager *m, Client *cl, CtlRequest *req, ControlClient *c)
{
        CtlError e = {0};
        char *t = NULL;

        if (ctl_sync_gather(&cl->pending_sync, req, &e) < 0) {
                cl->pending_sync = model_free(cl->pending_sync);
                if (!e.id && req->id)
                        e.id = json_incref(req->id);
                reply_error(c, &e);
                ctl_error_clear(&e);
                return;
        }
        CtlSyncReply sr = {.pending = req->sync.more};
        if (!req->sync.more) {
                model_replace(m->model, &cl->pending_sync);
                m->synced = true;
                /* a bridge that restarted may have missed notifications: repeat them */
                for (size_t i = 0; i < m->n_svcs; i++) {
                        m->svcs[i].notified = false;
                        for (size_t k = 0; k < 2; k++) {
                                free(m->svcs[i].assigned[k]);
                                m->svcs[i].assigned[k] = NULL;
                        }
                }
                m->restored = state_free(m->restored);
                schedule_reconcile(m);
        }
        for (int k = 0; k < _OBJ_KIND_MAX; k++)
                sr.counts[k] = model_count(req->sync.more ? cl->pending_sync : m->model, k);
        sr.generation = m->model->generation;
        ctl_reply_sync(req->id, &sr, &t, NULL);
        send_line(c, t);
}

/* Runs a reconcile that is due now, so that a query answers for the model it has (a sync
 * or upsert just before would otherwise show in the generation but not yet in services). */
static void flush_reconcile(Manager *m)
{
        int enabled = SD_EVENT_OFF;

        if (m->reconcile_source &&
            sd_event_source_get_enabled(m->reconcile_source, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF) {
                (void)sd_event_source_set_enabled(m->reconcile_source, SD_EVENT_OFF);
                (void)reconcile(m->reconcile_source, m);
        }
}

static void on_line(ControlClient *c, const char *line, size_t len, void *userdata)
{
        Manager *m = userdata;
        Client *cl = control_client_get_data(c);
        _cleanup_(ctl_request_freep) CtlRequest *req = NULL;
        CtlError e = {0};
        char *t = NULL;
        int r;

        if (!cl) {
                cl = calloc(1, sizeof(*cl));
                if (!cl)
                        return (void)log_oom();
                control_client_set_data(c, cl);
        }
        ++cl->line_no; /* blank lines count too, so errors name the line an editor shows */
        if (strspn(line, " \t\r") >= len)
                return; /* empty and blank lines are ignored */
        r = ctl_request_parse(line, len, cl->line_no, &req, &e);
        if (r < 0) {
                if (cl->pending_sync) { /* an error in any part drops the whole sync */
                        cl->pending_sync = model_free(cl->pending_sync);
                        log_debug("control: a line that cannot be decoded dropped the "
                                  "unfinished sync");
                }
                reply_error(c, &e);
                ctl_error_clear(&e);
                return;
        }
        if (!cl->hello && req->op != CTL_OP_HELLO) {
                ctl_error_set(&e, CTL_ERR_HELLO_REQUIRED, "send hello first");
                e.id = req->id ? json_incref(req->id) : NULL;
                reply_error(c, &e);
                ctl_error_clear(&e);
                return;
        }
        if (cl->pending_sync && req->op != CTL_OP_SYNC) {
                ctl_error_set(&e, CTL_ERR_SYNC_IN_PROGRESS,
                              "a multi-part sync is unfinished; it was dropped");
                e.id = req->id ? json_incref(req->id) : NULL;
                cl->pending_sync = model_free(cl->pending_sync);
                reply_error(c, &e);
                ctl_error_clear(&e);
                return;
        }
        switch (req->op) {
        case CTL_OP_HELLO:
                if (ctl_check_version(req, &e) < 0) {
                        if (!e.id && req->id)
                                e.id = json_incref(req->id);
                        reply_error(c, &e);
                        ctl_error_clear(&e);
                        return;
                }
                cl->hello = true;
                cl->subscribe = req->hello.subscribe;
                if (req->hello.node && strcmp(req->hello.node, m->conf->node_name) != 0)
                        log_warning("control: client %s says it runs on node %s, but this is "
                                    "node %s (wrong socket mounted?)",
                                    req->hello.client ? req->hello.client : "(unnamed)",
                                    req->hello.node, m->conf->node_name);
                bool bridge = req->hello.client && strcmp(req->hello.client, "mlbd-bridge") == 0;
                m->n_bridges += (size_t)bridge - (size_t)cl->bridge;
                cl->bridge = bridge;
                CtlHelloReply h = {req->hello.version, PACKAGE_VERSION, m->conf->node_name};
                ctl_reply_hello(req->id, &h, &t, NULL);
                break;
        case CTL_OP_SYNC:
                apply_sync(m, cl, req, c);
                return;
        case CTL_OP_UPSERT: {
                char key[OBJ_KEY_MAX];
                ObjMeta *meta = req->upsert.object;
                snprintf(key, sizeof(key), "%s", meta->key);
                r = model_upsert(m->model, TAKE_PTR(req->upsert.object));
                if (r < 0) {
                        ctl_error_set(&e, CTL_ERR_INTERNAL, "out of memory");
                        reply_error(c, &e);
                        return;
                }
                ctl_reply_change(req->id, req->op, req->upsert.kind, key, r, m->model->generation,
                                 &t, NULL);
                schedule_reconcile(m);
                break;
        }
        case CTL_OP_DELETE: {
                char key[OBJ_KEY_MAX];
                obj_key(key, sizeof(key), req->del.namespace, req->del.name);
                r = model_delete(m->model, req->del.kind, req->del.namespace, req->del.name,
                                 req->del.uid);
                ctl_reply_change(req->id, req->op, req->del.kind, key, r, m->model->generation, &t,
                                 NULL);
                schedule_reconcile(m);
                break;
        }
        case CTL_OP_LEADER:
                /* the last word wins; leadership also ends when the connection that
                 * turned it on closes (on_gone) */
                m->leader_client = req->leader.leader ? cl : NULL;
                m->leader = req->leader.leader;
                log_info("This node is %s the leader", m->leader ? "now" : "no longer");
                ctl_reply_leader(req->id, m->leader, &t, NULL);
                schedule_reconcile(m);
                break;
        case CTL_OP_STATUS:
                flush_reconcile(m);
                t = reply_status(m, req->id);
                break;
        case CTL_OP_POOLS:
                t = reply_pools(m, req->id);
                break;
        case CTL_OP_SERVICES:
                flush_reconcile(m);
                t = reply_services(m, req->id);
                break;
        case CTL_OP_PEERS:
                t = reply_peers(m, req->id);
                break;
        case CTL_OP_RELOAD:
                (void)reload(m, &t, req->id);
                break;
        default:
                ctl_error_set(&e, CTL_ERR_UNKNOWN_OP, "unknown op");
                reply_error(c, &e);
                ctl_error_clear(&e);
                return;
        }
        send_line(c, t);
}

static char *on_overflow(ControlClient *c, size_t max_line, void *userdata)
{
        CtlError e = {.code = CTL_ERR_LINE_TOO_LONG};
        char *t = NULL;

        snprintf(e.detail, sizeof(e.detail),
                 "a message is longer than %zu bytes; closing the connection", max_line);
        ctl_reply_error(&e, NULL, 0, &t, NULL);
        return chomp(t);
}

static void on_gone(ControlClient *c, void *userdata)
{
        Manager *m = userdata;
        Client *cl = control_client_get_data(c);

        if (!cl)
                return;
        m->n_bridges -= cl->bridge;
        if (m->leader_client == cl) {
                log_info("The connection that made this node the leader closed; no longer the "
                         "leader");
                m->leader = false;
                m->leader_client = NULL;
                schedule_reconcile(m);
        }
        model_free(cl->pending_sync);
        free(cl);
}

/* ---- signals, kernel events, lifecycle --------------------------------------------- */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        (void)reload(userdata, NULL, NULL);
        return 0;
}

static void finish_stop(Manager *m, const char *why)
{
        size_t n = announcer_count(m->announcer, ANN_OWNED);

        if (n)
                log_info("Removing %zu address%s: %s", n, n == 1 ? "" : "es", why);
        announcer_withdraw_all(m->announcer);
        m->stop_timer = sd_event_source_disable_unref(m->stop_timer);
        (void)sd_event_exit(m->event, 0);
}

static void release_cb(u128 addr, const char *ifname, void *userdata)
{
        AddrSet *l = userdata;
        (void)desired_add(l, addr);
}

/* Graceful stop: lets go of each address as soon as a peer says it holds it. */
static void stop_progress(Manager *m)
{
        AddrSet owned = {0};

        if (cluster_peers_alive(m->cluster) == 0)
                return finish_stop(m, "no live peer to hand them to");
        announcer_foreach(m->announcer, ANN_OWNED, release_cb, &owned);
        for (size_t i = 0; i < owned.n; i++)
                if (cluster_peer_holds(m->cluster, owned.addrs[i])) {
                        char buf[ADDR_STR_MAX];
                        log_info("%s: a peer holds it now; removing it here",
                                 addr_format(owned.addrs[i], buf));
                        announcer_unwant(m->announcer, owned.addrs[i]);
                }
        free(owned.addrs);
        publish_owned(m);
        if (announcer_count(m->announcer, ANN_OWNED) == 0) {
                /* the peers hold them now: the next start takes them back only once it
                 * has heard the peers, from whoever then holds them (make before break) */
                save_state(m);
                finish_stop(m, "handed over");
        }
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        finish_stop(userdata, "the peers did not take them over in time");
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Manager *m = userdata;
        uint64_t bound = 2 * (uint64_t)m->conf->dead_after_ms * 1000 + 500 * 1000;

        if (m->stopping)
                return 0;
        log_info("Stopping (signal %u)", si->ssi_signo);
        (void)sd_notify(false, "STOPPING=1\nSTATUS=Stopping: handing addresses over");
        m->stopping = true;
        /* the state file keeps what we announced, so that the next start knows it */
        save_state(m);
        if (announcer_count(m->announcer, ANN_OWNED) == 0 || cluster_peers_alive(m->cluster) == 0) {
                finish_stop(m, "no live peer to hand them to");
                return 0;
        }
        /* make before break: peers take over when they see "leaving", then we let go */
        cluster_set_leaving(m->cluster);
        (void)sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, bound, 1000,
                                         on_stop_timeout, m);
        return 0;
}

static void on_cluster_changed(void *userdata)
{
        Manager *m = userdata;

        if (m->stopping)
                stop_progress(m);
        else
                schedule_reconcile(m);
}

static int on_handover_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        schedule_reconcile(userdata);
        return 0;
}

static void on_netlink(NlMonitor *mon, const NlEvent *ev, void *userdata)
{
        Manager *m = userdata;

        if (ev->type == NL_EVENT_ERROR) {
                log_warning_errno(ev->error, "netlink monitor: %m");
                return;
        }
        announcer_netlink_event(m->announcer, ev);
        if (ev->type == NL_EVENT_LINK_UP) {
                /* while the link was down, the kernel's ARP/NDP for the peers kept failing
                 * and would retry only after its retransmit timer (1 s): heartbeats to them
                 * would wait that long, and so would the peers' release of our addresses */
                const Peers *peers = cluster_peers(m->cluster);
                for (size_t i = 0; i < peers_count(peers); i++)
                        (void)netlink_neigh_forget(m->nl, ev->link.ifindex,
                                                   peers_get(peers, i)->addr);
        }
}

static void restore_state(Manager *m)
{
        int r = state_load(m->conf->state_dir, &m->restored);
        if (r < 0)
                return;
        for (size_t i = 0; i < m->restored->n_allocs; i++) {
                StateAlloc *a = &m->restored->allocs[i];
                for (size_t j = 0; j < a->n_addrs; j++) {
                        size_t pool;
                        char buf[ADDR_STR_MAX];
                        if (!alloc_find_pool(m->alloc, a->addrs[j], &pool)) {
                                log_warning("state: %s of %s is in no pool now; not announcing "
                                            "it",
                                            addr_format(a->addrs[j], buf), a->service);
                                continue;
                        }
                        log_info("state: %s of %s restored%s", addr_format(a->addrs[j], buf),
                                 a->service,
                                 restored_owned(m, a->addrs[j]) ? " (announced before)" : "");
                }
        }
}

int manager_new(Manager **ret, const char *conf_path)
{
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        int r;

        if (!m || !(m->conf_path = strdup(conf_path)))
                return log_oom();
        r = load_config(conf_path, &m->conf, &m->pools, NULL);
        if (r < 0)
                return log_error_errno(r, "Configuration %s is not valid; not starting", conf_path);
        log_max_level = m->conf->log_level;
        r = allocator_new(&m->alloc, m->pools);
        if (r < 0)
                return log_error_errno(r, "Cannot create the allocator: %m");
        r = model_new(&m->model);
        if (r >= 0)
                r = keymap_new(&m->svc_index);
        if (r < 0)
                return log_oom();
        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0)
                return log_error_errno(r, "Cannot watch signals: %m");
        (void)sd_event_set_watchdog(m->event, true);

        r = netlink_new(&m->nl);
        if (r < 0)
                return log_error_errno(r, "Cannot open rtnetlink: %m");
        r = nl_monitor_new(&m->monitor, on_netlink, m);
        if (r >= 0)
                r = nl_monitor_attach_event(m->monitor, m->event, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the kernel's addresses and links: %m");
        AnnounceSettings as = announce_settings(m->conf);
        AnnouncerCallbacks acb = {.owned = on_owned, .refused = on_refused};
        r = announcer_new(&m->announcer, m->event, m->nl, &as, &acb, m);
        if (r < 0)
                return log_oom();
        r = sd_event_add_defer(m->event, &m->reconcile_source, reconcile, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_priority(m->reconcile_source, SD_EVENT_PRIORITY_IDLE);
        (void)sd_event_source_set_enabled(m->reconcile_source, SD_EVENT_OFF);

        ControlCallbacks ccb = {.line = on_line, .overflow_reply = on_overflow, .gone = on_gone};
        _cleanup_free_ char *dir = strdup(m->conf->socket);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash && slash != dir) {
                *slash = 0;
                (void)mkdir(dir, 0755);
        }
        r = control_server_new(&m->control, m->event, m->conf->socket, m->conf->socket_group,
                               CTL_LINE_MAX, &ccb, m);
        if (r < 0)
                return r;
        r = cluster_new(&m->cluster, m->event, m->conf, on_cluster_changed, m);
        if (r < 0)
                return r;
        r = sd_event_add_time(m->event, &m->handover_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                              on_handover_timer, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_enabled(m->handover_timer, SD_EVENT_OFF);
        r = sd_event_add_defer(m->event, &m->save_source, save_fired, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_priority(m->save_source, SD_EVENT_PRIORITY_IDLE + 10);
        (void)sd_event_source_set_enabled(m->save_source, SD_EVENT_OFF);
        restore_state(m);
        *ret = TAKE_PTR(m);
        return 0;
}

int manager_run(Manager *m)
{
        log_info("mlbd %s started on node %s; control socket %s", PACKAGE_VERSION,
                 m->conf->node_name, m->conf->socket);
        (void)reconcile(NULL, m); /* owned addresses first, then READY=1 */
        (void)sd_notifyf(false, "READY=1\nSTATUS=%s", m->status_line ? m->status_line : "");
        return sd_event_loop(m->event);
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        control_server_free(m->control);
        announcer_free(m->announcer);
        cluster_free(m->cluster);
        sd_event_source_disable_unref(m->handover_timer);
        sd_event_source_disable_unref(m->stop_timer);
        sd_event_source_disable_unref(m->save_source);
        free(m->handovers);
        free(m->contested.addrs);
        nl_monitor_free(m->monitor);
        netlink_free(m->nl);
        sd_event_source_disable_unref(m->reconcile_source);
        sd_event_unref(m->event);
        while (m->n_svcs)
                svc_drop(m, m->n_svcs - 1);
        free(m->svcs);
        keymap_free(m->svc_index);
        state_free(m->restored);
        model_free(m->model);
        allocator_free(m->alloc);
        pool_set_free(m->pools);
        conf_free(m->conf);
        free(m->conf_path);
        free(m->status_line);
        free(m);
        return NULL;
}

int manager_flush(void)
{
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        int r = netlink_new(&nl);

        if (r < 0)
                return log_error_errno(r, "Cannot open rtnetlink: %m");
        r = netlink_flush_tagged(nl);
        if (r < 0)
                return log_error_errno(r, "Flushing addresses failed: %m");
        log_info("Removed %d address%s added by mlbd", r, r == 1 ? "" : "es");
        return r;
}
