/* SPDX-License-Identifier: MIT */
/* The daemon's counters; see metrics-counters.h. */
#include <stddef.h>

#include "metrics-counters.h"

MetricsCounters metrics_counters = {.last_reload_ok = -1};

const double takeover_bucket_bounds[TAKEOVER_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static const char *const cause_names[_TAKEOVER_CAUSE_MAX] = {
    [TAKEOVER_PEER_DEAD] = "peer_dead",
    [TAKEOVER_PEER_LEAVING] = "peer_leaving",
    [TAKEOVER_REBALANCE] = "rebalance",
    [TAKEOVER_STANDIN] = "standin",
};

const char *takeover_cause_to_string(TakeoverCause c)
{
        return c < _TAKEOVER_CAUSE_MAX ? cause_names[c] : NULL;
}

void metrics_observe_takeover_latency(uint64_t usec)
{
        double s = (double)usec / 1e6;
        size_t i = 0;

        while (i < TAKEOVER_BUCKETS && s > takeover_bucket_bounds[i])
                i++;
        if (i < TAKEOVER_BUCKETS)
                metrics_counters.takeover_latency_buckets[i]++;
        metrics_counters.takeover_latency_count++;
        metrics_counters.takeover_latency_sum += s;
}
