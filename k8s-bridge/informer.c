/* SPDX-License-Identifier: MIT */
/*
 * informer: list + watch cache of one kind (see informer.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "informer.h"
#include "translate.h"
#include "util/htable.h"
#include "util/log.h"
#include "watch.h"

#define LIST_PAGE 500
#define LIST_TIMEOUT_MS (60 * 1000)
#define BACKOFF_MIN_USEC (800 * 1000ULL)
#define BACKOFF_MAX_USEC (30 * 1000 * 1000ULL)
#define WATCH_HEALTHY_USEC (60 * 1000 * 1000ULL)
#define WATCH_YOUNG_USEC (500 * 1000ULL)

/* One cached object: its translated form as compact JSON text, the form mlbd takes it in
 * (a Service is about 400 bytes so, against about 5.5 KiB of RSS as a jansson tree). */
typedef struct Entry {
        HNode h;      /* first member */
        unsigned gen; /* the LIST that last filed it */
        size_t len;
        char *json;
        char key[]; /* "ns/name" or "name" */
} Entry;

struct Informer {
        sd_event *event;
        Kube *kube;
        ObjKind kind;
        char *lb_class;
        InformerCallbacks cb;
        void *userdata;
        InformerState state;
        HTable cache; /* key -> Entry */
        HKey hkey;
        unsigned gen; /* the LIST in progress or the last one */
        char *rv;     /* the version the next watch starts from */
        char *cont;   /* continue token of the next page */
        KubeRequest *req;
        WatchParser *parser;
        sd_event_source *timer;
        uint64_t backoff_usec, watch_started;
        uint64_t watch_events;
        bool relist; /* the running watch saw 410 Gone */
        bool synced;
        unsigned n_lists, n_watches;
        char *last_error;          /* logged once until it changes or clears */
        uint64_t retry_after_usec; /* the failed answer's Retry-After: the least wait */
};

static const char *const state_table[_INFORMER_STATE_MAX] = {
    [INFORMER_IDLE] = "idle",
    [INFORMER_LISTING] = "listing",
    [INFORMER_WATCHING] = "watching",
    [INFORMER_BACKOFF] = "backoff",
};

const char *informer_state_to_string(InformerState s)
{
        return s >= 0 && s < _INFORMER_STATE_MAX ? state_table[s] : NULL;
}

static const char *kind_name(const Informer *inf)
{
        return obj_kind_to_string(inf->kind);
}

static void set_state(Informer *inf, InformerState s)
{
        if (inf->state == s)
                return;
        log_debug("informer %s: %s -> %s", kind_name(inf), informer_state_to_string(inf->state),
                  informer_state_to_string(s));
        inf->state = s;
}

static uint64_t now_usec(Informer *inf)
{
        uint64_t t = 0;
        (void)sd_event_now(inf->event, CLOCK_MONOTONIC, &t);
        return t;
}

static void list_page(Informer *inf);
static void watch_start(Informer *inf);

/* An error: said once (until the text changes or things work again), then retried after
 * the backoff; what to retry depends on whether a list has completed. */
static void fail(Informer *inf, const char *what, long status, int error, const char *detail)
{
        _cleanup_free_ char *text = NULL;
        uint64_t jittered;

        int r;

        if (status)
                r = asprintf(&text, "%s: HTTP %ld%s%s", what, status, detail && *detail ? ": " : "",
                             detail ? detail : "");
        else
                r = asprintf(&text, "%s: %s%s%s", what, strerror(-error),
                             detail && *detail ? ": " : "", detail ? detail : "");
        if (r < 0)
                text = NULL; /* out of memory: the text is undefined; retry without saying it */
        if (text && (!inf->last_error || strcmp(inf->last_error, text) != 0)) {
                log_warning("informer %s: %s; retrying with backoff", kind_name(inf), text);
                free(inf->last_error);
                inf->last_error = TAKE_PTR(text);
        }
        inf->backoff_usec =
            inf->backoff_usec ? MIN(inf->backoff_usec * 2, BACKOFF_MAX_USEC) : BACKOFF_MIN_USEC;
        /* full jitter between 1x and 2x, as client-go's wait.Jitter(d, 1.0) */
        jittered =
            inf->backoff_usec + (uint64_t)((double)random() / RAND_MAX * (double)inf->backoff_usec);
        if (inf->retry_after_usec > jittered) {
                log_debug("informer %s: the server asks to retry after %" PRIu64 " s",
                          kind_name(inf), inf->retry_after_usec / 1000000);
                jittered = inf->retry_after_usec;
        }
        inf->retry_after_usec = 0;
        set_state(inf, INFORMER_BACKOFF);
        (void)sd_event_source_set_time(inf->timer, now_usec(inf) + jittered);
        (void)sd_event_source_set_enabled(inf->timer, SD_EVENT_ONESHOT);
}

