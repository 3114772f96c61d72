/* SPDX-License-Identifier: MIT */
/* k8s-bridge/events.c: Event dedup, spam filter, LRU bound, answers from the server. */
#include <string.h>

#include "events.h"
#include "tap.h"
#include "util/log.h"

#define S 1000000ULL
#define WALL0 1796223845000000ULL /* 2026-12-02T15:04:05Z */

static EventRecorder *recorder(size_t max_keys)
{
        EventsConfig c = {.host = "node1"};
        EventRecorder *r = NULL;

        events_config_default(&c);
        if (max_keys)
                c.max_keys = max_keys;
        return events_new(&r, &c) < 0 ? NULL : r;
}

static json_t *body_of(const EventAction *a)
{
        return a->body ? json_loads(a->body, 0, NULL) : NULL;
}

static const char *jstr(const json_t *j, const char *a, const char *b)
{
        const json_t *v = json_object_get(j, a);
        return json_string_value(b ? json_object_get(v, b) : v);
}

static json_int_t jint(const json_t *j, const char *k)
{
        return json_integer_value(json_object_get(j, k));
}

/* Records one occurrence, returns its kind; the action is left in *a (caller frees). */
static int rec(EventRecorder *r, const EventObjectRef *o, EventType t, const char *reason,
               const char *msg, uint64_t mono, EventAction *a)
{
        int k = events_record(r, o, t, reason, msg, mono, WALL0 + mono, a);
        return k < 0 ? k : (int)a->kind;
}

static void test_refs(void)
{
        EventObjectRef o = events_service_ref("demo", "web", "u-1", NULL);
        is_str(o.kind, "Service", "service ref: kind");
        is_str(o.api_version, "v1", "  apiVersion");
        json_t *svc = json_loads("{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\","
                                 "\"uid\":\"u-1\",\"resourceVersion\":\"42\"}}",
                                 0, NULL);
        ok(events_service_ref_from_json(svc, &o) == 0 && strcmp(o.namespace, "demo") == 0 &&
               strcmp(o.name, "web") == 0 && strcmp(o.uid, "u-1") == 0 &&
               strcmp(o.resource_version, "42") == 0,
           "service ref from a Service object");
        json_decref(svc);
        svc = json_loads("{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\"}}", 0, NULL);
        is_int(events_service_ref_from_json(svc, &o), -EBADMSG, "  without uid: -EBADMSG");
        json_decref(svc);
        is_str(event_type_to_string(EVENT_TYPE_WARNING), "Warning", "type names");
}

