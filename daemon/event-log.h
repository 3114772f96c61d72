/* SPDX-License-Identifier: MIT */
/*
 * Events: the few things an operator wants to find later (a takeover, a release, a
 * conflict, a foreign claim, a failed reload, a peer's death). Each is logged once with a
 * stable MESSAGE_ID (docs/metrics.md) and the fields MLBD_ADDRESS / MLBD_PEER: through
 * sd_journal_send() when stderr is the journal (JOURNAL_STREAM names it), as a plain
 * "<prio>" line otherwise. The last EVENTS_MAX are kept in a ring with their wall-clock
 * time for `mlbctl events` (the "events" request). Not for the packet paths: an event is
 * a state change, at most a few per address and second.
 */
#pragma once

#include <stdint.h>

#include "addr.h"
#include "util/macro.h"

#define EVENTS_MAX 128
#define EVENT_TEXT_MAX 256
#define EVENT_PEER_MAX 254

typedef enum LogEventType {
        EVENT_TAKEOVER,      /* this node took an address another node held */
        EVENT_RELEASE,       /* this node let an address go (to its new owner, or unused) */
        EVENT_CONFLICT,      /* a probe found another host using an address */
        EVENT_FOREIGN_CLAIM, /* another host claimed an address this node announces */
        EVENT_RELOAD_FAILED, /* a reload was refused; the running configuration is kept */
        EVENT_PEER_DEATH,    /* a peer's heartbeats stopped for dead_after_ms */
        _EVENT_TYPE_MAX,
        _EVENT_TYPE_INVALID = -EINVAL,
} LogEventType;

typedef struct LogEvent {
        LogEventType type;
        uint64_t realtime_usec; /* CLOCK_REALTIME when it happened */
        bool has_address;
        u128 address;
        char peer[EVENT_PEER_MAX]; /* "" = none */
        char text[EVENT_TEXT_MAX];
} LogEvent;

/* "takeover", "release", "conflict", "foreign_claim", "reload_failed", "peer_death". */
const char *event_log_type_to_string(LogEventType t);
/* The 32 hex digits of the journal MESSAGE_ID of t. */
const char *event_log_message_id(LogEventType t);

/* Logs the event at `priority` (LOG_*) and keeps it in the ring. address may be NULL,
 * peer NULL or "". The text is the message, formatted. */
void event_log(LogEventType t, int priority, const u128 *address, const char *peer, const char *fmt,
               ...) _printf_(5, 6);

/* The events kept, oldest first: n of them (at most EVENTS_MAX), copied into out. */
size_t event_log_get(LogEvent *out, size_t max);
/* Events logged since start (the ring keeps the last EVENTS_MAX). */
uint64_t event_log_total(void);
/* Forget them all (tests). */
void event_log_reset(void);
