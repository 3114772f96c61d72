/* SPDX-License-Identifier: MIT */
/*
 * status-tool: drives status.c against a real API server with a deliberately stale cache,
 * so the 409 path (read the Service again, then write) runs for certain:
 *   status-tool SERVER CA TOKEN NAMESPACE NAME ADDRESS
 * lists Services (informer.c), replaces the cached NAMESPACE/NAME by a copy whose
 * resourceVersion is "1", then hands status.c an `allocated` for ADDRESS as the leader.
 * Prints "writes N conflicts N" and exits 0 once the status shows ADDRESS and its Event
 * was answered, 1 on timeout.
 */
#include <stdio.h>
#include <string.h>

#include "informer.h"
#include "kube.h"
#include "status.h"
#include "translate.h"
#include "util/log.h"

typedef struct Run {
        Informer *inf;
        StatusWriter *w;
        const char *key, *addr;
        bool started;
        int rc;
} Run;

static int tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        Run *run = userdata;
        _cleanup_(json_decrefp) json_t *svc = informer_load(run->inf, run->key);
        const char *v[1] = {run->addr};

        if (!run->started && informer_has_synced(run->inf) && svc) {
                json_t *stale = json_deep_copy(svc);
                json_t *msg =
                    json_pack("{s:s, s:s, s:[s], s:s}", "service", run->key, "uid",
                              translate_object_uid(svc), "addresses", run->addr, "pool", "cheap");

                json_object_set_new(json_object_get(stale, "metadata"), "resourceVersion",
                                    json_string("1"));
                (void)informer_store(run->inf, stale);
                json_decref(stale);
                status_writer_set_leader(run->w, true);
                status_writer_notification(run->w, "allocated", msg);
                json_decref(msg);
                run->started = true;
        } else if (run->started && svc && translate_ingress_equal(svc, v, 1) &&
                   status_writer_writes(run->w) >= 1 && status_writer_events_pending(run->w) == 0) {
                run->rc = 0;
                return sd_event_exit(sd_event_source_get_event(s), 0);
        }
        return sd_event_source_set_time_relative(s, 50 * 1000) < 0
                   ? -1
                   : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        log_error("timed out");
        return sd_event_exit(sd_event_source_get_event(s), 1);
}

static void on_upserted(Informer *inf, const json_t *obj, void *userdata)
{
        Run *run = userdata;
        status_writer_service_changed(run->w, obj);
}

int main(int argc, char **argv)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(kube_freep) Kube *kube = NULL;
        _cleanup_(informer_freep) Informer *inf = NULL;
        _cleanup_(status_writer_freep) StatusWriter *w = NULL;
        _cleanup_free_ char *key = NULL;
        InformerCallbacks cb = {.upserted = on_upserted};
        Run run = {.rc = 1};

        if (argc != 7) {
                fprintf(stderr, "usage: status-tool SERVER CA TOKEN NAMESPACE NAME ADDRESS\n");
                return 2;
        }
        log_max_level = LOG_DEBUG;
        KubeEndpoint ep = {.server = argv[1], .ca_file = argv[2], .user_agent = "status-tool"};
        if (asprintf(&key, "%s/%s", argv[4], argv[5]) < 0 || sd_event_default(&e) < 0 ||
            kube_new(&kube, e, &ep) < 0 || kube_set_token(kube, argv[3]) < 0 ||
            informer_new(&inf, e, kube, OBJ_SERVICE, NULL, &cb, &run) < 0 ||
            status_writer_new(&w, e, kube, inf, "node1") < 0)
                return 2;
        run.inf = inf;
        run.w = w;
        run.key = key;
        run.addr = argv[6];
        (void)informer_start(inf);
        if (sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 50 * 1000, 1000, tick, &run) < 0 ||
            sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 15 * 1000 * 1000, 1000, timeout,
                                       NULL) < 0)
                return 2;
        (void)sd_event_loop(e);
        printf("writes %u conflicts %u\n", status_writer_writes(w), status_writer_conflicts(w));
        status_writer_set_leader(w, false);
        return run.rc;
}