static void test_create_patch(void)
{
        EventRecorder *r = recorder(0);
        EventObjectRef o = events_service_ref("demo", "web", "u-1", "42");
        EventAction a, b;
        json_t *j;

        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.10", 0,
                   &a),
               EVENT_ACTION_CREATE, "first occurrence: create");
        is_str(a.method, "POST", "  POST");
        is_str(a.path, "/api/v1/namespaces/demo/events", "  path");
        is_str(a.content_type, "application/json", "  content type");
        is_str(a.name, "web.18ed7811fa4fb200", "  name <svc>.<hex of the time in ns>");
        j = body_of(&a);
        is_str(jstr(j, "metadata", "name"), a.name, "  metadata.name");
        is_str(jstr(j, "metadata", "namespace"), "demo", "  metadata.namespace");
        is_str(jstr(j, "involvedObject", "kind"), "Service", "  involvedObject.kind");
        is_str(jstr(j, "involvedObject", "apiVersion"), "v1", "  involvedObject.apiVersion");
        is_str(jstr(j, "involvedObject", "namespace"), "demo", "  involvedObject.namespace");
        is_str(jstr(j, "involvedObject", "name"), "web", "  involvedObject.name");
        is_str(jstr(j, "involvedObject", "uid"), "u-1", "  involvedObject.uid");
        is_str(jstr(j, "involvedObject", "resourceVersion"), "42", "  resourceVersion");
        is_str(jstr(j, "reason", NULL), "IPAllocated", "  reason");
        is_str(jstr(j, "message", NULL), "Assigned IP 192.0.2.10", "  message");
        is_str(jstr(j, "type", NULL), "Normal", "  type");
        is_str(jstr(j, "firstTimestamp", NULL), "2026-12-02T15:04:05Z", "  firstTimestamp");
        is_str(jstr(j, "lastTimestamp", NULL), "2026-12-02T15:04:05Z", "  lastTimestamp");
        is_int(jint(j, "count"), 1, "  count 1");
        is_str(jstr(j, "source", "component"), "mlbd-bridge", "  source.component");
        is_str(jstr(j, "source", "host"), "node1", "  source.host");
        is_str(jstr(j, "reportingComponent", NULL), "mlbd-bridge", "  reportingComponent");
        is_str(jstr(j, "reportingInstance", NULL), "node1", "  reportingInstance");
        json_decref(j);
        is_int(events_handle_response(r, &a, 201, &b), 0, "created");

        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.10",
                   65 * S, &b),
               EVENT_ACTION_PATCH, "the same event a minute later: patch");
        is_str(b.method, "PATCH", "  PATCH");
        is_str(b.content_type, "application/merge-patch+json", "  merge patch");
        is_str(b.name, a.name, "  of the existing Event");
        ok(strncmp(b.path, "/api/v1/namespaces/demo/events/", 31) == 0 &&
               strcmp(b.path + 31, a.name) == 0,
           "  path names it");
        is_str(b.body, "{\"count\":2,\"lastTimestamp\":\"2026-12-02T15:05:10Z\"}",
               "  body: count and lastTimestamp only");
        event_action_done(&b);
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.10",
                   70 * S, &b),
               EVENT_ACTION_PATCH, "again");
        j = body_of(&b);
        is_int(jint(j, "count"), 3, "  count 3");
        json_decref(j);
        event_action_done(&b);

        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.11",
                   71 * S, &b),
               EVENT_ACTION_CREATE, "another message: a new Event");
        ok(strcmp(b.name, a.name) != 0, "  with its own name");
        event_action_done(&b);
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, "Assigned IP 192.0.2.10",
                   72 * S, &b),
               EVENT_ACTION_CREATE, "another reason: a new Event");
        event_action_done(&b);
        is_int(rec(r, &o, EVENT_TYPE_WARNING, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.10",
                   73 * S, &b),
               EVENT_ACTION_CREATE, "another type: a new Event");
        event_action_done(&b);
        EventObjectRef o2 = events_service_ref("demo", "web", "u-2", NULL);
        is_int(rec(r, &o2, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.10",
                   74 * S, &b),
               EVENT_ACTION_CREATE, "another uid (a recreated Service): a new Event");
        j = body_of(&b);
        ok(jstr(j, "involvedObject", "resourceVersion") == NULL,
           "  no resourceVersion when none given");
        json_decref(j);
        event_action_done(&b);

        uint64_t later = 70 * S + EVENTS_DEDUP_WINDOW_USEC_DEFAULT + 1;
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "Assigned IP 192.0.2.10",
                   later, &b),
               EVENT_ACTION_CREATE, "after the dedup window: a new Event");
        j = body_of(&b);
        ok(jint(j, "count") == 1 && strcmp(b.name, a.name) != 0, "  count 1, new name");
        json_decref(j);
        event_action_done(&b);

        /* Two occurrences in the same microsecond still get different names. */
        EventObjectRef o3 = events_service_ref("demo", "api", "u-3", NULL);
        EventAction c;
        rec(r, &o3, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "x", later, &b);
        rec(r, &o3, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "y", later, &c);
        ok(b.name && c.name && strcmp(b.name, c.name) != 0, "names unique within a microsecond");
        event_action_done(&b);
        event_action_done(&c);
        event_action_done(&a);
        events_free(r);
}

static void test_spam(void)
{
        EventRecorder *r = recorder(0);
        EventObjectRef o = events_service_ref("demo", "flappy", "u-9", NULL);
        EventObjectRef other = events_service_ref("demo", "calm", "u-8", NULL);
        EventAction a;
        char msg[32];
        unsigned sent = 0;
        uint64_t t = 0;

        /* Each message differs: 25 creates go through, then nothing. */
        for (int i = 0; i < 40; i++, t += S) {
                snprintf(msg, sizeof(msg), "moved to node%d", i);
                if (rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, msg, t, &a) ==
                    EVENT_ACTION_CREATE)
                        sent++;
                event_action_done(&a);
        }
        is_int(sent, 25, "burst of 25 per object, then skipped");
        is_int(rec(r, &other, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, "m", t, &a),
               EVENT_ACTION_CREATE, "another Service is not limited");
        event_action_done(&a);
        is_int(rec(r, &o, EVENT_TYPE_WARNING, EVENT_REASON_ALLOCATION_FAILED, "m", t, &a),
               EVENT_ACTION_CREATE, "Warnings have their own bucket (client-go's spam key)");
        event_action_done(&a);
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, "m", 299 * S, &a),
               EVENT_ACTION_SKIP, "no token back before 5 min");
        event_action_done(&a);
        /* The bucket refills all the time: 5 min after the first token went, one is back. */
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, "m2", 300 * S, &a),
               EVENT_ACTION_CREATE, "one token back after 5 min");
        event_action_done(&a);
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, "m3", 301 * S, &a),
               EVENT_ACTION_SKIP, "  only one");
        event_action_done(&a);
        unsigned after = 0;
        for (uint64_t u = 1000 * S; u < 1000 * S + 3600 * S; u += 10 * S) {
                if (rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_NODE_ASSIGNED, "flap", u, &a) !=
                    EVENT_ACTION_SKIP)
                        sent++, after++;
                event_action_done(&a);
        }
        ok(after <= 25 + 12 && after >= 12, "an hour of flapping every 10 s: %u writes", after);
        events_free(r);
}

