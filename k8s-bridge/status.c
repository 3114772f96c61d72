/* SPDX-License-Identifier: MIT */
/*
 * status: Service status and Events, written by the leader (see status.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "condition.h"
#include "events.h"
#include "status.h"
#include "translate.h"
#include "util/log.h"
#include "watch.h"

#define WRITE_ATTEMPTS 8
#define RETRY_MIN_USEC (500 * 1000ULL)
#define RETRY_MAX_USEC (30 * 1000 * 1000ULL)
#define WRITE_TIMEOUT_MS (15 * 1000)
#define EVENT_QUEUE 256
#define CONDITION_SETTLE_USEC (1000 * 1000ULL)

typedef struct Want Want;
struct Want {
        StatusWriter *writer;
        char *key;        /* namespace/name */
        char *uid;        /* the Service's uid as mlbd saw it */
        json_t *addrs;    /* array of address strings the status should show */
        bool has_addrs;   /* addrs is wanted (else only the condition is looked at) */
        bool wrote_addrs; /* the write in flight sets the addresses */
        bool wrote_cond;  /* ... and the condition */
        char *why;        /* "allocated" or the release: what the Event says */
        KubeRequest *req;
        sd_event_source *retry;
        unsigned attempts;
        uint64_t backoff;
        bool again; /* changed while a request was in flight */
        Want *next;
};

struct StatusWriter {
        sd_event *event;
        Kube *kube;
        Informer *services;
        EventRecorder *events;
        bool leader;
        Want *wants;
        json_t *announcers;                   /* "key address" -> node last reported in an Event */
        json_t *announced;                    /* key -> {address: node}, for the condition */
        json_t *failures;                     /* key -> mlbd's allocation_failed reason */
        struct EventSend *queue[EVENT_QUEUE]; /* Events to send, the head in flight */
        unsigned queue_head, queue_len;
        unsigned writes, conflicts;
        char *event_error;  /* the last Event write failure, said once until it changes */
        char *last_failure; /* the last failed write, said once */
};

static void want_kick(Want *w);
static int retry_fired(sd_event_source *src, uint64_t usec, void *userdata);

