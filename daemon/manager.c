/* SPDX-License-Identifier: MIT */
/*
 * The daemon: event loop, configuration and reload, state file, signals, sd_notify and
 * the per-Service records; reconcile.c derives what to announce, requests.c answers the
 * control socket. See manager.h.
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
#include <grp.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "event-log.h"
#include "manager-private.h"
#include "metrics-counters.h"
#include "metrics.h"
#include "util/keymap.h"
#include "util/log.h"

const char *const svc_state_names[] = {
    [SVC_PENDING] = "pending", [SVC_ALLOCATED] = "allocated", [SVC_FAILED] = "failed"};

SvcInfo *svc_find(Manager *m, const char *key)
{
        size_t i;
        return keymap_get(m->svc_index, key, &i) ? &m->svcs[i] : NULL;
}

SvcInfo *svc_get(Manager *m, const char *key, const char *uid)
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

void svc_set(SvcInfo *s, SvcState state, const char *reason)
{
        s->state = state;
        free(s->reason);
        s->reason = strdup_or_null(reason);
}

void svc_drop(Manager *m, size_t i)
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
void strv_free_n(char **msgs, size_t n)
{
        for (size_t i = 0; msgs && i < n; i++)
                free(msgs[i]);
        free(msgs);
}

/* ctl_* encoders end lines with '\n'; the transport adds its own. */
char *strip_newline(char *text)
{
        size_t len = text ? strlen(text) : 0;

        if (len && text[len - 1] == '\n')
                text[len - 1] = 0;
        return text;
}

void manager_notify(Manager *m, char *text)
{
        if (!strip_newline(text))
                return;
        control_server_broadcast(m->control, text, want_notifications);
        free(text);
}

void manager_schedule_reconcile(Manager *m)
{
        if (m->reconcile_source)
                (void)fair_defer_arm(m->reconcile_source);
}

void manager_update_status(Manager *m)
{
        size_t alloc = 0, failed = 0;

        for (size_t i = 0; i < m->n_svcs; i++) {
                alloc += m->svcs[i].state == SVC_ALLOCATED;
                failed += m->svcs[i].state == SVC_FAILED;
        }
        free(m->status_line);
        if (asprintf(&m->status_line,
                     "%zu services (%zu allocated, %zu failed), %zu addresses owned, %zu of %zu "
                     "nodes alive, %s%s%s",
                     m->n_svcs, alloc, failed, announcer_count(m->announcer, ANN_OWNED),
                     cluster_peers_alive(m->cluster) + 1, cluster_view(m->cluster)->n,
                     m->n_bridges ? "bridge connected" : "no bridge", m->leader ? ", leader" : "",
                     cluster_waiting_for_members(m->cluster)
                         ? ", waiting for the Nodes (first full sync) before taking addresses"
                         : "") < 0)
                m->status_line = NULL;
        if (m->status_line)
                (void)sd_notifyf(false, "STATUS=%s", m->status_line);
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

void manager_save_state(Manager *m)
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
        m->last_save_usec = manager_now(m);
        if (m->save_timer)
                (void)sd_event_source_set_enabled(m->save_timer, SD_EVENT_OFF);
}

static int save_timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        manager_save_state(userdata);
        return 0;
}

/* The first save after a quiet spell is written at once, later ones at most every
 * STATE_SAVE_INTERVAL_USEC: each costs an fsync, and a burst of changes (a client that
 * pipelines upserts) would otherwise write the file after every reconcile. */
static int save_fired(sd_event_source *s, void *userdata)
{
        Manager *m = userdata;
        uint64_t now = manager_now(m);
        int enabled = SD_EVENT_OFF;

        if (m->last_save_usec && now - m->last_save_usec < STATE_SAVE_INTERVAL_USEC) {
                (void)sd_event_source_get_enabled(m->save_timer, &enabled);
                if (enabled == SD_EVENT_OFF) {
                        (void)sd_event_source_set_time(m->save_timer, m->last_save_usec +
                                                                          STATE_SAVE_INTERVAL_USEC);
                        (void)sd_event_source_set_enabled(m->save_timer, SD_EVENT_ONESHOT);
                }
                return 0;
        }
        manager_save_state(m);
        return 0;
}

static uint64_t now_realtime_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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
        strv_free_n(r->msgs, r->n_msgs);
        free(r->first_file);
        *r = (ConfReport){0};
}