static void test_count_through_skips(void)
{
        EventRecorder *r = recorder(0);
        EventObjectRef o = events_service_ref("demo", "web", "u-1", NULL);
        EventAction a, x;
        json_t *j;
        unsigned creates = 0, patches = 0, skips = 0;

        for (int i = 0; i < 30; i++) {
                int k = rec(r, &o, EVENT_TYPE_WARNING, EVENT_REASON_ALLOCATION_FAILED, "pool full",
                            (uint64_t)i * S, &a);
                creates += k == EVENT_ACTION_CREATE;
                patches += k == EVENT_ACTION_PATCH;
                skips += k == EVENT_ACTION_SKIP;
                events_handle_response(r, &a, 200, &x);
                event_action_done(&a);
        }
        ok(creates == 1 && patches == 24 && skips == 5, "one create, 24 patches, 5 skipped");
        is_int(rec(r, &o, EVENT_TYPE_WARNING, EVENT_REASON_ALLOCATION_FAILED, "pool full",
                   30 * S + 300 * S, &a),
               EVENT_ACTION_PATCH, "after a refill: patch");
        j = body_of(&a);
        is_int(jint(j, "count"), 31, "  count includes the skipped ones");
        json_decref(j);
        event_action_done(&a);
        events_free(r);

        /* A first occurrence that is skipped leaves no Event: the next one creates. */
        r = recorder(0);
        for (int i = 0; i < 25; i++) {
                char m[16];
                snprintf(m, sizeof(m), "m%d", i);
                rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, m, 0, &a);
                event_action_done(&a);
        }
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_CLEAR_ASSIGNMENT, "gone", S, &a),
               EVENT_ACTION_SKIP, "first occurrence skipped");
        event_action_done(&a);
        is_int(rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_CLEAR_ASSIGNMENT, "gone", 301 * S, &a),
               EVENT_ACTION_CREATE, "  the next one creates (not a patch of nothing)");
        j = body_of(&a);
        ok(jint(j, "count") == 2 &&
               strcmp(jstr(j, "firstTimestamp", NULL), "2026-12-02T15:04:06Z") == 0,
           "  with count 2 and the first occurrence's time");
        json_decref(j);
        event_action_done(&a);
        events_free(r);
}

static void test_lru(void)
{
        EventRecorder *r = recorder(8);
        EventAction a;
        char name[32];
        size_t max_seen = 0;

        for (int i = 0; i < 100; i++) {
                snprintf(name, sizeof(name), "svc-%d", i);
                EventObjectRef o = events_service_ref("demo", name, "u", NULL);
                rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", (uint64_t)i, &a);
                event_action_done(&a);
                max_seen = MAX(max_seen, events_size(r));
        }
        is_int(max_seen, 8, "never more than max_keys entries");
        EventObjectRef o0 = events_service_ref("demo", "svc-0", "u", NULL);
        is_int(rec(r, &o0, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 200, &a),
               EVENT_ACTION_CREATE, "an evicted event is created again");
        event_action_done(&a);
        events_free(r);

        /* The one used recently stays while others come and go. */
        r = recorder(8);
        EventObjectRef keep = events_service_ref("demo", "keep", "u", NULL);
        rec(r, &keep, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 0, &a);
        event_action_done(&a);
        bool patched = true;
        for (int i = 0; i < 20; i++) {
                snprintf(name, sizeof(name), "svc-%d", i);
                EventObjectRef o = events_service_ref("demo", name, "u", NULL);
                rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", (uint64_t)i + 1, &a);
                event_action_done(&a);
                patched = patched && rec(r, &keep, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED,
                                         "m", (uint64_t)i + 1, &a) == EVENT_ACTION_PATCH;
                event_action_done(&a);
        }
        ok(patched, "least recently used goes first: the busy one is always patched");
        events_free(r);
}

