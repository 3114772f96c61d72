/* SPDX-License-Identifier: MIT */
/* Unit tests for the event ring and journal IDs (event-log.h) and the takeover latency
 * histogram (metrics-counters.h). */
#include <stdlib.h>
#include <string.h>

#include "event-log.h"
#include "metrics-counters.h"
#include "tap.h"
#include "util/log.h"

static void test_ids(void)
{
        for (LogEventType t = 0; t < _EVENT_TYPE_MAX; t++) {
                const char *id = event_log_message_id(t);
                ok(id && strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32,
                   "%s: MESSAGE_ID is 32 lowercase hex digits", event_log_type_to_string(t));
                for (LogEventType u = 0; u < t; u++)
                        if (strcmp(id, event_log_message_id(u)) == 0)
                                ok(0, "%s and %s share a MESSAGE_ID", event_log_type_to_string(t),
                                   event_log_type_to_string(u));
        }
        ok(!event_log_message_id(_EVENT_TYPE_MAX), "no id past the last type");
        is_str(event_log_type_to_string(EVENT_FOREIGN_CLAIM), "foreign_claim", "type names");
}

static void test_ring(void)
{
        LogEvent *ev = calloc(EVENTS_MAX, sizeof(LogEvent));
        u128 a = addr_from_v4(0xc0000296); /* 192.0.2.150 */

        log_max_level = -1; /* quiet: the ring is filled whatever the level */
        event_log_reset();
        is_int(event_log_get(ev, EVENTS_MAX), 0, "empty at first");
        event_log(EVENT_TAKEOVER, LOG_NOTICE, &a, "node2", "took %s", "it");
        event_log(EVENT_RELOAD_FAILED, LOG_ERR, NULL, NULL, "refused");
        is_int(event_log_get(ev, EVENTS_MAX), 2, "two kept");
        ok(ev[0].type == EVENT_TAKEOVER && ev[0].has_address && ev[0].address == a &&
               strcmp(ev[0].peer, "node2") == 0 && strcmp(ev[0].text, "took it") == 0,
           "the first: type, address, peer, text");
        ok(ev[1].type == EVENT_RELOAD_FAILED && !ev[1].has_address && ev[1].peer[0] == 0,
           "the second: no address, no peer");
        ok(ev[0].realtime_usec > 0 && ev[1].realtime_usec >= ev[0].realtime_usec,
           "wall-clock times, in order");
        for (unsigned i = 0; i < EVENTS_MAX + 10; i++)
                event_log(EVENT_RELEASE, LOG_INFO, &a, NULL, "r%u", i);
        is_int(event_log_get(ev, EVENTS_MAX), EVENTS_MAX, "full ring: the last EVENTS_MAX");
        is_str(ev[0].text, "r10", "oldest first after wrapping");
        is_str(ev[EVENTS_MAX - 1].text, "r137", "newest last");
        is_int(event_log_total(), EVENTS_MAX + 12, "total counts every event");
        is_int(event_log_get(ev, 3), 3, "a smaller buffer gets the newest ones");
        is_str(ev[2].text, "r137", "ending with the newest");
        free(ev);
}

static void test_histogram(void)
{
        metrics_observe_takeover_latency(3000);     /* 3 ms: first bucket (5 ms) */
        metrics_observe_takeover_latency(10000);    /* exactly 10 ms: the 10 ms bucket */
        metrics_observe_takeover_latency(420000);   /* 0.42 s: the 0.5 s bucket */
        metrics_observe_takeover_latency(60000000); /* 60 s: only +Inf */
        is_int(metrics_counters.takeover_latency_buckets[0], 1, "3 ms in le=0.005");
        is_int(metrics_counters.takeover_latency_buckets[1], 1, "10 ms in le=0.01");
        is_int(metrics_counters.takeover_latency_buckets[6], 1, "0.42 s in le=0.5");
        uint64_t sum = 0;
        for (size_t i = 0; i < TAKEOVER_BUCKETS; i++)
                sum += metrics_counters.takeover_latency_buckets[i];
        is_int(sum, 3, "60 s in no finite bucket");
        is_int(metrics_counters.takeover_latency_count, 4, "count 4");
        ok(metrics_counters.takeover_latency_sum > 60.43 &&
               metrics_counters.takeover_latency_sum < 60.44,
           "sum in seconds (%f)", metrics_counters.takeover_latency_sum);
        is_str(takeover_cause_to_string(TAKEOVER_PEER_DEAD), "peer_dead", "cause names");
}

int main(void)
{
        test_ids();
        test_ring();
        test_histogram();
        return tap_done();
}