static void recovered(Informer *inf)
{
        if (inf->last_error) {
                log_info("informer %s: working again (after: %s)", kind_name(inf), inf->last_error);
                inf->last_error = mfree(inf->last_error);
        }
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Informer *inf = userdata;

        if (inf->synced && inf->rv)
                watch_start(inf);
        else
                list_page(inf);
        return 0;
}

static char *status_message(const char *body, size_t len)
{
        WatchStatus st = {0};
        char *m = NULL;

        if (len && watch_parse_status(body, len, &st, NULL) >= 0 && st.message)
                m = strdup(st.message);
        watch_status_clear(&st);
        return m;
}

static Entry *cache_find(const Informer *inf, const char *key, uint64_t h)
{
        for (HNode *n = ht_chain(&inf->cache, h); n; n = n->next)
                if (n->hash == h && strcmp(((Entry *)n)->key, key) == 0)
                        return (Entry *)n;
        return NULL;
}

static void cache_remove(Informer *inf, Entry *e)
{
        ht_remove(&inf->cache, &e->h);
        free(e->json);
        free(e);
}

/* Files the text of t under key, with generation gen (or the entry's own, keep_gen). */
static int cache_put(Informer *inf, const char *key, const json_t *t, unsigned gen, bool keep_gen)
{
        uint64_t h = ht_hash_str(&inf->hkey, key);
        Entry *e = cache_find(inf, key, h);
        char *text = json_dumps(t, JSON_COMPACT);

        if (!text)
                return -ENOMEM;
        if (!e) {
                size_t n = strlen(key) + 1;
                if (!(e = malloc(sizeof(Entry) + n))) {
                        free(text);
                        return -ENOMEM;
                }
                *e = (Entry){.h.hash = h, .gen = gen};
                memcpy(e->key, key, n);
                ht_insert(&inf->cache, &e->h);
        } else {
                free(e->json);
                if (!keep_gen)
                        e->gen = gen;
        }
        e->json = text;
        e->len = strlen(text);
        return 0;
}

/* Drops what the LIST of generation gen did not file (deleted while not watched). */
static void cache_sweep(Informer *inf, unsigned gen)
{
        for (size_t i = 0; i < inf->cache.nb; i++)
                for (HNode *n = inf->cache.b[i], *next; n; n = next) {
                        next = n->next;
                        if (((Entry *)n)->gen != gen)
                                cache_remove(inf, (Entry *)n);
                }
}

static void cache_clear(Informer *inf)
{
        for (size_t i = 0; i < inf->cache.nb; i++)
                for (HNode *n = inf->cache.b[i], *next; n; n = next) {
                        next = n->next;
                        free(((Entry *)n)->json);
                        free(n);
                }
        ht_done(&inf->cache);
}

/* Translates raw; *ret is the new object (the caller's), key its key. Malformed objects
 * are skipped with a warning (the API server would not have stored them; never a reason
 * to stop): -EINVAL, or -ENOMEM. */
