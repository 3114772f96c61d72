/* SPDX-License-Identifier: MIT */
/*
 * Event correlation; the rules are in events.h. One intrusive hash table and one LRU list
 * hold two kinds of entry, told apart by the first byte of the key: 'E' a dedup record
 * (the Event on the server, its count), 'S' a spam-filter bucket. Keys are the fields
 * each followed by a NUL byte, so no two field lists make the same key (client-go joins
 * them with "", where "ab"+"c" and "a"+"bc" meet).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "lease.h"
#include "util/htable.h"
#include "util/log.h"

typedef struct Entry {
        HNode hn;                  /* first: the table links these */
        struct Entry *prev, *next; /* LRU, most recent first */
        char *key;
        size_t key_len;
        /* 'E' */
        char *name; /* the Event on the server; NULL: none yet (skipped, or create failed) */
        uint64_t count, first_wall, last_mono;
        /* 'S': tokens as microseconds of refill, at most burst * refill_usec */
        uint64_t credit, credit_mono;
} Entry;

struct EventRecorder {
        char *component, *host, *instance;
        EventsConfig cfg;
        HTable t;
        HKey k;
        Entry *head, *tail;
        size_t n;
        uint64_t last_ns; /* the last nanosecond value used in a name */
};

static const char *const event_type_table[_EVENT_TYPE_MAX] = {
    [EVENT_TYPE_NORMAL] = "Normal",
    [EVENT_TYPE_WARNING] = "Warning",
};

const char *event_type_to_string(EventType t)
{
        return t >= 0 && t < _EVENT_TYPE_MAX ? event_type_table[t] : NULL;
}

static const char *const event_action_kind_table[_EVENT_ACTION_MAX] = {
    [EVENT_ACTION_SKIP] = "skip",
    [EVENT_ACTION_CREATE] = "create",
    [EVENT_ACTION_PATCH] = "patch",
};

const char *event_action_kind_to_string(EventActionKind k)
{
        return k >= 0 && k < _EVENT_ACTION_MAX ? event_action_kind_table[k] : NULL;
}

EventObjectRef events_service_ref(const char *namespace, const char *name, const char *uid,
                                  const char *resource_version)
{
        return (EventObjectRef){
            .kind = "Service",
            .api_version = "v1",
            .namespace = namespace,
            .name = name,
            .uid = uid,
            .resource_version = resource_version,
        };
}

static const char *json_str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

int events_service_ref_from_json(const json_t *svc, EventObjectRef *ret)
{
        const json_t *meta = json_object_get(svc, "metadata");
        const char *ns = json_str(meta, "namespace"), *name = json_str(meta, "name"),
                   *uid = json_str(meta, "uid");

        if (!ns || !name || !uid)
                return -EBADMSG;
        *ret = events_service_ref(ns, name, uid, json_str(meta, "resourceVersion"));
        return 0;
}

void events_config_default(EventsConfig *c)
{
        c->component = EVENTS_COMPONENT;
        c->max_keys = EVENTS_MAX_KEYS_DEFAULT;
        c->burst = EVENTS_BURST_DEFAULT;
        c->refill_usec = EVENTS_REFILL_USEC_DEFAULT;
        c->dedup_window_usec = EVENTS_DEDUP_WINDOW_USEC_DEFAULT;
}

void event_action_done(EventAction *a)
{
        free(a->path);
        free(a->name);
        free(a->body);
        free(a->key);
        free(a->fallback_name);
        free(a->fallback_body);
        *a = (EventAction){};
}

static char *strndup_cut(const char *s, size_t max)
{
        size_t n = strlen(s);

        if (n > max) {
                n = max;
                /* Back up to the start of a UTF-8 sequence. */
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        }
        return strndup(s, n);
}

static int events_init(EventRecorder *r, const EventsConfig *cfg)
{
        r->cfg = *cfg;
        r->component = strdup(cfg->component);
        r->host = strdup(cfg->host);
        r->instance = strndup_cut(cfg->instance ? cfg->instance : cfg->host, EVENTS_INSTANCE_MAX);
        if (!r->component || !r->host || !r->instance)
                return -ENOMEM;
        r->cfg.component = r->component;
        r->cfg.host = r->host;
        r->cfg.instance = r->instance;
        if (ht_init(&r->t, 64) < 0)
                return -ENOMEM;
        if (ht_key_init(&r->k) < 0)
                return -EIO;
        return 0;
}