/* Loads both files, logs every diagnostic; report (may be NULL) gets them too. */
static int load_config(const char *path, Conf **ret_conf, PoolSet **ret_pools, ConfReport *report)
{
        DiagList diags = {0};
        int r = conf_load(path, ret_conf, &diags);

        if (r >= 0) {
                r = pools_load_all((*ret_conf)->pools, (*ret_conf)->pools_dir, ret_pools, &diags);
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
                strv_free_n(msgs, n);
        return r;
}

static AnnounceSettings announce_settings(const Conf *c)
{
        return (AnnounceSettings){
            .interface = c->announce_interface,
            .node_name = c->node_name,
            .garp_count = c->garp_count,
            .garp_interval_usec = (uint64_t)c->garp_interval_ms * 1000,
            .refresh_usec = (uint64_t)c->garp_refresh_s * 1000000,
            /* a peer not heard by then after link up is dead: announce what we took */
            .quiet_usec = ((uint64_t)c->dead_after_ms + c->heartbeat_interval_ms) * 1000,
        };
}

/* admin_group's gid, or (gid_t)-1 when none is set or it does not exist (logged). */
static gid_t admin_gid(const Conf *c)
{
        struct group *g;

        if (!c->admin_group)
                return (gid_t)-1;
        g = getgrnam(c->admin_group);
        if (!g) {
                log_warning("admin_group \"%s\" does not exist; only root and mlbd's user may "
                            "change things over the control socket",
                            c->admin_group);
                return (gid_t)-1;
        }
        return g->gr_gid;
}

/* What a reload cannot apply: the node's identity and the sockets and directory opened at
 * start. Returns the first such key that changed (why says how), or NULL. */
static const char *fixed_key_changed(const Conf *old, const Conf *new, char *why, size_t len)
{
        static const struct {
                const char *key;
                size_t offset;
        } strings[] = {
            {"node_name", offsetof(Conf, node_name)},
            {"socket", offsetof(Conf, socket)},
            {"socket_group", offsetof(Conf, socket_group)},
            {"state_dir", offsetof(Conf, state_dir)},
        };
        char a[HOSTPORT_STR_MAX], b[HOSTPORT_STR_MAX];

        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                const char *x = *(char *const *)((const char *)old + strings[i].offset);
                const char *y = *(char *const *)((const char *)new + strings[i].offset);
                if (strcmp(x ? x : "", y ? y : "") != 0) {
                        snprintf(why, len,
                                 "%s cannot change on reload (\"%s\" -> \"%s\"); restart mlbd",
                                 strings[i].key, x ? x : "", y ? y : "");
                        return strings[i].key;
                }
        }
        hostport_format(&old->cluster_listen, a, sizeof(a));
        hostport_format(&new->cluster_listen, b, sizeof(b));
        if (strcmp(a, b) != 0) {
                snprintf(why, len, "listen cannot change on reload (%s -> %s); restart mlbd", a, b);
                return "listen";
        }
        hostport_format(&old->metrics_listen, a, sizeof(a));
        hostport_format(&new->metrics_listen, b, sizeof(b));
        if (strcmp(a, b) != 0) {
                snprintf(
                    why, len,
                    "[metrics] listen cannot change on reload (\"%s\" -> \"%s\"); restart mlbd", a,
                    b);
                return "listen";
        }
        return NULL;
}

