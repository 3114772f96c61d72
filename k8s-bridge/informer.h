/* SPDX-License-Identifier: MIT */
/*
 * informer: the bridge's cache of one kind of Kubernetes object, kept current by list and
 * watch, as client-go's reflector does:
 *   - LIST, paginated (limit=500 + continue): each page is filed into the cache as it
 *     arrives, marked with the LIST's generation, and what the LIST did not file is
 *     dropped when its last page arrived (`listed`); a re-list so never holds two copies
 *     of the cache, and meanwhile serves each object in its newest state seen;
 *   - then WATCH from the list's resourceVersion with allowWatchBookmarks and a random
 *     timeoutSeconds of 5-10 min; every event advances the version, bookmarks included;
 *   - a watch that ends (the server's timeout, a dropped connection) resumes from the
 *     last version; 410 Gone (HTTP status or an ERROR event: the version was compacted
 *     away) means a new LIST; an expired continue token restarts the LIST from the first
 *     page;
 *   - errors back off exponentially with jitter (0.8 s doubling to 30 s, as client-go),
 *     reset once a watch has delivered events or lasted a minute.
 * Objects are kept translated (translate.h: only what mlbd reads), keyed as mlbd keys
 * them, each as its compact JSON text (what mlbd is sent): about 1 KiB of RSS a
 * Service, against about 5.5 KiB as jansson trees. State changes are logged once each, not once
 * per retry.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "kube.h"
#include "model.h"

typedef enum InformerState {
        INFORMER_IDLE,
        INFORMER_LISTING,
        INFORMER_WATCHING,
        INFORMER_BACKOFF,
        _INFORMER_STATE_MAX,
        _INFORMER_STATE_INVALID = -EINVAL,
} InformerState;

const char *informer_state_to_string(InformerState s);

typedef struct Informer Informer;

typedef struct InformerCallbacks {
        /* a complete LIST replaced the cache (first list, or a re-list) */
        void (*listed)(Informer *inf, void *userdata);
        /* an ADDED or MODIFIED event: obj is the cached, translated object (borrowed) */
        void (*upserted)(Informer *inf, const json_t *obj, void *userdata);
        /* a DELETED event: obj is the translated last state (borrowed) */
        void (*deleted)(Informer *inf, const json_t *obj, void *userdata);
        /* a watch is established again from the last version after failures (an API
         * outage): the cache is current up to that version and will be kept current */
        void (*resumed)(Informer *inf, void *userdata);
} InformerCallbacks;

int informer_new(Informer **ret, sd_event *e, Kube *kube, ObjKind kind, const char *lb_class,
                 const InformerCallbacks *cb, void *userdata);
Informer *informer_free(Informer *inf);
DEFINE_FREEP(Informer, informer_free)

int informer_start(Informer *inf);
ObjKind informer_kind(const Informer *inf);
InformerState informer_state(const Informer *inf);
/* A LIST has completed at least once. */
bool informer_has_synced(const Informer *inf);
/* Objects in the cache. */
size_t informer_size(const Informer *inf);
/* Calls fn for each cached object (in no particular order) with its key and its compact
 * JSON text (borrowed, valid during the call; the cache must not change meanwhile); a
 * negative value from fn stops the walk and is returned. */
typedef int (*InformerEachFn)(const char *key, const char *json, size_t len, void *userdata);
int informer_foreach(const Informer *inf, InformerEachFn fn, void *userdata);
/* The cached object of key ("ns/name" or "name") decoded from its text: a new reference,
 * NULL when absent (or out of memory). */
json_t *informer_load(const Informer *inf, const char *key);
/* Replaces the cached object of its key (the bridge's own write's answer): 0, or -EINVAL
 * when raw has no usable metadata (-ENOMEM is reported the same). */
int informer_store(Informer *inf, const json_t *raw);
/* Listing, backing off, or a watch started less than 0.5 s ago (now_usec, CLOCK_MONOTONIC)
 * that has delivered nothing yet (410 Gone comes as the first event): the informer may
 * be about to list, so a full sync is better sent once it is done. */
bool informer_settling(const Informer *inf, uint64_t now_usec);
/* Counters for logs and tests. */
unsigned informer_lists(const Informer *inf);
unsigned informer_watches(const Informer *inf);