static uint64_t mono_now(StatusWriter *s)
{
        uint64_t t = 0;
        (void)sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

static uint64_t wall_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static Want *want_free(Want *w)
{
        if (!w)
                return NULL;
        kube_request_cancel(w->req);
        sd_event_source_disable_unref(w->retry);
        json_decref(w->addrs);
        free(w->key);
        free(w->uid);
        free(w->why);
        free(w);
        return NULL;
}

static void want_drop(Want *w)
{
        StatusWriter *s = w->writer;
        for (Want **p = &s->wants; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        want_free(w);
}

static Want *want_find(StatusWriter *s, const char *key)
{
        for (Want *w = s->wants; w; w = w->next)
                if (strcmp(w->key, key) == 0)
                        return w;
        return NULL;
}

/* ---- Events ------------------------------------------------------------------------ */

typedef struct EventSend {
        StatusWriter *writer;
        EventAction action;
        KubeRequest *req;
} EventSend;

static void event_send_free(EventSend *es)
{
        kube_request_cancel(es->req);
        event_action_done(&es->action);
        free(es);
}

static void event_start(StatusWriter *s);
static void event_send(StatusWriter *s, EventAction *a);

/* A failure said once until its text changes: true when text (taken) is new and was kept
 * in *said, false when it was already said (text is freed). */
static bool say_once(char **said, char *text)
{
        if (*said && strcmp(*said, text) == 0) {
                free(text);
                return false;
        }
        free(*said);
        *said = text;
        return true;
}

/* Says a failing Event write once (until its text changes) and the first success after
 * it; a PATCH that finds its Event expired (404) is not a failure: it is created anew. */
static void event_note_result(StatusWriter *s, const EventAction *a, KubeRequest *req, long status,
                              const char *body, size_t len, int error)
{
        _cleanup_free_ char *text = NULL;
        WatchStatus st = {0};
        int r;

        if (error >= 0 && status >= 200 && status < 300) {
                if (s->event_error)
                        log_info("Events: writing again (after: %s)", s->event_error);
                s->event_error = mfree(s->event_error);
                return;
        }
        if (error >= 0 && status == 404 && a->kind == EVENT_ACTION_PATCH)
                return;
        if (error < 0)
                text = strdup(kube_request_error(req));
        else {
                if (len && watch_parse_status(body, len, &st, NULL) >= 0 && st.message)
                        r = asprintf(&text, "%s HTTP %ld: %s", a->method, status, st.message);
                else
                        r = asprintf(&text, "%s HTTP %ld", a->method, status);
                if (r < 0)
                        text = NULL; /* asprintf leaves it undefined */
                watch_status_clear(&st);
        }
        if (!text)
                return (void)log_oom();
        if (say_once(&s->event_error, TAKE_PTR(text)))
                log_warning("Events: cannot write: %s; Events are dropped until it works again",
                            s->event_error);
}

/* The head of the queue is answered: next one. */
static void event_done(KubeRequest *req, long status, const char *body, size_t len, int error,
                       void *userdata)
{
        EventSend *es = userdata;
        StatusWriter *s = es->writer;
        EventAction retry = {0};

        es->req = NULL;
        if (error < 0 || status < 200 || status >= 300)
                log_debug("event %s %s: HTTP %ld %s", es->action.method, es->action.path, status,
                          error < 0 ? kube_request_error(req) : "");
        event_note_result(s, &es->action, req, status, body, len, error);
        s->queue_head = (s->queue_head + 1) % EVENT_QUEUE;
        s->queue_len--;
        if (events_handle_response(s->events, &es->action, error < 0 ? 0 : status, &retry) ==
            EVENTS_RETRY_CREATE)
                event_send(s, &retry);
        event_action_done(&retry);
        event_send_free(es);
        event_start(s);
}

/* Sends the head of the queue; Events go one at a time, in order, so a count PATCH never
 * overtakes the create of its Event. */
static void event_start(StatusWriter *s)
{
        while (s->queue_len > 0) {
                EventSend *es = s->queue[s->queue_head];
                if (es->req)
                        return; /* in flight */
                if (kube_request(s->kube, &es->req, es->action.method, es->action.path,
                                 es->action.content_type, es->action.body, WRITE_TIMEOUT_MS, NULL,
                                 event_done, es) >= 0)
                        return;
                s->queue_head = (s->queue_head + 1) % EVENT_QUEUE;
                s->queue_len--;
                event_send_free(es);
        }
}

/* Queues a (taking its contents). */
static void event_send(StatusWriter *s, EventAction *a)
{
        EventSend *es;

        if (a->kind == EVENT_ACTION_SKIP)
                return;
        if (s->queue_len == EVENT_QUEUE) {
                log_debug("too many Events queued; dropping %s", a->name);
                return;
        }
        es = calloc(1, sizeof(EventSend));
        if (!es)
                return (void)log_oom();
        es->writer = s;
        es->action = *a;
        memset(a, 0, sizeof(*a));
        s->queue[(s->queue_head + s->queue_len++) % EVENT_QUEUE] = es;
        event_start(s);
}

static void event_record(StatusWriter *s, const char *key, const char *uid, EventType type,
                         const char *reason, const char *message)
{
        _cleanup_free_ char *ns = strdup(key);
        char *name = ns ? strchr(ns, '/') : NULL;
        EventAction a = {0};
        EventObjectRef ref;

        if (!s->leader || !name)
                return;
        *name++ = 0;
        ref = events_service_ref(ns, name, uid, NULL);
        if (events_record(s->events, &ref, type, reason, message, mono_now(s), wall_now(), &a) <
            0) {
                log_debug("event %s for %s not recorded", reason, key);
                return event_action_done(&a);
        }
        event_send(s, &a);
        event_action_done(&a);
}

/* ---- status writes ------------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static char *addrs_text(const json_t *addrs)
{
        return json_dumps(addrs, JSON_COMPACT);
}

static size_t addrs_vector(const json_t *addrs, const char **v, size_t max)
{
        size_t n = 0;
        for (size_t i = 0; i < json_array_size(addrs) && n < max; i++)
                if (json_is_string(json_array_get(addrs, i)))
                        v[n++] = json_string_value(json_array_get(addrs, i));
        return n;
}

static void want_retry_later(Want *w, uint64_t at_least)
{
        StatusWriter *s = w->writer;
        uint64_t wait;

        w->backoff = w->backoff ? MIN(w->backoff * 2, RETRY_MAX_USEC) : RETRY_MIN_USEC;
        wait = MAX(w->backoff, at_least);
        if (!w->retry) {
                if (sd_event_add_time(s->event, &w->retry, CLOCK_MONOTONIC, UINT64_MAX, 1000,
                                      retry_fired, w) < 0)
                        return;
        }
        (void)sd_event_source_set_time(w->retry, mono_now(s) + wait);
        (void)sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT);
}

static void get_done(KubeRequest *req, long status, const char *body, size_t len, int error,
                     void *userdata)
{
        Want *w = userdata;
        json_t *svc;

        w->req = NULL;
        if (error == 0 && status == 200 && (svc = json_loadb(body, len, 0, NULL))) {
                (void)informer_store(w->writer->services, svc);
                json_decref(svc);
                want_kick(w);
        } else if (status == 404)
                want_drop(w);
        else
                want_retry_later(w, 0);
}

static void patch_done(KubeRequest *req, long status, const char *body, size_t len, int error,
                       void *userdata)
{
        Want *w = userdata;
        StatusWriter *s = w->writer;
        _cleanup_free_ char *path = NULL, *ns = NULL;
        json_t *svc;

        w->req = NULL;
        if (error == 0 && status == 200) {
                _cleanup_free_ char *text = addrs_text(w->addrs);
                if (s->last_failure) {
                        log_info("status writes work again (after: %s)", s->last_failure);
                        s->last_failure = mfree(s->last_failure);
                }
                if ((svc = json_loadb(body, len, 0, NULL))) {
                        (void)informer_store(s->services, svc);
                        json_decref(svc);
                }
                if (w->wrote_cond)
                        log_info("%s: condition %s updated", w->key, CONDITION_ANNOUNCED);
                if (!w->wrote_addrs)
                        goto written;
                log_info("%s: status.loadBalancer.ingress = %s", w->key, text ? text : "?");
                if (json_array_size(w->addrs) > 0) {
                        _cleanup_free_ char *m = NULL;
                        if (asprintf(&m, "Assigned IP %s", text ? text : "") >= 0)
                                event_record(s, w->key, w->uid, EVENT_TYPE_NORMAL,
                                             EVENT_REASON_IP_ALLOCATED, m);
                } else
                        event_record(s, w->key, w->uid, EVENT_TYPE_NORMAL,
                                     EVENT_REASON_CLEAR_ASSIGNMENT, w->why ? w->why : "released");
        written:
                if (w->again) {
                        w->again = false;
                        return want_kick(w);
                }
                return want_drop(w);
        }
        if (status == 409 && w->attempts < WRITE_ATTEMPTS) {
                /* our version is stale: read the Service again, then reconsider */
                s->conflicts++;
                ns = strdup(w->key);
                char *name = ns ? strchr(ns, '/') : NULL;
                if (!name)
                        return want_drop(w);
                *name++ = 0;
                if (asprintf(&path, "/api/v1/namespaces/%s/services/%s", ns, name) < 0 ||
                    kube_request(s->kube, &w->req, "GET", path, NULL, NULL, WRITE_TIMEOUT_MS, NULL,
                                 get_done, w) < 0)
                        want_retry_later(w, 0);
                return;
        }
        if (status == 404 || status == 422) {
                /* gone, or re-created under the same name (another uid): not ours to write */
                log_info("%s: not writing its status (HTTP %ld: deleted or re-created)", w->key,
                         status);
                return want_drop(w);
        }
        /* said once per failure, until a write works again; the retries at debug */
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "%s (HTTP %ld)",
                     error < 0 ? kube_request_error(req) : "unexpected HTTP status", status) < 0)
                text = NULL;
        if (!text)
                log_oom();
        else if (say_once(&s->last_failure, TAKE_PTR(text)))
                log_warning("%s: status write failed: %s; retrying with backoff", w->key,
                            s->last_failure);
        else
                log_debug("%s: status write failed again: %s", w->key, s->last_failure);
        if (status)
                log_debug("%s: HTTP %ld: %.*s", w->key, status, (int)MIN(len, 512), body);
        want_retry_later(w, kube_request_retry_after_usec(req));
}