/* Validates first; on any error nothing changes. */
int manager_reload(Manager *m, char **reply, const json_t *id)
{
        Conf *conf = NULL;
        PoolSet *pools = NULL;
        Allocator *alloc = NULL;
        AllocDropped *dropped = NULL;
        size_t n_dropped = 0;
        ConfReport rep = {0};
        uint8_t key[HB_KEY_SIZE];
        char why[CTL_DETAIL_MAX - 64] = "";
        int r;

        (void)sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration");
        log_info("Reloading %s", m->conf_path);
        r = load_config(m->conf_path, &conf, &pools, &rep);
        if (r >= 0 && fixed_key_changed(m->conf, conf, why, sizeof(why)))
                r = -EINVAL;
        if (r >= 0) {
                /* the key file is read again: a key rotation needs only a reload */
                _cleanup_free_ char *error = NULL;
                r = hb_key_load(conf->key_file, key, &error);
                if (r < 0)
                        snprintf(why, sizeof(why), "cluster key: %s",
                                 error ? error : conf->key_file);
                else if (r == HB_KEY_LOOSE_MODE)
                        log_warning("%s", error);
        }
        if (r >= 0)
                r = allocator_rebuild(m->alloc, pools, &alloc, &dropped, &n_dropped);
        if (r < 0) {
                metrics_counters.reloads_failed++;
                metrics_counters.last_reload_ok = 0;
                if (why[0])
                        event_log(EVENT_RELOAD_FAILED, LOG_ERR, NULL, NULL,
                                  "Reload failed: %s; the running configuration is unchanged", why);
                else /* the FILE:LINE:COL errors were logged just before */
                        event_log(EVENT_RELOAD_FAILED, LOG_ERR, NULL, NULL,
                                  "Reload failed; the running configuration is unchanged");
                if (reply) {
                        CtlError e = {.code = CTL_ERR_RELOAD_FAILED, .id = (json_t *)id};
                        if (why[0])
                                snprintf(e.detail, sizeof(e.detail), "%s; nothing changed", why);
                        else if (rep.n_errors)
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
                                 rep.n_msgs ? rep.msgs[0]
                                 : why[0]   ? why
                                            : "see the log",
                                 rep.n_msgs > 1 ? " (and more in the log)" : "");
                sodium_memzero(key, sizeof(key));
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
                manager_notify(m, t);
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
        m->admin_gid = admin_gid(conf);
        AnnounceSettings as = announce_settings(conf);
        announcer_set_settings(m->announcer, &as);
        announcer_retry_all(m->announcer); /* a reload is a reason to look again */
        (void)cluster_reconfigure(m->cluster, conf);
        if (cluster_set_key(m->cluster, key))
                log_notice("Cluster key changed (%s): heartbeats are signed with the new key; "
                           "peers still on the old one count as dead until they reload too",
                           conf->key_file);
        sodium_memzero(key, sizeof(key));
        if (reply) {
                AddrCount total = {0};
                for (size_t i = 0; i < pools->n_pools; i++)
                        for (size_t j = 0; j < pools->pools[i].n_ranges; j++)
                                addr_count_add_range(&total, &pools->pools[i].ranges[j]);
                CtlReloadReply rr = {pools->n_pools, total, rep.msgs, rep.n_msgs};
                ctl_reply_reload(id, &rr, reply, NULL);
        }
        conf_report_clear(&rep);
        metrics_counters.reloads_ok++;
        metrics_counters.last_reload_ok = 1;
        metrics_counters.last_reload_realtime_usec = now_realtime_usec();
        log_info("Reloaded: %zu pools", pools->n_pools);
        (void)sd_notify(false, "READY=1");
        manager_schedule_reconcile(m);
        return 0;
}

/* ---- signals, kernel events, lifecycle --------------------------------------------- */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        (void)manager_reload(userdata, NULL, NULL);
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
        (void)addrset_add(l, addr);
}

static void hush_cb(u128 addr, const char *ifname, void *userdata)
{
        announcer_hush(userdata, addr);
}

/* Graceful stop: lets go of each address as soon as a peer says it holds it (after the
 * linger and the drain). */
void manager_stop_progress(Manager *m)
{
        AddrSet owned = {0};

        if (cluster_peers_alive(m->cluster) == 0)
                return finish_stop(m, "no live peer to hand them to");
        announcer_foreach(m->announcer, ANN_OWNED, release_cb, &owned);
        for (size_t i = 0; i < owned.n; i++)
                if (cluster_peer_holds(m->cluster, owned.addrs[i]) &&
                    handover_linger_done(m, owned.addrs[i])) {
                        char buf[ADDR_STR_MAX];
                        log_info("%s: a peer holds it now; removing it here",
                                 addr_format(owned.addrs[i], buf));
                        announcer_unwant(m->announcer, owned.addrs[i]);
                        handover_forget(m, owned.addrs[i]);
                }
        addrset_done(&owned);
        manager_publish_owned(m);
        if (announcer_count(m->announcer, ANN_OWNED) == 0) {
                /* the peers hold them now: the next start takes them back only once it
                 * has heard the peers, from whoever then holds them (make before break) */
                manager_save_state(m);
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
        uint64_t bound = (2 * (uint64_t)m->conf->dead_after_ms + 500 + m->conf->drain_ms) * 1000;

        if (m->stopping)
                return 0;
        log_info("Stopping (signal %u)", si->ssi_signo);
        (void)sd_notify(false, "STOPPING=1\nSTATUS=Stopping: handing addresses over");
        m->stopping = true;
        /* the state file keeps what we announced, so that the next start knows it */
        manager_save_state(m);
        if (announcer_count(m->announcer, ANN_OWNED) == 0 || cluster_peers_alive(m->cluster) == 0) {
                finish_stop(m, "no live peer to hand them to");
                return 0;
        }
        /* make before break: peers take over when they see "leaving", then we let go;
         * meanwhile no announcement from here (the rest of a burst, a refresh, a
         * defence) may pull a client back to this node */
        announcer_foreach(m->announcer, ANN_OWNED, hush_cb, m->announcer);
        cluster_set_leaving(m->cluster);
        (void)sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, bound, 1000,
                                         on_stop_timeout, m);
        return 0;
}