int events_new(EventRecorder **ret, const EventsConfig *cfg)
{
        EventRecorder *r;
        int k;

        if (!cfg->component || !*cfg->component || !cfg->host || !*cfg->host || cfg->max_keys < 2 ||
            cfg->burst == 0 || cfg->refill_usec == 0 ||
            cfg->refill_usec > UINT64_MAX / 2 / cfg->burst)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        k = events_init(r, cfg);
        if (k < 0) {
                events_free(r);
                return k;
        }
        *ret = r;
        return 0;
}

static Entry *entry_free(Entry *e)
{
        if (!e)
                return NULL;
        free(e->key);
        free(e->name);
        return mfree(e);
}

static void lru_unlink(EventRecorder *r, Entry *e)
{
        if (e->prev)
                e->prev->next = e->next;
        else
                r->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                r->tail = e->prev;
        e->prev = e->next = NULL;
}

static void lru_push(EventRecorder *r, Entry *e)
{
        e->prev = NULL;
        e->next = r->head;
        if (r->head)
                r->head->prev = e;
        r->head = e;
        if (!r->tail)
                r->tail = e;
}

EventRecorder *events_free(EventRecorder *r)
{
        if (!r)
                return NULL;
        while (r->head) {
                Entry *e = r->head;
                lru_unlink(r, e);
                entry_free(e);
        }
        ht_done(&r->t);
        free(r->component);
        free(r->host);
        free(r->instance);
        return mfree(r);
}

size_t events_size(const EventRecorder *r)
{
        return r->n;
}

static Entry *entry_find(EventRecorder *r, const char *key, size_t len)
{
        uint64_t h = ht_hash(&r->k, key, len);

        for (HNode *n = ht_chain(&r->t, h); n; n = n->next) {
                Entry *e = (Entry *)n;
                if (n->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) {
                        lru_unlink(r, e);
                        lru_push(r, e);
                        return e;
                }
        }
        return NULL;
}

/* A new entry at the head; the least recently used one goes when the bound is passed. */
static Entry *entry_add(EventRecorder *r, const char *key, size_t len)
{
        Entry *e = calloc(1, sizeof(*e));

        if (!e || !(e->key = malloc(len)))
                return entry_free(e);
        memcpy(e->key, key, len);
        e->key_len = len;
        e->hn.hash = ht_hash(&r->k, key, len);
        ht_insert(&r->t, &e->hn);
        lru_push(r, e);
        r->n++;
        while (r->n > r->cfg.max_keys) {
                Entry *old = r->tail;
                lru_unlink(r, old);
                ht_remove(&r->t, &old->hn);
                entry_free(old);
                r->n--;
        }
        return e;
}

/* A key under construction. */
typedef struct Key {
        char *p;
        size_t n, cap;
        bool oom;
} Key;

static void key_add(Key *k, const char *s)
{
        size_t len = strlen(s ? s : "") + 1;

        if (k->oom)
                return;
        if (GROW(k->p, k->cap, k->n + len) < 0) {
                k->oom = true;
                return;
        }
        memcpy(k->p + k->n, s ? s : "", len);
        k->n += len;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF): jansson
 * refuses anything else, and we want -EINVAL for it, not a failure to allocate. */
static bool utf8_valid(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        while (*p) {
                unsigned c = *p, n;
                uint32_t cp;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        n = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        n = 3, cp = c & 0x07;
                else
                        return false;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}

/* Namespaces and object names go into paths: RFC 1123 characters only. */
static bool name_valid(const char *s, size_t max)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
                      s[i] == '.'))
                        return false;
        return true;
}

/* client-go's GenerateEventName, with a nanosecond value never used twice. */
static char *events_gen_name(EventRecorder *r, const char *obj_name, uint64_t wall_usec)
{
        uint64_t ns = wall_usec > UINT64_MAX / 1000 ? UINT64_MAX / 1000 * 1000 : wall_usec * 1000;
        char *s;

        if (ns <= r->last_ns)
                ns = r->last_ns + 1;
        r->last_ns = ns;
        if (asprintf(&s, "%s.%" PRIx64, obj_name, ns) < 0)
                return NULL;
        return s;
}

/* bucket: refill by the time passed, then take one token if there is one. */
static bool bucket_take(EventRecorder *r, Entry *b, uint64_t mono)
{
        uint64_t cap = (uint64_t)r->cfg.burst * r->cfg.refill_usec;

        if (mono > b->credit_mono)
                b->credit = MIN(cap, b->credit + MIN(cap, mono - b->credit_mono));
        b->credit_mono = MAX(b->credit_mono, mono);
        if (b->credit < r->cfg.refill_usec)
                return false;
        b->credit -= r->cfg.refill_usec;
        return true;
}