/* What mlbd.io/Announced should say for w's Service: 1 and *c (its message in *msg), or 0
 * when we have nothing to say (the condition is left alone). */
static int desired_condition(StatusWriter *s, const Want *w, const json_t *svc, Condition *c,
                             char **msg)
{
        const char *fail = json_string_value(json_object_get(s->failures, w->key));
        const json_t *ann = json_object_get(s->announced, w->key);

        if (fail) {
                *c = (Condition){.status = false, .reason = "AllocationFailed", .message = fail};
                return 1;
        }
        const char *a;
        json_t *node;
        json_object_foreach((json_t *)ann, a, node)
        {
                if (json_is_string(node) && !*json_string_value(node)) {
                        if (asprintf(msg, "no live node is eligible to announce %s", a) < 0)
                                *msg = NULL;
                        *c = (Condition){
                            .status = false, .reason = "NoEligibleNode", .message = *msg};
                        return *msg ? 1 : 0;
                }
        }
        if (json_object_size(ann) > 0 && (*msg = condition_announced_message(ann))) {
                *c = (Condition){.status = true, .reason = "Announced", .message = *msg};
                return 1;
        }
        if (w->has_addrs && json_array_size(w->addrs) == 0 && condition_present(svc)) {
                *c = (Condition){
                    .status = false, .reason = "Released", .message = "no address is allocated"};
                return 1;
        }
        return 0;
}

