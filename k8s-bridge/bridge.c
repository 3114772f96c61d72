/* SPDX-License-Identifier: MIT */
/*
 * bridge: the wiring of mlbd-bridge (see bridge.h). Also the Lease loop's I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bridge.h"
#include "ctl-client.h"
#include "informer.h"
#include "lease.h"
#include "status.h"
#include "util/log.h"

struct Bridge {
        sd_event *event;
        Kube *kube;
        char *node, *socket, *lb_class;
        Informer *informers[_OBJ_KIND_MAX];
        CtlClient *ctl;
        Lease *lease;
        StatusWriter *status;
        sd_event_source *lease_timer, *stop_timer, *resync_timer;
        KubeRequest *lease_req;
        bool leader; /* what mlbd was told */
        bool stopping;
        bool synced_once;
};

static uint64_t mono_now(Bridge *b)
{
        uint64_t t = 0;
        (void)sd_event_now(b->event, CLOCK_MONOTONIC, &t);
        return t;
}

static uint64_t wall_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static bool all_synced(const Bridge *b)
{
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                if (!informer_has_synced(b->informers[k]))
                        return false;
        return true;
}

/* One full sync of every cache to mlbd, once all four kinds are listed. */
static void full_sync(Bridge *b)
{
        json_t *items[_OBJ_KIND_MAX] = {0};
        int r = -ENOMEM;

        if (!all_synced(b) || !ctl_client_is_ready(b->ctl))
                return;
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                if (!(items[k] = informer_items(b->informers[k])))
                        goto out;
        r = ctl_client_sync(b->ctl, items[OBJ_SERVICE], items[OBJ_ENDPOINT_SLICE], items[OBJ_NODE],
                            items[OBJ_NAMESPACE]);
        if (r >= 0 && !b->synced_once) {
                b->synced_once = true;
                log_info("synced with the API server: %zu Services, %zu EndpointSlices, %zu "
                         "Nodes, %zu Namespaces sent to mlbd",
                         json_array_size(items[OBJ_SERVICE]),
                         json_array_size(items[OBJ_ENDPOINT_SLICE]),
                         json_array_size(items[OBJ_NODE]), json_array_size(items[OBJ_NAMESPACE]));
        }
out:
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                json_decref(items[k]);
        if (r < 0)
                log_warning_errno(r, "Full sync to mlbd failed: %m");
}

static void on_listed(Informer *inf, void *userdata)
{
        full_sync(userdata);
}

#define RESYNC_DELAY_USEC (1000 * 1000ULL) /* the informers resume about together */

static int resync_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Bridge *b = userdata;

        log_info("watches resumed after an API outage: full sync to mlbd");
        full_sync(b);
        return 0;
}

/* A watch is back after failures: one full sync once the others have had a moment to
 * come back too. mlbd then holds exactly what the caches hold, whatever was missed. */
static void on_resumed(Informer *inf, void *userdata)
{
        Bridge *b = userdata;
        int enabled = SD_EVENT_OFF;

        if (!all_synced(b))
                return; /* the first list's sync is still to come */
        (void)sd_event_source_get_enabled(b->resync_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void)sd_event_source_set_time(b->resync_timer, mono_now(b) + RESYNC_DELAY_USEC);
        (void)sd_event_source_set_enabled(b->resync_timer, SD_EVENT_ONESHOT);
}

static void on_upserted(Informer *inf, const json_t *obj, void *userdata)
{
        Bridge *b = userdata;

        if (all_synced(b) && ctl_client_is_ready(b->ctl))
                (void)ctl_client_upsert(b->ctl, informer_kind(inf), obj);
        if (informer_kind(inf) == OBJ_SERVICE)
                status_writer_service_changed(b->status, obj);
}

static void on_deleted(Informer *inf, const json_t *obj, void *userdata)
{
        Bridge *b = userdata;
        const json_t *md = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        const char *uid = json_string_value(json_object_get(md, "uid"));

        if (all_synced(b) && ctl_client_is_ready(b->ctl) && name)
                (void)ctl_client_delete(b->ctl, informer_kind(inf), ns, name, uid);
}

/* ---- mlbd ------------------------------------------------------------------------ */