static int translate(Informer *inf, const json_t *raw, char key[static OBJ_KEY_MAX], json_t **ret)
{
        json_t *t = NULL;
        int r;

        r = translate_object(inf->kind, raw, inf->lb_class, &t);
        if (r >= 0)
                r = translate_object_key(inf->kind, t, key);
        if (r < 0) {
                if (r != -ENOMEM)
                        log_warning("informer %s: skipping an object without usable metadata: %s",
                                    kind_name(inf), strerror(-r));
                json_decref(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* Translates raw and files it in the cache with generation gen; the translated object
 * (a new reference) in *ret when ret is not NULL. */
static int file_object(Informer *inf, const json_t *raw, unsigned gen, bool keep_gen, json_t **ret)
{
        char key[OBJ_KEY_MAX];
        json_t *t = NULL;
        int r = translate(inf, raw, key, &t);

        if (r >= 0)
                r = cache_put(inf, key, t, gen, keep_gen);
        if (r < 0 || !ret)
                json_decref(t);
        else
                *ret = t;
        if (r == -ENOMEM)
                log_oom();
        return r;
}

static int list_item(json_t *item, void *userdata)
{
        Informer *inf = userdata;
        int r = file_object(inf, item, inf->gen, false, NULL);
        return r == -ENOMEM ? r : 0; /* a malformed object is skipped (file_object says so) */
}

static void list_done(KubeRequest *req, long status, const char *body, size_t len, int error,
                      void *userdata)
{
        Informer *inf = userdata;
        WatchList list = {0};
        WatchError werr = {0};
        _cleanup_free_ char *msg = NULL;
        int r;

        inf->req = NULL;
        if (status == 410 && inf->cont) {
                /* the continue token expired: the list starts again from its first page */
                log_info("informer %s: list continuation expired, listing again", kind_name(inf));
                inf->cont = mfree(inf->cont);
                list_page(inf);
                return;
        }
        if (error < 0 || status != 200) {
                msg = error < 0 ? strdup(kube_request_error(req)) : status_message(body, len);
                inf->retry_after_usec = kube_request_retry_after_usec(req);
                inf->cont = mfree(inf->cont);
                return fail(inf, "list", error < 0 ? 0 : status, error < 0 ? error : -EPROTO, msg);
        }
        /* Each item goes into the cache as it is decoded (never the page as one tree),
         * marked with this LIST's generation; what the whole LIST did not file is dropped
         * at its end. So a re-list never holds two copies of the cache, and until it ends
         * the cache holds each object in its newest state seen (old watch or new list). */
        r = watch_parse_list_each(body, len, list_item, inf, &list, &werr);
        if (r < 0) {
                inf->cont = mfree(inf->cont);
                if (r == -ENOMEM)
                        return fail(inf, "list", 0, -ENOMEM, NULL);
                return fail(inf, "list", 0, -EBADMSG, werr.detail);
        }
        free(inf->cont);
        inf->cont = TAKE_PTR(list.continue_token);
        if (inf->cont) {
                watch_list_clear(&list);
                list_page(inf);
                return;
        }
        free(inf->rv);
        inf->rv = TAKE_PTR(list.resource_version);
        watch_list_clear(&list);
        cache_sweep(inf, inf->gen);
        inf->synced = true;
        inf->n_lists++;
        recovered(inf);
        log_debug("informer %s: listed %zu at resourceVersion %s", kind_name(inf), inf->cache.n,
                  inf->rv);
        if (inf->cb.listed)
                inf->cb.listed(inf, inf->userdata);
        watch_start(inf);
}

static void list_page(Informer *inf)
{
        _cleanup_free_ char *path = NULL, *cont = NULL;
        int r;

        if (!inf->cont) {
                /* a new LIST: its own generation; and no watch from the old version if it
                 * fails midway (the cache may hold newer objects than that version now) */
                inf->gen++;
                inf->rv = mfree(inf->rv);
        }
        if (inf->cont && !(cont = kube_escape(inf->cont)))
                return fail(inf, "list", 0, -ENOMEM, NULL);
        if (asprintf(&path, "%s?limit=%d%s%s", translate_kind_path(inf->kind), LIST_PAGE,
                     cont ? "&continue=" : "", cont ? cont : "") < 0)
                return fail(inf, "list", 0, -ENOMEM, NULL);
        set_state(inf, INFORMER_LISTING);
        r = kube_request(inf->kube, &inf->req, "GET", path, NULL, NULL, LIST_TIMEOUT_MS, NULL,
                         list_done, inf);
        if (r < 0)
                fail(inf, "list", 0, r, NULL);
}

/* A DELETED event: out of the cache, and the callback told its last state. */
static void forget(Informer *inf, const json_t *raw)
{
        char key[OBJ_KEY_MAX];
        json_t *t = NULL;
        Entry *e;

        if (translate(inf, raw, key, &t) < 0)
                return;
        e = cache_find(inf, key, ht_hash_str(&inf->hkey, key));
        if (e)
                cache_remove(inf, e);
        if (inf->cb.deleted)
                inf->cb.deleted(inf, t, inf->userdata);
        json_decref(t);
}

static int on_event(const WatchEvent *ev, void *userdata)
{
        Informer *inf = userdata;
        json_t *t = NULL;

        inf->watch_events++;
        switch (ev->type) {
        case WATCH_ADDED:
        case WATCH_MODIFIED:
                if (file_object(inf, ev->object, inf->gen, false, &t) >= 0 && inf->cb.upserted)
                        inf->cb.upserted(inf, t, inf->userdata);
                json_decref(t);
                break;
        case WATCH_DELETED:
                forget(inf, ev->object);
                break;
        case WATCH_BOOKMARK:
                break;
        case WATCH_ERROR:
                if (ev->status.code == 410) {
                        log_info("informer %s: resourceVersion %s is gone (%s), listing again",
                                 kind_name(inf), inf->rv ? inf->rv : "?",
                                 ev->status.message ? ev->status.message : "410");
                        inf->relist = true;
                } else
                        log_warning("informer %s: watch error %d %s: %s", kind_name(inf),
                                    ev->status.code, ev->status.reason ? ev->status.reason : "",
                                    ev->status.message ? ev->status.message : "");
                return -ECANCELED;
        default:
                return 0;
        }
        if (ev->resource_version && ev->type != WATCH_ERROR) {
                char *v = strdup(ev->resource_version);
                if (v) {
                        free(inf->rv);
                        inf->rv = v;
                }
        }
        return 0;
}

static int watch_data(KubeRequest *req, const char *buf, size_t len, void *userdata)
{
        Informer *inf = userdata;
        int r;

        if (len == 0) {
                /* the watch is established: after a failure, the informer works again */
                if (inf->last_error) {
                        recovered(inf);
                        if (inf->cb.resumed)
                                inf->cb.resumed(inf, inf->userdata);
                }
                return 0;
        }
        r = watch_parser_feed(inf->parser, buf, len, on_event, inf);

        if (r == -EINVAL)
                log_warning("informer %s: bad watch stream: %s", kind_name(inf),
                            watch_parser_error(inf->parser)->detail);
        return r < 0 ? r : 0;
}

static void watch_done(KubeRequest *req, long status, const char *body, size_t len, int error,
                       void *userdata)
{
        Informer *inf = userdata;
        _cleanup_free_ char *msg = NULL;
        bool healthy =
            inf->watch_events > 0 || now_usec(inf) - inf->watch_started >= WATCH_HEALTHY_USEC;

        inf->req = NULL;
        if (error == 0 && watch_parser_finish(inf->parser) < 0)
                log_warning("informer %s: watch ended inside an event: %s", kind_name(inf),
                            watch_parser_error(inf->parser)->detail);
        if (inf->relist || status == 410) {
                if (!inf->relist)
                        log_info(
                            "informer %s: resourceVersion %s is gone (HTTP 410), listing again",
                            kind_name(inf), inf->rv ? inf->rv : "?");
                inf->relist = false;
                inf->backoff_usec = 0;
                list_page(inf);
                return;
        }
        if (status == 200 && (error == 0 || error == -ECONNRESET) && healthy) {
                /* the server's timeoutSeconds, or a connection that worked for a while */
                inf->backoff_usec = 0;
                recovered(inf);
                watch_start(inf);
                return;
        }
        inf->retry_after_usec = kube_request_retry_after_usec(req);
        if (error < 0 && error != -ECANCELED)
                msg = strdup(kube_request_error(req));
        else if (status != 200)
                msg = status_message(body, len);
        fail(inf, "watch", error < 0 ? 0 : status, error < 0 ? error : -EPROTO, msg);
}

static void watch_start(Informer *inf)
{
        _cleanup_free_ char *path = NULL, *rv = NULL;
        unsigned timeout = 300 + (unsigned)(random() % 301); /* 5-10 min, as client-go */
        int r;

        if (!(rv = kube_escape(inf->rv)) ||
            asprintf(&path,
                     "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
                     translate_kind_path(inf->kind), rv, timeout) < 0)
                return fail(inf, "watch", 0, -ENOMEM, NULL);
        watch_parser_reset(inf->parser);
        inf->watch_events = 0;
        inf->watch_started = now_usec(inf);
        inf->relist = false;
        set_state(inf, INFORMER_WATCHING);
        r = kube_request(inf->kube, &inf->req, "GET", path, NULL, NULL, 0, watch_data, watch_done,
                         inf);
        if (r < 0)
                return fail(inf, "watch", 0, r, NULL);
        inf->n_watches++;
}

int informer_new(Informer **ret, sd_event *e, Kube *kube, ObjKind kind, const char *lb_class,
                 const InformerCallbacks *cb, void *userdata)
{
        _cleanup_(informer_freep) Informer *inf = calloc(1, sizeof(Informer));
        int r;

        if (!inf)
                return -ENOMEM;
        inf->event = sd_event_ref(e);
        inf->kube = kube;
        inf->kind = kind;
        inf->cb = *cb;
        inf->userdata = userdata;
        if (ht_init(&inf->cache, 64) < 0 || (lb_class && !(inf->lb_class = strdup(lb_class))))
                return -ENOMEM;
        r = ht_key_init(&inf->hkey);
        if (r < 0)
                return r;
        r = watch_parser_new(&inf->parser, 0);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &inf->timer, CLOCK_MONOTONIC, UINT64_MAX, 10 * 1000, timer_fired,
                              inf);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(inf->timer, SD_EVENT_OFF);
        *ret = TAKE_PTR(inf);
        return 0;
}

Informer *informer_free(Informer *inf)
{
        if (!inf)
                return NULL;
        kube_request_cancel(inf->req);
        sd_event_source_disable_unref(inf->timer);
        sd_event_unref(inf->event);
        watch_parser_free(inf->parser);
        cache_clear(inf);
        free(inf->lb_class);
        free(inf->rv);
        free(inf->cont);
        free(inf->last_error);
        free(inf);
        return NULL;
}

int informer_start(Informer *inf)
{
        if (inf->state == INFORMER_IDLE)
                list_page(inf);
        return 0;
}

ObjKind informer_kind(const Informer *inf)
{
        return inf->kind;
}

InformerState informer_state(const Informer *inf)
{
        return inf->state;
}

bool informer_has_synced(const Informer *inf)
{
        return inf->synced;
}

size_t informer_size(const Informer *inf)
{
        return inf->cache.n;
}

int informer_foreach(const Informer *inf, InformerEachFn fn, void *userdata)
{
        for (size_t i = 0; i < inf->cache.nb; i++)
                for (const HNode *n = inf->cache.b[i]; n; n = n->next) {
                        const Entry *e = (const Entry *)n;
                        int r = fn(e->key, e->json, e->len, userdata);
                        if (r < 0)
                                return r;
                }
        return 0;
}

json_t *informer_load(const Informer *inf, const char *key)
{
        const Entry *e = cache_find(inf, key, ht_hash_str(&inf->hkey, key));

        return e ? json_loadb(e->json, e->len, 0, NULL) : NULL;
}

int informer_store(Informer *inf, const json_t *raw)
{
        /* an object not in the cache during a LIST counts as not listed yet: the LIST's
         * end drops it unless it lists it too (it may have been deleted meanwhile) */
        unsigned gen = inf->state == INFORMER_LISTING ? inf->gen - 1 : inf->gen;
        return file_object(inf, raw, gen, true, NULL) >= 0 ? 0 : -EINVAL;
}

bool informer_settling(const Informer *inf, uint64_t now_usec)
{
        switch (inf->state) {
        case INFORMER_LISTING:
        case INFORMER_BACKOFF:
                return true;
        case INFORMER_WATCHING:
                /* 410 Gone comes as the first event of a watch, just after it started */
                return inf->watch_events == 0 && now_usec - inf->watch_started < WATCH_YOUNG_USEC;
        default:
                return false;
        }
}

unsigned informer_lists(const Informer *inf)
{
        return inf->n_lists;
}

unsigned informer_watches(const Informer *inf)
{
        return inf->n_watches;
}