static void test_answers(void)
{
        EventRecorder *r = recorder(0);
        EventObjectRef o = events_service_ref("demo", "web", "u-1", NULL);
        EventAction a, p, c, x;
        json_t *j;

        rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 0, &a);
        events_handle_response(r, &a, 201, &x);
        rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 10 * S, &p);
        is_int(p.kind, EVENT_ACTION_PATCH, "patch");
        is_int(events_handle_response(r, &p, 404, &c), EVENTS_RETRY_CREATE,
               "patch 404 (Event collected): create instead");
        is_int(c.kind, EVENT_ACTION_CREATE, "  a create");
        is_str(c.path, "/api/v1/namespaces/demo/events", "  to the collection");
        ok(c.name && strcmp(c.name, a.name) != 0, "  under a new name");
        j = body_of(&c);
        ok(jint(j, "count") == 2 &&
               strcmp(jstr(j, "firstTimestamp", NULL), "2026-12-02T15:04:05Z") == 0 &&
               strcmp(jstr(j, "lastTimestamp", NULL), "2026-12-02T15:04:15Z") == 0 &&
               strcmp(jstr(j, "metadata", "name"), c.name) == 0,
           "  with the count and the first time so far");
        json_decref(j);
        is_int(events_handle_response(r, &c, 201, &x), 0, "  created");
        EventAction q;
        rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 20 * S, &q);
        ok(q.kind == EVENT_ACTION_PATCH && strcmp(q.name, c.name) == 0,
           "the next occurrence patches the new Event");
        is_int(events_handle_response(r, &q, 500, &x), 0, "a 500 on patch: nothing to do");
        event_action_done(&q);
        rec(r, &o, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 21 * S, &q);
        j = body_of(&q);
        ok(q.kind == EVENT_ACTION_PATCH && jint(j, "count") == 4,
           "  the next patch carries the whole count");
        json_decref(j);
        event_action_done(&q);
        event_action_done(&a);
        event_action_done(&p);
        event_action_done(&c);

        EventObjectRef o2 = events_service_ref("demo", "api", "u-2", NULL);
        rec(r, &o2, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 30 * S, &a);
        is_int(events_handle_response(r, &a, 0, &x), 0, "a create without an answer");
        rec(r, &o2, EVENT_TYPE_NORMAL, EVENT_REASON_IP_ALLOCATED, "m", 31 * S, &q);
        j = body_of(&q);
        ok(q.kind == EVENT_ACTION_CREATE && jint(j, "count") == 2,
           "  the next occurrence creates, with count 2");
        json_decref(j);
        event_action_done(&q);
        event_action_done(&a);
        events_free(r);
}

static void test_input(void)
{
        EventRecorder *r = recorder(0);
        EventObjectRef o = events_service_ref("demo", "web", "u-1", NULL);
        EventAction a;
        char big[3000];

        EventObjectRef bad = events_service_ref("demo/../x", "web", "u", NULL);
        is_int(events_record(r, &bad, EVENT_TYPE_NORMAL, "R", "m", 0, WALL0, &a), -EINVAL,
               "a namespace that is not a DNS name");
        bad = events_service_ref("demo", NULL, "u", NULL);
        is_int(events_record(r, &bad, EVENT_TYPE_NORMAL, "R", "m", 0, WALL0, &a), -EINVAL,
               "no name");
        is_int(events_record(r, &o, EVENT_TYPE_NORMAL, "", "m", 0, WALL0, &a), -EINVAL,
               "empty reason");
        is_int(events_record(r, &o, (EventType)7, "R", "m", 0, WALL0, &a), -EINVAL, "bad type");
        is_int(events_record(r, &o, EVENT_TYPE_NORMAL, "R", "bad \xc3\x28 utf-8", 0, WALL0, &a),
               -EINVAL, "a message that is not UTF-8");
        is_int(events_record(r, &o, EVENT_TYPE_NORMAL, "R", "overlong \xc0\xaf", 0, WALL0, &a),
               -EINVAL, "  overlong forms too");
        is_int(events_record(r, &o, EVENT_TYPE_NORMAL, "R", "surrogate \xed\xa0\x80", 0, WALL0, &a),
               -EINVAL, "  and surrogates");
        memset(big, 'a', sizeof(big));
        memcpy(big + 1022, "\xe2\x82\xac", 3); /* a euro sign across byte 1024 */
        big[sizeof(big) - 1] = '\0';
        is_int(events_record(r, &o, EVENT_TYPE_NORMAL, "R", big, 0, WALL0, &a), 0,
               "a long message is accepted");
        json_t *j = body_of(&a);
        is_int(strlen(jstr(j, "message", NULL)), 1022, "  cut to 1024 bytes at a UTF-8 boundary");
        json_decref(j);
        event_action_done(&a);
        ok(events_record(r, &o, EVENT_TYPE_NORMAL, "R", "caf\xc3\xa9 \xf0\x9f\x98\x80", 0, WALL0,
                         &a) == 0 &&
               a.kind == EVENT_ACTION_CREATE,
           "valid multibyte UTF-8 accepted");
        event_action_done(&a);
        events_free(r);
        EventsConfig c = {.host = ""};
        events_config_default(&c);
        ok(events_new(&r, &c) == -EINVAL, "a recorder needs a host");
}

int main(void)
{
        log_max_level = LOG_WARNING;
        test_refs();
        test_create_patch();
        test_spam();
        test_count_through_skips();
        test_lru();
        test_answers();
        test_input();
        return tap_done();
}