static void tell_leader(Bridge *b, bool leader)
{
        b->leader = leader;
        if (ctl_client_is_ready(b->ctl))
                (void)ctl_client_leader(b->ctl, leader);
        status_writer_set_leader(b->status, leader);
}

static void lease_step(Bridge *b);

static void on_connected(CtlClient *c, void *userdata)
{
        Bridge *b = userdata;

        log_info("connected to mlbd at %s", b->socket);
        full_sync(b);
        if (b->leader)
                (void)ctl_client_leader(b->ctl, true);
        lease_step(b); /* stand for the Lease */
}

static void on_disconnected(CtlClient *c, void *userdata)
{
        Bridge *b = userdata;
        log_warning("lost the connection to mlbd at %s; reconnecting", b->socket);
        lease_step(b); /* give up the Lease */
}

static void on_notification(CtlClient *c, const char *op, json_t *msg, void *userdata)
{
        Bridge *b = userdata;
        status_writer_notification(b->status, op, msg);
}

/* ---- the Lease --------------------------------------------------------------------- */

static void leader_check(Bridge *b)
{
        bool now = lease_is_leader(b->lease, mono_now(b));

        if (now == b->leader)
                return;
        if (now)
                log_info("holding the Lease as %s: this bridge writes Service status and Events",
                         lease_get_identity(b->lease));
        else if (b->stopping)
                log_info("gave up the Lease (stopping): writing nothing");
        else
                log_info("not holding the Lease (holder: %s): writing nothing",
                         lease_get_holder(b->lease) ? lease_get_holder(b->lease) : "none");
        tell_leader(b, now);
        if (now)
                full_sync(b); /* mlbd repeats `allocated` where a status lacks its addresses */
}

static void lease_done(KubeRequest *req, long status, const char *body, size_t len, int error,
                       void *userdata)
{
        Bridge *b = userdata;

        b->lease_req = NULL;
        if (error < 0)
                log_debug("lease request: %s", kube_request_error(req)); /* lease.c warns */
        (void)lease_handle_response(b->lease, mono_now(b), error < 0 ? 0 : status, body, len);
        lease_step(b);
}

static int lease_timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        lease_step(userdata);
        return 0;
}

/* Only a bridge connected to its mlbd stands for the Lease: the leader writes what its
 * mlbd reports, so a leader whose mlbd is gone (killed, restarting) would leave every
 * status and Event unwritten while a connected bridge waits. It releases the Lease at
 * once and stands again when its mlbd is back. */
static void lease_candidacy(Bridge *b)
{
        LeaseState st = lease_get_state(b->lease);
        bool connected = ctl_client_is_ready(b->ctl);

        if (b->stopping)
                return;
        if (!connected && st != LEASE_STATE_STOPPED && st != LEASE_STATE_RELEASING) {
                if (lease_release(b->lease, mono_now(b)) == LEASE_RELEASE_PENDING)
                        log_info("not connected to mlbd: releasing the Lease");
        } else if (connected && st == LEASE_STATE_STOPPED)
                (void)lease_resume(b->lease, mono_now(b)); /* -EBUSY: after the release */
}

static void lease_step(Bridge *b)
{
        LeaseAction a = {0};
        int r;

        lease_candidacy(b);
        r = lease_next(b->lease, mono_now(b), wall_now(), &a);
        leader_check(b);
        if (r < 0) {
                log_oom();
                a.at_usec = mono_now(b) + 1000 * 1000;
        }
        if (a.request != LEASE_REQUEST_NONE && !b->lease_req) {
                /* bounded by the renew deadline, as lease_handle_response() asks */
                r = kube_request(b->kube, &b->lease_req, a.method, a.path,
                                 a.body ? "application/json" : NULL, a.body, 2 * 1000, NULL,
                                 lease_done, b);
                if (r < 0)
                        (void)lease_handle_response(b->lease, mono_now(b), 0, NULL, 0);
        }
        if (lease_get_state(b->lease) == LEASE_STATE_STOPPED && b->stopping)
                (void)sd_event_exit(b->event, 0);
        else if (a.at_usec != UINT64_MAX) {
                (void)sd_event_source_set_time(b->lease_timer, a.at_usec);
                (void)sd_event_source_set_enabled(b->lease_timer, SD_EVENT_ONESHOT);
        }
        lease_action_done(&a);
}

