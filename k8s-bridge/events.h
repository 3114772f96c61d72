/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes Events about Services (core/v1 Event), correlated like client-go's
 * tools/record EventCorrelator. Pure: no I/O, no clock reads; events_record() says what
 * to send (POST a new Event, PATCH the count of an existing one, or nothing) and
 * events_handle_response() learns from the answer. Only the leader calls it (lease.h).
 *
 * Rules:
 *   - Dedup (client-go's eventLogger): the same event, i.e. same source (component,
 *     host), involvedObject (kind, apiVersion, namespace, name, uid), type, reason and
 *     message, seen again within dedup_window of its last occurrence is a merge PATCH of
 *     the existing Event ({"count": n, "lastTimestamp": t}) instead of a new Event.
 *     client-go has no window (only its LRU); ours, 30 min by default, is half the API
 *     server's default --event-ttl of 1 h, so a patch rarely finds its Event collected.
 *     When it does (404), the answer is a new Event with the count so far.
 *   - Spam filter (client-go's EventSourceObjectSpamFilter): a token bucket per source,
 *     involvedObject and type: burst 25, one token back every 5 min. Each occurrence,
 *     create or patch, takes a token; without one it is skipped, but still counted, so
 *     the next Event that gets through carries the true count.
 *   - Bounded memory: dedup records and buckets share one LRU of max_keys (4096).
 *   - Not done (simpler than client-go): its aggregator, which after 10 events differing
 *     only by message within 10 min writes "(combined from similar events)". Our
 *     messages come from a handful of reasons; the spam filter already bounds the rate.
 *   - Messages longer than 1024 bytes (the Events API's note limit) are cut at a UTF-8
 *     boundary; reason at most 128 bytes, reportingInstance cut to 128 bytes.
 *
 * Clocks: mono_usec (CLOCK_MONOTONIC) for the window and the buckets, wall_usec
 * (CLOCK_REALTIME) for firstTimestamp/lastTimestamp and the Event name
 * "<object name>.<hex of wall clock nanoseconds>" (client-go's GenerateEventName), kept
 * unique within the recorder by never reusing a nanosecond value.
 *
 * Send Events through one queue, in order: a patch must follow its create's answer.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/macro.h"

#define EVENTS_COMPONENT "mlbd-bridge"
#define EVENTS_MAX_KEYS_DEFAULT 4096
#define EVENTS_BURST_DEFAULT 25
#define EVENTS_REFILL_USEC_DEFAULT (300 * 1000000ULL)
#define EVENTS_DEDUP_WINDOW_USEC_DEFAULT (1800 * 1000000ULL)
#define EVENTS_MESSAGE_MAX 1024
#define EVENTS_REASON_MAX 128
#define EVENTS_INSTANCE_MAX 128

/* The reasons mlbd-bridge reports (spec: "Service semantics"). */
#define EVENT_REASON_IP_ALLOCATED "IPAllocated"
#define EVENT_REASON_NODE_ASSIGNED "nodeAssigned"
#define EVENT_REASON_ALLOCATION_FAILED "AllocationFailed"
#define EVENT_REASON_CLEAR_ASSIGNMENT "ClearAssignment"

typedef enum EventType {
        EVENT_TYPE_NORMAL,
        EVENT_TYPE_WARNING,
        _EVENT_TYPE_MAX,
        _EVENT_TYPE_INVALID = -EINVAL,
} EventType;

const char *event_type_to_string(EventType t); /* "Normal", "Warning" */

/* involvedObject. Borrowed strings; resource_version may be NULL. */
typedef struct EventObjectRef {
        const char *kind, *api_version;
        const char *namespace, *name, *uid, *resource_version;
} EventObjectRef;

/* A Service (kind Service, apiVersion v1). */
EventObjectRef events_service_ref(const char *namespace, const char *name, const char *uid,
                                  const char *resource_version);
/* The same from a Service object's metadata (strings borrowed from svc): -EBADMSG if
 * namespace, name or uid is missing or not a string. */
int events_service_ref_from_json(const json_t *svc, EventObjectRef *ret);

typedef struct EventsConfig {
        const char *component; /* source.component and reportingComponent */
        const char *host;      /* source.host: the node name */
        const char *instance;  /* reportingInstance; NULL: host */
        size_t max_keys;
        unsigned burst;
        uint64_t refill_usec; /* one token back per this */
        uint64_t dedup_window_usec;
} EventsConfig;

/* component "mlbd-bridge" and the defaults above; host and instance left alone. */
void events_config_default(EventsConfig *c);

typedef enum EventActionKind {
        EVENT_ACTION_SKIP,   /* rate-limited: send nothing */
        EVENT_ACTION_CREATE, /* POST path body */
        EVENT_ACTION_PATCH,  /* PATCH path body (merge patch) */
        _EVENT_ACTION_MAX,
        _EVENT_ACTION_INVALID = -EINVAL,
} EventActionKind;

const char *event_action_kind_to_string(EventActionKind k);

typedef struct EventAction {
        EventActionKind kind;
        const char *method;       /* "POST", "PATCH"; NULL when skipped */
        const char *content_type; /* application/json or application/merge-patch+json */
        char *path;               /* /api/v1/namespaces/NS/events[/NAME] */
        char *name;               /* the Event's metadata.name */
        char *body;
        /* private: which record to update, and a create to fall back on after a 404 */
        char *key;
        size_t key_len;
        char *fallback_name, *fallback_body;
} EventAction;

void event_action_done(EventAction *a);

typedef struct EventRecorder EventRecorder;

/* -EINVAL for an empty component or host, max_keys < 2, burst 0 or refill 0. */
int events_new(EventRecorder **ret, const EventsConfig *cfg);
EventRecorder *events_free(EventRecorder *r);
DEFINE_FREEP(EventRecorder, events_free)

/* An occurrence. ret is always filled (SKIP when rate-limited). 0, -EINVAL (missing
 * namespace, name, kind or apiVersion, an object name too long to suffix, an empty or
 * too long reason, bad type, strings that are not UTF-8), -ENOMEM. */
int events_record(EventRecorder *r, const EventObjectRef *obj, EventType type, const char *reason,
                  const char *message, uint64_t mono_usec, uint64_t wall_usec, EventAction *ret);

/* The answer to a CREATE or PATCH (status 0: none). 0 when done; EVENTS_RETRY_CREATE
 * with ret_retry filled when a patched Event was gone (404): send that create instead.
 * A failed create forgets the record, so the next occurrence creates again. */
enum {
        EVENTS_RETRY_CREATE = 1,
};
int events_handle_response(EventRecorder *r, const EventAction *a, long status,
                           EventAction *ret_retry);

size_t events_size(const EventRecorder *r); /* records + buckets held */