/* Writes the wanted addresses and condition if the cached Service does not show them. */
static void want_kick(Want *w)
{
        StatusWriter *s = w->writer;
        _cleanup_free_ char *path = NULL, *body = NULL, *ns = NULL;
        _cleanup_(json_decrefp) json_t *patch = NULL;
        const char *v[16];
        _cleanup_free_ char *msg = NULL;
        _cleanup_(json_decrefp) json_t *svc = NULL;
        const char *uid, *rv;
        Condition cond = {0};
        size_t n;
        char *name;
        int r;

        if (!s->leader)
                return want_drop(w);
        if (w->req) {
                w->again = true;
                return;
        }
        svc = informer_load(s->services, w->key);
        uid = svc ? translate_object_uid(svc) : NULL;
        if (!svc || !uid || (w->uid && strcmp(uid, w->uid) != 0)) {
                /* deleted or re-created: mlbd tells us about the new one */
                log_debug("%s: not written: %s", w->key, svc ? "another uid" : "not in the cache");
                return want_drop(w);
        }
        n = addrs_vector(w->addrs, v, ELEMENTSOF(v));
        w->wrote_addrs = w->has_addrs && !translate_ingress_equal(svc, v, n);
        r = desired_condition(s, w, svc, &cond, &msg);
        w->wrote_cond = r > 0 && !condition_shown(svc, &cond);
        if (!w->wrote_addrs && !w->wrote_cond) {
                log_debug("%s: its status shows it already", w->key);
                return want_drop(w);
        }
        rv = translate_object_resource_version(svc);
        if (w->wrote_addrs)
                r = translate_status_patch(v, n, &patch);
        else
                r = (patch = json_pack("{s{}}", "status")) ? 0 : -ENOMEM;
        if (r >= 0 && w->wrote_cond) {
                json_t *list = NULL;
                r = condition_list(svc, &cond, wall_now(), &list);
                if (r == -EINVAL) {
                        log_warning("%s: cannot write condition %s: bad reason or message", w->key,
                                    CONDITION_ANNOUNCED);
                        w->wrote_cond = false;
                        if (!w->wrote_addrs)
                                return want_drop(w);
                        r = 0;
                } else if (r >= 0)
                        r = json_object_set_new(json_object_get(patch, "status"), "conditions",
                                                list);
        }
        if (r < 0 ||
            json_object_set_new(patch, "metadata",
                                json_pack("{s:s, s:s?}", "uid", uid, "resourceVersion", rv)) < 0 ||
            !(body = json_dumps(patch, JSON_COMPACT)))
                return (void)log_oom();
        ns = strdup(w->key);
        name = ns ? strchr(ns, '/') : NULL;
        if (!name)
                return want_drop(w);
        *name++ = 0;
        if (asprintf(&path, "/api/v1/namespaces/%s/services/%s/status", ns, name) < 0)
                return (void)log_oom();
        w->attempts++;
        s->writes++;
        if (kube_request(s->kube, &w->req, "PATCH", path, "application/merge-patch+json", body,
                         WRITE_TIMEOUT_MS, NULL, patch_done, w) < 0)
                want_retry_later(w, 0);
}

static int retry_fired(sd_event_source *src, uint64_t usec, void *userdata)
{
        want_kick(userdata);
        return 0;
}

