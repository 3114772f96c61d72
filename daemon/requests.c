/* SPDX-License-Identifier: MIT */
/*
 * Control-socket requests (docs/protocol.md): per-client state (hello, subscription,
 * bridge, line numbers, an unfinished sync), every request and its reply, and who holds
 * the leader flag. Changes go into the model and schedule a reconcile; nothing here
 * touches addresses.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event-log.h"
#include "manager-private.h"
#include "util/log.h"

/* ---- control requests ------------------------------------------------------------- */

static void send_line(ControlClient *c, char *text)
{
        if (!strip_newline(text))
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
        AddrSet owned = {.addrs = calloc(n_owned + 1, sizeof(u128)), .cap = n_owned};
        char *t = NULL;

        for (size_t i = 0; i < m->n_svcs; i++) {
                alloc += m->svcs[i].state == SVC_ALLOCATED;
                failed += m->svcs[i].state == SVC_FAILED;
        }
        /* what is on the interfaces, including addresses restored from state.json */
        if (owned.addrs)
                announcer_foreach(m->announcer, ANN_OWNED, addrset_collect_cb, &owned);
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

/* The events ring (event-log.h), oldest first. */
static char *reply_events(const json_t *id)
{
        _cleanup_free_ LogEvent *ev = calloc(EVENTS_MAX, sizeof(LogEvent));
        _cleanup_free_ CtlEventInfo *info = calloc(EVENTS_MAX, sizeof(CtlEventInfo));
        char times[EVENTS_MAX][32], addrs[EVENTS_MAX][ADDR_STR_MAX];
        char *t = NULL;
        size_t n;

        if (!ev || !info)
                return NULL;
        n = event_log_get(ev, EVENTS_MAX);
        for (size_t i = 0; i < n; i++) {
                time_t sec = (time_t)(ev[i].realtime_usec / 1000000);
                struct tm tm;
                gmtime_r(&sec, &tm);
                size_t k = strftime(times[i], sizeof(times[i]), "%Y-%m-%dT%H:%M:%S", &tm);
                snprintf(times[i] + k, sizeof(times[i]) - k, ".%03uZ",
                         (unsigned)(ev[i].realtime_usec / 1000 % 1000));
                info[i] = (CtlEventInfo){
                    .time = times[i],
                    .type = event_log_type_to_string(ev[i].type),
                    .address = ev[i].has_address ? addr_format(ev[i].address, addrs[i]) : NULL,
                    .peer = ev[i].peer[0] ? ev[i].peer : NULL,
                    .message = ev[i].text,
                };
        }
        ctl_reply_events(id, info, n, &t, NULL);
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
        uint64_t now = manager_now(m);
        char *t = NULL;

        if (!v)
                return NULL;
        v[0] = (CtlPeerInfo){
            .name = m->conf->node_name,
            .state = m->stopping                     ? "leaving"
                     : peers_name_clash(peers, NULL) ? "duplicate-name"
                                                     : "alive",
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
                manager_schedule_reconcile(m);
        }
        for (int k = 0; k < _OBJ_KIND_MAX; k++)
                sr.counts[k] = model_count(req->sync.more ? cl->pending_sync : m->model, k);
        sr.generation = m->model->generation;
        ctl_reply_sync(req->id, &sr, &t, NULL);
        send_line(c, t);
}

static bool reconcile_due(Manager *m)
{
        return fair_defer_armed(m->reconcile_source);
}

/* Runs a reconcile that is due now, so that a query answers for the model it has (a sync
 * or upsert just before would otherwise show in the generation but not yet in services). */
void manager_flush_reconcile(Manager *m)
{
        if (reconcile_due(m)) {
                (void)sd_event_source_set_enabled(m->reconcile_source, SD_EVENT_OFF);
                (void)manager_reconcile(m->reconcile_source, m);
        }
}

/* At most one costly step (a reconcile forced by a query, a reload) of each kind per loop
 * wakeup: a request that would run a second one waits for the next wakeup (the rest of
 * that client's lines with it), so that pipelined "upsert, status" pairs or reloads
 * cannot hold the loop. *last is the iteration + 1 of the last one (0: none). */
static bool once_per_wakeup(Manager *m, uint64_t *last)
{
        uint64_t it = 0;

        (void)sd_event_get_iteration(m->event, &it);
        if (*last == it + 1)
                return false;
        *last = it + 1;
        return true;
}

/* Requests that change something: only from root, mlbd's own user, or a member of
 * admin_group; queries are open to whoever may connect (socket_group). */
static bool op_changes_state(CtlOp op)
{
        return op == CTL_OP_SYNC || op == CTL_OP_UPSERT || op == CTL_OP_DELETE ||
               op == CTL_OP_LEADER || op == CTL_OP_RELOAD;
}

static bool client_is_admin(Manager *m, ControlClient *c)
{
        uid_t uid = control_client_uid(c);

        return uid == 0 || uid == geteuid() ||
               (m->admin_gid != (gid_t)-1 && control_client_in_group(c, m->admin_gid));
}

int manager_on_line(ControlClient *c, const char *line, size_t len, void *userdata)
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
                        return log_oom(), CONTROL_LINE_DONE;
                control_client_set_data(c, cl);
        }
        ++cl->line_no; /* blank lines count too, so errors name the line an editor shows */
        if (strspn(line, " \t\r") >= len)
                return CONTROL_LINE_DONE; /* empty and blank lines are ignored */
        r = ctl_request_parse(line, len, cl->line_no, &req, &e);
        if (r < 0) {
                if (cl->pending_sync) { /* an error in any part drops the whole sync */
                        cl->pending_sync = model_free(cl->pending_sync);
                        log_debug("control: a line that cannot be decoded dropped the "
                                  "unfinished sync");
                }
                reply_error(c, &e);
                ctl_error_clear(&e);
                return CONTROL_LINE_DONE;
        }
        if (!cl->hello && req->op != CTL_OP_HELLO) {
                ctl_error_set(&e, CTL_ERR_HELLO_REQUIRED, "send hello first");
                e.id = req->id ? json_incref(req->id) : NULL;
                reply_error(c, &e);
                ctl_error_clear(&e);
                return CONTROL_LINE_DONE;
        }
        if (cl->pending_sync && req->op != CTL_OP_SYNC) {
                ctl_error_set(&e, CTL_ERR_SYNC_IN_PROGRESS,
                              "a multi-part sync is unfinished; it was dropped");
                e.id = req->id ? json_incref(req->id) : NULL;
                cl->pending_sync = model_free(cl->pending_sync);
                reply_error(c, &e);
                ctl_error_clear(&e);
                return CONTROL_LINE_DONE;
        }
        if (op_changes_state(req->op) && !client_is_admin(m, c)) {
                ctl_error_set(&e, CTL_ERR_FORBIDDEN,
                              "%s changes the daemon's state: only root, mlbd's user or a "
                              "member of admin_group may send it (this client is uid %u)",
                              ctl_op_to_string(req->op), (unsigned)control_client_uid(c));
                e.id = req->id ? json_incref(req->id) : NULL;
                cl->pending_sync = model_free(cl->pending_sync);
                reply_error(c, &e);
                ctl_error_clear(&e);
                return CONTROL_LINE_DONE;
        }
        if (((req->op == CTL_OP_STATUS || req->op == CTL_OP_SERVICES) && reconcile_due(m) &&
             !once_per_wakeup(m, &m->forced_iteration)) ||
            (req->op == CTL_OP_RELOAD && !once_per_wakeup(m, &m->reload_iteration))) {
                cl->line_no--; /* handed over again */
                return CONTROL_LINE_AGAIN;
        }
        switch (req->op) {
        case CTL_OP_HELLO:
                if (ctl_check_version(req, &e) < 0) {
                        if (!e.id && req->id)
                                e.id = json_incref(req->id);
                        reply_error(c, &e);
                        ctl_error_clear(&e);
                        return CONTROL_LINE_DONE;
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
                return CONTROL_LINE_DONE;
        case CTL_OP_UPSERT: {
                char key[OBJ_KEY_MAX];
                ObjMeta *meta = req->upsert.object;
                snprintf(key, sizeof(key), "%s", meta->key);
                r = model_upsert(m->model, TAKE_PTR(req->upsert.object));
                if (r < 0) {
                        ctl_error_set(&e, CTL_ERR_INTERNAL, "out of memory");
                        reply_error(c, &e);
                        return CONTROL_LINE_DONE;
                }
                ctl_reply_change(req->id, req->op, req->upsert.kind, key, r, m->model->generation,
                                 &t, NULL);
                if (req->upsert.kind == OBJ_SERVICE)
                        manager_service_changed(m, key);
                manager_schedule_reconcile(m);
                break;
        }
        case CTL_OP_DELETE: {
                char key[OBJ_KEY_MAX];
                obj_key(key, sizeof(key), req->del.namespace, req->del.name);
                r = model_delete(m->model, req->del.kind, req->del.namespace, req->del.name,
                                 req->del.uid);
                ctl_reply_change(req->id, req->op, req->del.kind, key, r, m->model->generation, &t,
                                 NULL);
                manager_schedule_reconcile(m);
                break;
        }
        case CTL_OP_LEADER:
                /* the last word wins; leadership also ends when the connection that
                 * turned it on closes (manager_on_gone) */
                m->leader_client = req->leader.leader ? cl : NULL;
                m->leader = req->leader.leader;
                log_info("This node is %s the leader", m->leader ? "now" : "no longer");
                ctl_reply_leader(req->id, m->leader, &t, NULL);
                manager_schedule_reconcile(m);
                break;
        case CTL_OP_STATUS:
                manager_flush_reconcile(m);
                t = reply_status(m, req->id);
                break;
        case CTL_OP_POOLS:
                t = reply_pools(m, req->id);
                break;
        case CTL_OP_SERVICES:
                manager_flush_reconcile(m);
                t = reply_services(m, req->id);
                break;
        case CTL_OP_PEERS:
                t = reply_peers(m, req->id);
                break;
        case CTL_OP_RELOAD:
                (void)manager_reload(m, &t, req->id);
                break;
        case CTL_OP_EVENTS:
                t = reply_events(req->id);
                break;
        default:
                ctl_error_set(&e, CTL_ERR_UNKNOWN_OP, "unknown op");
                reply_error(c, &e);
                ctl_error_clear(&e);
                return CONTROL_LINE_DONE;
        }
        send_line(c, t);
        return CONTROL_LINE_DONE;
}