static void on_cluster_changed(void *userdata)
{
        Manager *m = userdata;

        if (m->stopping)
                manager_stop_progress(m);
        else
                manager_schedule_reconcile(m);
}

static int on_handover_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        if (m->stopping)
                manager_stop_progress(m); /* a handover's linger is over */
        else
                manager_schedule_reconcile(m);
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
        if (ev->type == NL_EVENT_LINK_GONE || ev->type == NL_EVENT_LINK_UP ||
            ev->type == NL_EVENT_ADDR_DEL)
                manager_schedule_reconcile(m); /* what the heartbeats claim may change */
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
        int r = state_load_node(m->conf->state_dir, m->conf->node_name, &m->restored);
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
        r = handover_rules_new(&m->rules); /* deletes what a crashed run left */
        if (r < 0)
                return r;
        r = nl_monitor_new(&m->monitor, on_netlink, m);
        if (r >= 0)
                r = nl_monitor_attach_event(m->monitor, m->event, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the kernel's addresses and links: %m");
        AnnounceSettings as = announce_settings(m->conf);
        AnnouncerCallbacks acb = {.owned = manager_on_owned,
                                  .refused = manager_on_refused,
                                  .claimed = manager_on_claimed};
        r = announcer_new(&m->announcer, m->event, m->nl, &as, &acb, m);
        if (r < 0)
                return log_oom();
        r = fair_defer_new(m->event, &m->reconcile_source, manager_reconcile, m);
        if (r < 0)
                return log_oom();
        /* Normal priority, like every other source: a lower one runs only when nothing
         * else is pending, and a flood (heartbeat port, ARP, a client that pipelines)
         * keeps something pending all the time, so takeovers would wait for the flood to
         * end. Each input reads a bounded batch per wakeup; sources of one priority are
         * served in the order they became pending, which a plain defer source would
         * defeat (fair-defer.h). */

        m->admin_gid = admin_gid(m->conf);
        ControlCallbacks ccb = {.line = manager_on_line,
                                .overflow_reply = manager_on_overflow,
                                .full_reply = manager_on_full,
                                .gone = manager_on_gone};
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
        metrics_counters.start_realtime_usec = now_realtime_usec();
        metrics_counters.last_reload_realtime_usec = metrics_counters.start_realtime_usec;
        r = metrics_server_start(m);
        if (r < 0)
                return r; /* logged, naming the address */
        r = sd_event_add_time(m->event, &m->handover_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                              on_handover_timer, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_enabled(m->handover_timer, SD_EVENT_OFF);
        r = sd_event_add_time(m->event, &m->drain_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                              manager_on_drain_timer, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_enabled(m->drain_timer, SD_EVENT_OFF);
        r = sd_event_add_time(m->event, &m->claim_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                              manager_on_claim_timer, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_enabled(m->claim_timer, SD_EVENT_OFF);
        r = fair_defer_new(m->event, &m->save_source, save_fired, m);
        if (r < 0)
                return log_oom();
        /* normal priority too (see reconcile_source): a save waits at most for the
         * sources that were pending before it, never for the end of a flood */
        r = sd_event_add_time(m->event, &m->save_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                              save_timer_fired, m);
        if (r < 0)
                return log_oom();
        (void)sd_event_source_set_enabled(m->save_timer, SD_EVENT_OFF);
        restore_state(m);
        *ret = TAKE_PTR(m);
        return 0;
}

int manager_run(Manager *m)
{
        log_info("mlbd %s started on node %s; control socket %s", PACKAGE_VERSION,
                 m->conf->node_name, m->conf->socket);
        (void)manager_reconcile(NULL, m); /* owned addresses first, then READY=1 */
        (void)sd_notifyf(false, "READY=1\nSTATUS=%s", m->status_line ? m->status_line : "");
        return sd_event_loop(m->event);
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        m->stopping = true; /* the clients' gone callbacks below start nothing */
        http_server_free(m->metrics);
        control_server_free(m->control);
        announcer_free(m->announcer);
        cluster_free(m->cluster);
        sd_event_source_disable_unref(m->handover_timer);
        sd_event_source_disable_unref(m->drain_timer);
        handover_rules_free(m->rules); /* after the addresses: a hushed one is gone by now */
        sd_event_source_disable_unref(m->claim_timer);
        addrset_done(&m->claimed);
        sd_event_source_disable_unref(m->stop_timer);
        sd_event_source_disable_unref(m->save_source);
        sd_event_source_disable_unref(m->save_timer);
        free(m->handovers);
        for (size_t i = 0; i < m->n_unheld; i++)
                free(m->unheld[i].node);
        free(m->unheld);
        free(m->standin_live);
        addrset_done(&m->contested);
        addrset_done(&m->prevet);
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