static Want *want_get(StatusWriter *s, const char *key, const char *uid)
{
        Want *w = want_find(s, key);

        if (!w) {
                w = calloc(1, sizeof(Want));
                if (!w || !(w->key = strdup(key)) || !(w->addrs = json_array())) {
                        want_free(w);
                        return NULL;
                }
                w->writer = s;
                w->next = s->wants;
                s->wants = w;
        }
        if (uid && (!w->uid || strcmp(w->uid, uid) != 0)) {
                free(w->uid);
                w->uid = strdup(uid);
        }
        w->attempts = 0;
        w->backoff = 0;
        return w;
}

/* Looks at w on the next loop iteration: the notifications mlbd sent together (allocated
 * and node_assigned of one Service) make one write. When only the condition may change,
 * after CONDITION_SETTLE_USEC instead, so that owners changing in a burst (nodes starting
 * one after another) make one write of the final state, often none. */
static void want_soon(Want *w)
{
        StatusWriter *s = w->writer;
        uint64_t delay = w->has_addrs ? 0 : CONDITION_SETTLE_USEC;

        if (w->req) {
                w->again = true;
                return;
        }
        /* accuracy 1 us: a write "on the next iteration" must not wait up to 1 ms */
        if (!w->retry && sd_event_add_time(s->event, &w->retry, CLOCK_MONOTONIC, UINT64_MAX, 1,
                                           retry_fired, w) < 0)
                return want_kick(w);
        (void)sd_event_source_set_time(w->retry, mono_now(s) + delay);
        (void)sd_event_source_set_enabled(w->retry, SD_EVENT_ONESHOT);
}

static void want_set(Want *w, json_t *addrs, const char *why)
{
        json_decref(w->addrs);
        w->addrs = addrs;
        w->has_addrs = true;
        free(w->why);
        w->why = why ? strdup(why) : NULL;
        want_soon(w);
}

/* The announcing nodes of key: addr -> node, or addr removed (node NULL). */
static void announced_set(StatusWriter *s, const char *key, const char *addr, const char *node)
{
        json_t *m = json_object_get(s->announced, key);

        if (!m && node) {
                m = json_object();
                if (!m || json_object_set_new(s->announced, key, m) < 0)
                        return;
        }
        if (node)
                (void)json_object_set_new(m, addr, json_string(node));
        else if (m)
                (void)json_object_del(m, addr);
}

/* The addresses the status shows now (cached), or the wanted ones if a write is pending. */
static json_t *current_addrs(StatusWriter *s, const char *key)
{
        const Want *w = want_find(s, key);
        _cleanup_(json_decrefp) json_t *svc = NULL;
        const json_t *ing, *e;
        json_t *a;
        size_t i;

        if (w && w->has_addrs)
                return json_deep_copy(w->addrs);
        a = json_array();
        svc = informer_load(s->services, key);
        ing = json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"),
                              "ingress");
        json_array_foreach(ing, i, e) if (a && json_is_string(json_object_get(e, "ip")))
            json_array_append(a, json_object_get(e, "ip"));
        return a;
}

