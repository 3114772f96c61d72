/* SPDX-License-Identifier: MIT */
/*
 * The daemon's own counters for /metrics (metrics.c renders them): plain integers in one
 * process-wide struct, bumped where the thing happens. Counting costs an increment and
 * nothing else; per-address L2 counts live with the address (announcer, claim watch),
 * per-peer heartbeat counts in peers.c.
 */
#pragma once

#include <stdint.h>

/* Why this node took an address another node held. */
typedef enum TakeoverCause {
        TAKEOVER_PEER_DEAD,    /* the node that held it went silent (dead_after_ms) */
        TAKEOVER_PEER_LEAVING, /* the node that held it is stopping and handed it over */
        TAKEOVER_REBALANCE,    /* the holder lives, but this node is the owner now */
        TAKEOVER_STANDIN,      /* the owner cannot hold it; this node stands in */
        _TAKEOVER_CAUSE_MAX,
} TakeoverCause;

/* Takeover latency buckets, seconds (upper bounds; +Inf is implied). */
#define TAKEOVER_BUCKETS 12
extern const double takeover_bucket_bounds[TAKEOVER_BUCKETS];

typedef struct MetricsCounters {
        uint64_t takeovers[_TAKEOVER_CAUSE_MAX];
        /* from a peer's death being noticed to the first gratuitous ARP / NA sent */
        uint64_t takeover_latency_buckets[TAKEOVER_BUCKETS]; /* not cumulative */
        uint64_t takeover_latency_count;
        double takeover_latency_sum; /* seconds */
        uint64_t releases;
        uint64_t probe_conflicts;
        uint64_t foreign_claims;
        uint64_t reloads_ok, reloads_failed;
        int last_reload_ok;                 /* -1: no reload yet */
        uint64_t last_reload_realtime_usec; /* the last successful one; start time before */
        uint64_t start_realtime_usec;
} MetricsCounters;

extern MetricsCounters metrics_counters;

const char *takeover_cause_to_string(TakeoverCause c);
void metrics_observe_takeover_latency(uint64_t usec);