/* ---- life ---------------------------------------------------------------------------- */

int bridge_new(Bridge **ret, sd_event *e, Kube *kube, const BridgeConfig *cfg)
{
        _cleanup_(bridge_freep) Bridge *b = calloc(1, sizeof(Bridge));
        _cleanup_free_ char *identity = NULL;
        static const InformerCallbacks icb = {.listed = on_listed,
                                              .upserted = on_upserted,
                                              .deleted = on_deleted,
                                              .resumed = on_resumed};
        static const CtlClientCallbacks ccb = {
            .connected = on_connected,
            .notification = on_notification,
            .disconnected = on_disconnected,
        };
        LeaseConfig lc = {0};
        uint64_t unique = 0;
        int r;

        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(e);
        b->kube = kube;
        if (!(b->node = strdup(cfg->node)) || !(b->socket = strdup(cfg->socket)) ||
            (cfg->lb_class && !(b->lb_class = strdup(cfg->lb_class))))
                return -ENOMEM;
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++) {
                r = informer_new(&b->informers[k], e, kube, k, cfg->lb_class, &icb, b);
                if (r < 0)
                        return r;
        }
        r = status_writer_new(&b->status, e, kube, b->informers[OBJ_SERVICE], cfg->node);
        if (r < 0)
                return r;
        r = ctl_client_new(&b->ctl, e, cfg->socket, cfg->node, &ccb, b);
        if (r < 0)
                return r;

        if (getrandom(&unique, sizeof(unique), 0) != sizeof(unique))
                unique = (uint64_t)getpid() ^ wall_now();
        r = lease_identity_new(&identity, cfg->node, unique);
        if (r < 0)
                return r;
        lease_config_default(&lc);
        lc.namespace = cfg->lease_namespace;
        lc.name = cfg->lease_name;
        lc.identity = identity;
        lc.seed = unique;
        if (cfg->lease_duration_usec)
                lc.lease_duration_usec = cfg->lease_duration_usec;
        if (cfg->renew_deadline_usec)
                lc.renew_deadline_usec = cfg->renew_deadline_usec;
        if (cfg->retry_period_usec)
                lc.retry_period_usec = cfg->retry_period_usec;
        r = lease_config_validate(&lc);
        if (r < 0)
                return log_error_errno(r, "Lease timings: need lease duration (whole seconds) > "
                                          "renew deadline > 1.2 x retry period > 0");
        r = lease_new(&b->lease, &lc);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &b->lease_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                              lease_timer_fired, b);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(b->lease_timer, SD_EVENT_OFF);
        r = sd_event_add_time(e, &b->resync_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, resync_fired,
                              b);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(b->resync_timer, SD_EVENT_OFF);
        *ret = TAKE_PTR(b);
        return 0;
}

Bridge *bridge_free(Bridge *b)
{
        if (!b)
                return NULL;
        kube_request_cancel(b->lease_req);
        sd_event_source_disable_unref(b->lease_timer);
        sd_event_source_disable_unref(b->stop_timer);
        sd_event_source_disable_unref(b->resync_timer);
        status_writer_free(b->status);
        ctl_client_free(b->ctl);
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                informer_free(b->informers[k]);
        lease_free(b->lease);
        sd_event_unref(b->event);
        free(b->node);
        free(b->socket);
        free(b->lb_class);
        free(b);
        return NULL;
}

int bridge_start(Bridge *b)
{
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                (void)informer_start(b->informers[k]);
        lease_step(b);
        return 0;
}

static int stop_timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Bridge *b = userdata;
        log_warning("releasing the Lease took too long; exiting without");
        return sd_event_exit(b->event, 0);
}

void bridge_stop(Bridge *b)
{
        if (b->stopping)
                return;
        b->stopping = true;
        status_writer_set_leader(b->status, false);
        if (lease_release(b->lease, mono_now(b)) == LEASE_RELEASE_DONE) {
                (void)sd_event_exit(b->event, 0);
                return;
        }
        log_info("releasing the Lease");
        (void)sd_event_add_time_relative(b->event, &b->stop_timer, CLOCK_MONOTONIC, 3 * 1000 * 1000,
                                         1000, stop_timer_fired, b);
        if (!b->lease_req)
                lease_step(b);
}