void status_writer_notification(StatusWriter *s, const char *op, const json_t *msg)
{
        const char *key = json_string_value(json_object_get(msg, "service"));
        const char *uid = json_string_value(json_object_get(msg, "uid"));
        _cleanup_free_ char *m = NULL;
        Want *w;

        if (!s->leader || !key || !strchr(key, '/'))
                return;
        if (strcmp(op, "allocated") == 0) {
                json_t *addrs = json_object_get(msg, "addresses");
                if (!json_is_array(addrs) || !(w = want_get(s, key, uid)))
                        return;
                (void)json_object_del(s->failures, key);
                /* only the allocated addresses keep their announcing node */
                json_t *had = json_object_get(s->announced, key), *keep = json_object(), *e;
                const char *a;
                json_object_foreach(had, a, e)
                {
                        size_t i;
                        json_t *x;
                        json_array_foreach(addrs, i, x)
                        {
                                if (str_eq(json_string_value(x), a))
                                        (void)json_object_set(keep, a, e);
                        }
                }
                if (keep)
                        (void)json_object_set_new(s->announced, key, keep);
                want_set(w, json_deep_copy(addrs), NULL);
        } else if (strcmp(op, "released") == 0) {
                const json_t *gone = json_object_get(msg, "addresses"), *g;
                json_t *now = current_addrs(s, key), *keep = json_array();
                size_t i, j;
                json_t *e;
                _cleanup_free_ char *text = addrs_text(gone);

                json_array_foreach(now, i, e)
                {
                        bool released = false;
                        json_array_foreach(gone, j, g) released |= json_equal(e, g);
                        if (!released && keep)
                                json_array_append(keep, e);
                }
                json_decref(now);
                json_array_foreach(gone, j, g) if (json_is_string(g))
                    announced_set(s, key, json_string_value(g), NULL);
                if (!keep || !(w = want_get(s, key, uid)))
                        return (void)json_decref(keep);
                if (asprintf(&m, "Released IP %s", text ? text : "") < 0)
                        m = NULL;
                want_set(w, keep, m);
        } else if (strcmp(op, "node_assigned") == 0) {
                const char *addr = json_string_value(json_object_get(msg, "address"));
                const char *node = json_string_value(json_object_get(msg, "node"));
                _cleanup_free_ char *k = NULL;

                if (!addr)
                        return;
                /* "node": null: no live node is eligible (kept as "" for the condition) */
                (void)json_object_del(s->failures, key);
                announced_set(s, key, addr, node ? node : "");
                if ((w = want_get(s, key, uid)))
                        want_soon(w);
                if (!node || asprintf(&k, "%s %s", key, addr) < 0)
                        return;
                const char *prev = json_string_value(json_object_get(s->announcers, k));
                if (prev && strcmp(prev, node) == 0)
                        return; /* said already */
                json_object_set_new(s->announcers, k, json_string(node));
                if (asprintf(&m, "announcing %s from node \"%s\" with protocol \"layer2\"", addr,
                             node) >= 0)
                        event_record(s, key, uid, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, m);
        } else if (strcmp(op, "allocation_failed") == 0) {
                const char *reason = json_string_value(json_object_get(msg, "reason"));
                if (reason && json_object_set_new(s->failures, key, json_string(reason)) >= 0 &&
                    (w = want_get(s, key, uid)))
                        want_soon(w);
                if (asprintf(&m, "Failed to allocate IP for \"%s\": %s", key,
                             reason ? reason : "?") >= 0)
                        event_record(s, key, uid, EVENT_TYPE_WARNING,
                                     EVENT_REASON_ALLOCATION_FAILED, m);
        }
}

void status_writer_service_changed(StatusWriter *s, const json_t *svc)
{
        char key[OBJ_KEY_MAX];
        Want *w;

        if (translate_object_key(OBJ_SERVICE, svc, key) < 0 || !(w = want_find(s, key)) || w->req)
                return;
        want_kick(w); /* a write waiting for a retry may be moot now */
}

void status_writer_set_leader(StatusWriter *s, bool leader)
{
        s->leader = leader;
        if (leader)
                return;
        while (s->wants)
                want_drop(s->wants);
        for (; s->queue_len > 0; s->queue_len--) {
                event_send_free(s->queue[s->queue_head]);
                s->queue_head = (s->queue_head + 1) % EVENT_QUEUE;
        }
        json_object_clear(s->announcers);
        json_object_clear(s->announced);
        json_object_clear(s->failures);
}

int status_writer_new(StatusWriter **ret, sd_event *e, Kube *kube, Informer *services,
                      const char *node)
{
        _cleanup_(status_writer_freep) StatusWriter *s = calloc(1, sizeof(StatusWriter));
        EventsConfig ec = {0};
        int r;

        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->kube = kube;
        s->services = services;
        if (!(s->announcers = json_object()) || !(s->announced = json_object()) ||
            !(s->failures = json_object()))
                return -ENOMEM;
        events_config_default(&ec);
        ec.host = node;
        r = events_new(&s->events, &ec);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

StatusWriter *status_writer_free(StatusWriter *s)
{
        if (!s)
                return NULL;
        status_writer_set_leader(s, false);
        events_free(s->events);
        json_decref(s->announcers);
        json_decref(s->announced);
        json_decref(s->failures);
        free(s->last_failure);
        sd_event_unref(s->event);
        free(s->event_error);
        free(s);
        return NULL;
}

unsigned status_writer_writes(const StatusWriter *s)
{
        return s->writes;
}

unsigned status_writer_conflicts(const StatusWriter *s)
{
        return s->conflicts;
}

unsigned status_writer_events_pending(const StatusWriter *s)
{
        return s->queue_len;
}