typedef struct Occurrence {
        const EventObjectRef *obj;
        const char *type, *reason, *message;
} Occurrence;

static int events_create_body(EventRecorder *r, const Occurrence *o, const char *name,
                              uint64_t count, uint64_t first_wall, uint64_t wall, char **ret)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *io;
        char first[LEASE_TIME_MAX], last[LEASE_TIME_MAX];

        j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:s, "
                      "s:I, s:{s:s, s:s}, s:s, s:s}",
                      "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                      o->obj->namespace, "involvedObject", "kind", o->obj->kind, "apiVersion",
                      o->obj->api_version, "namespace", o->obj->namespace, "name", o->obj->name,
                      "reason", o->reason, "message", o->message, "type", o->type, "firstTimestamp",
                      lease_time_format(first_wall, first), "lastTimestamp",
                      lease_time_format(wall, last), "count", (json_int_t)count, "source",
                      "component", r->component, "host", r->host, "reportingComponent",
                      r->component, "reportingInstance", r->instance);
        if (!j)
                return -ENOMEM;
        io = json_object_get(j, "involvedObject");
        if (o->obj->uid && json_object_set_new(io, "uid", json_string(o->obj->uid)) < 0)
                return -ENOMEM;
        if (o->obj->resource_version &&
            json_object_set_new(io, "resourceVersion", json_string(o->obj->resource_version)) < 0)
                return -ENOMEM;
        *ret = json_dumps(j, JSON_COMPACT);
        return *ret ? 0 : -ENOMEM;
}

static int events_fill_create(EventRecorder *r, const Occurrence *o, char *name, uint64_t count,
                              uint64_t first_wall, uint64_t wall, EventAction *a)
{
        a->kind = EVENT_ACTION_CREATE;
        a->method = "POST";
        a->content_type = "application/json";
        a->name = name;
        if (asprintf(&a->path, "/api/v1/namespaces/%s/events", o->obj->namespace) < 0) {
                a->path = NULL;
                return -ENOMEM;
        }
        return events_create_body(r, o, name, count, first_wall, wall, &a->body);
}