char *manager_on_full(size_t max_clients, void *userdata)
{
        CtlError e = {.code = CTL_ERR_TOO_MANY_CLIENTS};
        char *t = NULL;

        snprintf(e.detail, sizeof(e.detail),
                 "%zu clients are connected, the most mlbd serves; closing the connection",
                 max_clients);
        ctl_reply_error(&e, NULL, 0, &t, NULL);
        return strip_newline(t);
}

char *manager_on_overflow(ControlClient *c, size_t max_line, void *userdata)
{
        CtlError e = {.code = CTL_ERR_LINE_TOO_LONG};
        char *t = NULL;

        snprintf(e.detail, sizeof(e.detail),
                 "a message is longer than %zu bytes; closing the connection", max_line);
        ctl_reply_error(&e, NULL, 0, &t, NULL);
        return strip_newline(t);
}

void manager_on_gone(ControlClient *c, void *userdata)
{
        Manager *m = userdata;
        Client *cl = control_client_get_data(c);

        if (!cl)
                return;
        m->n_bridges -= cl->bridge;
        if (m->leader_client == cl) {
                /* what that connection asked while it led (an upsert just before it
                 * closed) is decided by the leader it was: the reconcile it scheduled
                 * runs first */
                m->leader_client = NULL;
                manager_flush_reconcile(m);
                log_info("The connection that made this node the leader closed; no longer the "
                         "leader");
                m->leader = false;
                manager_schedule_reconcile(m);
        }
        model_free(cl->pending_sync);
        free(cl);
}