/* ---- health and metrics ----------------------------------------------------------------- */

bool bridge_is_ready(const Bridge *b)
{
        return all_synced(b) && ctl_client_is_ready(b->ctl);
}

int bridge_readiness(const Bridge *b, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, n = 0;
        FILE *f;
        bool ready = bridge_is_ready(b);

        if (!(f = open_memstream(&buf, &size)))
                return -ENOMEM;
        if (ready)
                fputs("ready", f);
        else {
                fputs("not ready:", f);
                for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                        if (!informer_has_synced(b->informers[k]))
                                fprintf(f, "%s %s", n++ ? "," : "", obj_kind_to_string(k));
                if (n)
                        fputs(" not listed yet", f);
                if (!ctl_client_is_ready(b->ctl))
                        fprintf(f, "%s not connected to mlbd at %s", n ? ";" : "", b->socket);
        }
        if (fclose(f) != 0 || !buf)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return ready;
}

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static char *label_escape(const char *s)
{
        char *out = malloc(strlen(s) * 2 + 1), *p = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        *p++ = '\\', *p++ = *s;
                else if (*s == '\n')
                        *p++ = '\\', *p++ = 'n';
                else
                        *p++ = *s;
        }
        *p = 0;
        return out;
}

int bridge_metrics(const Bridge *b, char **ret)
{
        _cleanup_free_ char *buf = NULL, *esc = NULL;
        const char *holder;
        size_t size = 0;
        FILE *f;

        if (!(f = open_memstream(&buf, &size)))
                return -ENOMEM;
        /* PACKAGE_VERSION needs no escaping (no backslash, quote or newline) */
        metric_head(f, "mlbd_bridge_build_info", "gauge",
                    "The version of mlbd-bridge running; always 1.");
        fprintf(f, "mlbd_bridge_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
        metric_head(f, "mlbd_bridge_leader", "gauge",
                    "1 while this bridge holds the Lease (it alone writes Service status and "
                    "Events), else 0.");
        fprintf(f, "mlbd_bridge_leader %d\n", b->leader);
        metric_head(f, "mlbd_bridge_mlbd_connected", "gauge",
                    "1 while the connection to the local mlbd is up (hello answered), else 0.");
        fprintf(f, "mlbd_bridge_mlbd_connected %d\n", ctl_client_is_ready(b->ctl));
        metric_head(f, "mlbd_bridge_informer_lists_total", "counter",
                    "Complete LISTs of a kind: the first one and every re-list.");
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                fprintf(f, "mlbd_bridge_informer_lists_total{kind=\"%s\"} %u\n",
                        obj_kind_to_string(k), informer_lists(b->informers[k]));
        metric_head(f, "mlbd_bridge_informer_watches_total", "counter",
                    "WATCH requests started for a kind (each resumption counts).");
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                fprintf(f, "mlbd_bridge_informer_watches_total{kind=\"%s\"} %u\n",
                        obj_kind_to_string(k), informer_watches(b->informers[k]));
        metric_head(f, "mlbd_bridge_status_writes_total", "counter",
                    "Service status PATCHes sent (only the Lease holder writes).");
        fprintf(f, "mlbd_bridge_status_writes_total %u\n", status_writer_writes(b->status));
        metric_head(f, "mlbd_bridge_status_conflicts_total", "counter",
                    "Service status PATCHes answered 409 Conflict (then read again).");
        fprintf(f, "mlbd_bridge_status_conflicts_total %u\n", status_writer_conflicts(b->status));
        metric_head(f, "mlbd_bridge_lease_holder", "gauge",
                    "1 for the holderIdentity this bridge last saw in the Lease (none while the "
                    "Lease is free or not read yet).");
        holder = lease_get_holder(b->lease);
        if (holder && *holder && (esc = label_escape(holder)))
                fprintf(f, "mlbd_bridge_lease_holder{holder=\"%s\"} 1\n", esc);
        kube_metrics(b->kube, f);
        if (fclose(f) != 0 || !buf)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}
