/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes list and watch responses, pure part (no I/O, no globals).
 *
 * A watch (GET ...?watch=1) answers with a stream of JSON objects
 *     {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}
 * which kube-apiserver writes one per line, in a chunked body whose chunks may cut an event
 * anywhere. The WatchParser takes the body as it arrives, in pieces split at any byte, and
 * calls back once per complete event. Whitespace between events is skipped; anything else
 * between them is an error.
 *
 * Invariants:
 *   - the parser never holds more than `max` bytes of an event: an event longer than
 *     that is an error as soon as its byte max + 1 arrives;
 *   - events are delivered in stream order, each exactly once, whatever the chunking;
 *   - after any error (bad stream, out of memory, a failing callback) the parser is
 *     spent: every later feed returns the same error and reads nothing, since the caller
 *     has to restart the watch from its last resourceVersion anyway.
 *
 * Errors: functions return 0, -ENOMEM or -EINVAL (bad input, described by a WatchError);
 * a negative value from the callback is passed up unchanged. Byte offsets are 0-based
 * offsets into the whole stream (or body); events are numbered from 1. For bad JSON the
 * offset is where jansson stopped: at an undecodable byte, or just past a bad token.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util/macro.h"

#define WATCH_EVENT_MAX_DEFAULT (16u * 1024 * 1024) /* bytes of one event */
#define WATCH_DETAIL_MAX 512

typedef enum WatchEventType {
        WATCH_ADDED,
        WATCH_MODIFIED,
        WATCH_DELETED,
        WATCH_BOOKMARK,
        WATCH_ERROR,
        _WATCH_EVENT_TYPE_MAX,
        _WATCH_EVENT_TYPE_INVALID = -EINVAL,
} WatchEventType;

/* "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" (exact case, as the API sends). */
const char *watch_event_type_to_string(WatchEventType t);
WatchEventType watch_event_type_from_string(const char *s);

/* A metav1.Status: the object of an ERROR event, or the body of a failed request. */
typedef struct WatchStatus {
        int code;            /* HTTP code, e.g. 410; 0 when absent */
        char *status;        /* "Failure", "Success"; NULL when absent */
        char *reason;        /* "Expired", "Gone", "NotFound", ...; NULL when absent */
        char *message;       /* NULL when absent */
        int retry_after_sec; /* details.retryAfterSeconds; 0 when absent (as in the API) */
} WatchStatus;

void watch_status_clear(WatchStatus *s);

typedef struct WatchEvent {
        WatchEventType type;
        /* Borrowed: valid during the callback only, and the parser's own (no one else holds
         * it), so the callback may change it or keep it with json_incref(). */
        json_t *object;
        /* object.metadata.resourceVersion, borrowed like object; NULL when absent. For a
         * BOOKMARK it is the only meaningful field. */
        const char *resource_version;
        uint64_t number;    /* 1-based number of the event in the stream */
        uint64_t offset;    /* stream offset of its first byte ('{') */
        WatchStatus status; /* ERROR only (all zero otherwise); owned by the parser */
} WatchEvent;

/* Where and what went wrong. detail is the whole message, e.g.
 *   event 3 at byte 1234: unknown type "DELETE"
 * for a stream, or "byte 17: ..." for a list or Status body. */
typedef struct WatchError {
        uint64_t offset; /* 0-based byte offset of the problem */
        uint64_t event;  /* 1-based number of the event; 0 for list and Status bodies */
        char detail[WATCH_DETAIL_MAX];
} WatchError;

/* ---- watch stream ------------------------------------------------------------------ */

typedef struct WatchParser WatchParser;

/* Returning a negative value stops the feed and spends the parser; that value is passed
 * up by watch_parser_feed(). */
typedef int (*WatchEventHandler)(const WatchEvent *ev, void *userdata);

/* max: bytes of one event at most (0 = WATCH_EVENT_MAX_DEFAULT). */
int watch_parser_new(WatchParser **ret, size_t max);
WatchParser *watch_parser_free(WatchParser *p);
DEFINE_FREEP(WatchParser, watch_parser_free);
/* Back to the start of a new stream (offsets and event numbers from 0), error cleared. */
void watch_parser_reset(WatchParser *p);

/*
 * Takes the next len bytes of the stream and calls cb for every event they complete.
 * Returns 0; -EINVAL for a bad stream (see watch_parser_error()); -ENOMEM; or the
 * callback's negative value. After a failure the parser refuses input (see above).
 */
int watch_parser_feed(WatchParser *p, const char *buf, size_t len, WatchEventHandler cb,
                      void *userdata);

/*
 * The stream ended. Returns 0 when it ended between events; -EINVAL when it ended inside
 * one (the partial event is dropped and the error names it), or the earlier error.
 */
int watch_parser_finish(WatchParser *p);

/* The error that spent the parser, or NULL (also for a failing callback's error, which
 * the parser does not describe: only its return value is kept). */
const WatchError *watch_parser_error(const WatchParser *p);
/* Events delivered so far. */
uint64_t watch_parser_events(const WatchParser *p);
/* Bytes of an unfinished event held now. */
size_t watch_parser_pending(const WatchParser *p);

/* ---- list and Status bodies -------------------------------------------------------- */

typedef struct WatchList {
        json_t *items;           /* array of objects (owned); items carry no kind/apiVersion */
        char *resource_version;  /* metadata.resourceVersion: where the watch starts */
        char *continue_token;    /* metadata.continue; NULL when absent or empty (last page) */
        int64_t remaining_items; /* metadata.remainingItemCount; -1 when absent */
} WatchList;

void watch_list_clear(WatchList *l);

/*
 * Decodes the body of a LIST (e.g. a ServiceList): `items` must be an array of objects
 * (null or absent = empty), metadata.resourceVersion a non-empty string. *ret is filled on
 * success and untouched on failure; err may be NULL.
 */
int watch_parse_list(const char *body, size_t len, WatchList *ret, WatchError *err);

/*
 * The same, item by item: fn gets each item of `items` in order (borrowed, valid during
 * the call; an object), decoded on its own and freed after the call, so a page of 500
 * Services is never a tree of 500 Services at once. ret gets the rest (items NULL). The
 * body's structure outside the items is followed by a small scanner; each key, each
 * item and every other member's value is decoded and so checked by jansson. A key
 * "items" or "metadata" given twice is an error (watch_parse_list() takes the last).
 * Items before an error have been handed to fn already. A negative value from fn stops
 * the parse and is returned.
 */
typedef int (*WatchListItemFn)(json_t *item, void *userdata);
int watch_parse_list_each(const char *body, size_t len, WatchListItemFn fn, void *userdata,
                          WatchList *ret, WatchError *err);

/*
 * Decodes an error body of kind Status (kind must be "Status"). *ret is filled on success
 * and untouched on failure; err may be NULL.
 */
int watch_parse_status(const char *body, size_t len, WatchStatus *ret, WatchError *err);