int events_record(EventRecorder *r, const EventObjectRef *obj, EventType type, const char *reason,
                  const char *message, uint64_t mono_usec, uint64_t wall_usec, EventAction *ret)
{
        _cleanup_(event_action_done) EventAction a = {};
        _cleanup_free_ char *msg = NULL;
        Key ek = {}, sk = {};
        const char *type_s = event_type_to_string(type);
        Entry *e, *b;
        bool allowed;
        int k;

        *ret = (EventAction){.kind = EVENT_ACTION_SKIP};
        /* The name gets "." and up to 16 hex digits and must stay a 253-byte subdomain. */
        if (!obj || !type_s || !obj->kind || !*obj->kind || !obj->api_version ||
            !*obj->api_version || !name_valid(obj->namespace, 63) ||
            !name_valid(obj->name, 253 - 17) || !reason || !*reason ||
            strlen(reason) > EVENTS_REASON_MAX || !message)
                return -EINVAL;
        msg = strndup_cut(message, EVENTS_MESSAGE_MAX);
        if (!msg)
                return -ENOMEM;
        if (!utf8_valid(obj->kind) || !utf8_valid(obj->api_version) ||
            (obj->uid && !utf8_valid(obj->uid)) ||
            (obj->resource_version && !utf8_valid(obj->resource_version)) || !utf8_valid(reason) ||
            !utf8_valid(msg))
                return -EINVAL;
        Occurrence o = {.obj = obj, .type = type_s, .reason = reason, .message = msg};

        /* client-go's getSpamKey and getEventKey (without fieldPath, which we never set). */
        key_add(&sk, "S");
        key_add(&ek, "E");
        const char *common[] = {r->component, r->host,  obj->kind,        obj->namespace,
                                obj->name,    obj->uid, obj->api_version, type_s};
        for (size_t i = 0; i < ELEMENTSOF(common); i++) {
                key_add(&sk, common[i]);
                key_add(&ek, common[i]);
        }
        key_add(&ek, reason);
        key_add(&ek, msg);
        _cleanup_free_ char *skey = sk.p;
        a.key = ek.p;
        a.key_len = ek.n;
        if (sk.oom || ek.oom)
                return -ENOMEM;

        b = entry_find(r, skey, sk.n);
        if (!b) {
                b = entry_add(r, skey, sk.n);
                if (!b)
                        return -ENOMEM;
                b->credit = (uint64_t)r->cfg.burst * r->cfg.refill_usec;
                b->credit_mono = mono_usec;
        }
        allowed = bucket_take(r, b, mono_usec);

        e = entry_find(r, a.key, a.key_len);
        if (e && mono_usec >= e->last_mono &&
            mono_usec - e->last_mono <= r->cfg.dedup_window_usec) {
                e->count++;
        } else {
                if (!e && !(e = entry_add(r, a.key, a.key_len)))
                        return -ENOMEM;
                e->name = mfree(e->name); /* an old Event stays as it is; start a new one */
                e->count = 1;
                e->first_wall = wall_usec;
        }
        e->last_mono = mono_usec;

        if (!allowed) {
                log_debug("event %s/%s %s: rate-limited (%" PRIu64 " so far)", obj->namespace,
                          obj->name, reason, e->count);
                event_action_done(&a);
                return 0;
        }

        if (!e->name) {
                char *name = events_gen_name(r, obj->name, wall_usec);
                if (!name || !(e->name = strdup(name))) {
                        free(name);
                        return -ENOMEM;
                }
                k = events_fill_create(r, &o, name, e->count, e->first_wall, wall_usec, &a);
                if (k < 0)
                        return k;
        } else {
                char last[LEASE_TIME_MAX];
                a.kind = EVENT_ACTION_PATCH;
                a.method = "PATCH";
                a.content_type = "application/merge-patch+json";
                if (!(a.name = strdup(e->name)))
                        return -ENOMEM;
                if (asprintf(&a.path, "/api/v1/namespaces/%s/events/%s", obj->namespace, e->name) <
                    0) {
                        a.path = NULL;
                        return -ENOMEM;
                }
                json_t *p = json_pack("{s:I, s:s}", "count", (json_int_t)e->count, "lastTimestamp",
                                      lease_time_format(wall_usec, last));
                a.body = p ? json_dumps(p, JSON_COMPACT) : NULL;
                json_decref(p);
                if (!a.body)
                        return -ENOMEM;
                /* If the Event was collected meanwhile, this one replaces it. */
                a.fallback_name = events_gen_name(r, obj->name, wall_usec);
                if (!a.fallback_name)
                        return -ENOMEM;
                k = events_create_body(r, &o, a.fallback_name, e->count, e->first_wall, wall_usec,
                                       &a.fallback_body);
                if (k < 0)
                        return k;
        }
        *ret = a;
        a = (EventAction){};
        return 0;
}

int events_handle_response(EventRecorder *r, const EventAction *a, long status,
                           EventAction *ret_retry)
{
        bool ok = status >= 200 && status < 300;
        Entry *e;

        *ret_retry = (EventAction){.kind = EVENT_ACTION_SKIP};
        if (a->kind == EVENT_ACTION_SKIP || ok)
                return 0;
        e = a->key ? entry_find(r, a->key, a->key_len) : NULL;
        /* Only if the record still speaks of this Event (not a newer one). */
        if (e && (!e->name || !a->name || strcmp(e->name, a->name) != 0))
                e = NULL;
        if (a->kind == EVENT_ACTION_CREATE) {
                log_debug("event %s: create failed (HTTP %ld)", a->name ? a->name : "?", status);
                if (e)
                        e->name = mfree(e->name); /* the next occurrence creates it */
                return 0;
        }
        if (status != 404 || !a->fallback_body || !a->fallback_name)
                return 0; /* the next patch carries the whole count again */

        _cleanup_(event_action_done) EventAction c = {
            .kind = EVENT_ACTION_CREATE,
            .method = "POST",
            .content_type = "application/json",
        };
        const char *slash = strrchr(a->path, '/');
        if (!slash || !(c.path = strndup(a->path, (size_t)(slash - a->path))) ||
            !(c.name = strdup(a->fallback_name)) || !(c.body = strdup(a->fallback_body)) ||
            !(c.key = malloc(a->key_len)))
                return -ENOMEM;
        memcpy(c.key, a->key, a->key_len);
        c.key_len = a->key_len;
        if (e) {
                char *n = strdup(a->fallback_name);
                if (!n)
                        return -ENOMEM;
                free(e->name);
                e->name = n;
        }
        *ret_retry = c;
        c = (EventAction){};
        return EVENTS_RETRY_CREATE;
}
