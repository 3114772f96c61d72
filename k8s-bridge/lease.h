/* SPDX-License-Identifier: MIT */
/*
 * Leader election on a coordination.k8s.io/v1 Lease, with the semantics of client-go's
 * tools/leaderelection (tryAcquireOrRenew, renew with RenewDeadline, ReleaseOnCancel).
 * Pure: no I/O, no clock reads. The HTTP layer asks lease_next() what to send, sends it,
 * and hands the answer to lease_handle_response(); the module decides what the Lease
 * should say and whether we lead.
 *
 * Two clocks, both passed in as microseconds:
 *   mono_usec  CLOCK_MONOTONIC (or CLOCK_BOOTTIME): every deadline and every "how long
 *              since" in this module;
 *   wall_usec  CLOCK_REALTIME: only the timestamps written into the Lease (acquireTime,
 *              renewTime). Timestamps read from the Lease are never trusted for timing:
 *              another holder's lease runs from the moment WE saw its record change
 *              (client-go's observedTime), so clock skew between nodes does not matter,
 *              only the rate at which clocks run.
 *
 * Invariants:
 *   - We lead only in LEASE_STATE_LEADER, and only until leader_until = (the time the
 *     last successful create/update was handed out by lease_next) + renew_deadline.
 *     That write reached the server after it was handed out, so every other candidate
 *     saw it change at or after that moment and waits lease_duration from then:
 *     lease_duration > renew_deadline leaves the difference as a margin. client-go
 *     counts from the end of the last successful round plus retry_period; counting from
 *     the send is stricter. lease_is_leader() must be asked before every write the
 *     leader makes (Service status, Events).
 *   - An observed record held by someone else and not expired means we are not leader,
 *     at once (client-go's IsLeader() reads the observed record).
 *   - A change of holder increments leaseTransitions; a renewal keeps acquireTime and
 *     leaseTransitions.
 *   - 409 Conflict on an update (or AlreadyExists on create) means another writer won the
 *     race: re-GET, then decide again.
 *
 * Identity: client-go takes it from the caller; kube-controller-manager and the
 * scheduler use "<hostname>_<uuid>". We do the same with lease_identity_new(): the node
 * name plus 64 random bits chosen per process, so a restarted bridge (or two pods of
 * a DaemonSet overlapping during a rolling update) is never mistaken for its
 * predecessor and waits for the old lease like any other candidate.
 *
 * Error rule (see util/macro.h): -errno on failure; lease_release() returns a positive
 * result.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/macro.h"

#define LEASE_USEC_PER_SEC 1000000ULL
/* client-go's defaults for core components (LeaderElectionConfig). */
#define LEASE_DURATION_USEC_DEFAULT (15 * LEASE_USEC_PER_SEC)
#define LEASE_RENEW_DEADLINE_USEC_DEFAULT (10 * LEASE_USEC_PER_SEC)
#define LEASE_RETRY_PERIOD_USEC_DEFAULT (2 * LEASE_USEC_PER_SEC)
/* client-go's JitterFactor 1.2: a candidate retries after retry_period * [1, 2.2). */
#define LEASE_JITTER_PERCENT_DEFAULT 120

typedef struct LeaseConfig {
        const char *namespace;        /* --lease-namespace */
        const char *name;             /* the Lease's name, e.g. "mlbd-bridge" */
        const char *identity;         /* see lease_identity_new() */
        uint64_t lease_duration_usec; /* whole seconds: leaseDurationSeconds is an integer */
        uint64_t renew_deadline_usec;
        uint64_t retry_period_usec;
        unsigned jitter_percent; /* extra random delay for candidates, 0..jitter% of retry */
        uint64_t seed;           /* for that jitter; the caller supplies randomness */
} LeaseConfig;

/* Durations and jitter to client-go's defaults; leaves the strings alone. */
void lease_config_default(LeaseConfig *c);
/* client-go's rules: lease_duration > renew_deadline > 1.2 * retry_period > 0; the
 * duration in whole seconds; namespace and name DNS-1123 subdomains (at most 253
 * characters), identity non-empty. -EINVAL otherwise. */
int lease_config_validate(const LeaseConfig *c);

/* "<node>_<16 hex digits of unique>", unique being random per process. -EINVAL for an
 * empty node name, -ENOMEM. */
int lease_identity_new(char **ret, const char *node, uint64_t unique);

typedef enum LeaseState {
        LEASE_STATE_INIT,      /* nothing observed yet: GET */
        LEASE_STATE_STANDBY,   /* a valid lease of another holder, or the API failing */
        LEASE_STATE_ACQUIRING, /* a create or update that takes the lease is in flight */
        LEASE_STATE_LEADER,    /* we hold it and renewed it within renew_deadline */
        LEASE_STATE_RELEASING, /* lease_release(): clearing the holder */
        LEASE_STATE_STOPPED,   /* released, or nothing to release: no more requests */
        _LEASE_STATE_MAX,
        _LEASE_STATE_INVALID = -EINVAL,
} LeaseState;

const char *lease_state_to_string(LeaseState s);

typedef enum LeaseRequest {
        LEASE_REQUEST_NONE,   /* nothing to send now: call lease_next() again at at_usec */
        LEASE_REQUEST_GET,    /* GET path */
        LEASE_REQUEST_CREATE, /* POST path body */
        LEASE_REQUEST_UPDATE, /* PUT path body (carries the resourceVersion last seen) */
        _LEASE_REQUEST_MAX,
        _LEASE_REQUEST_INVALID = -EINVAL,
} LeaseRequest;

const char *lease_request_to_string(LeaseRequest r);

typedef struct LeaseAction {
        LeaseRequest request;
        const char *method; /* "GET", "POST", "PUT"; NULL with LEASE_REQUEST_NONE */
        char *path;         /* e.g. /apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME */
        char *body;         /* JSON, Content-Type application/json; NULL for GET */
        /* Monotonic time at which to call lease_next() again (with LEASE_REQUEST_NONE);
         * UINT64_MAX: not before the pending response (or never, when stopped). With a
         * request, the time to call lease_next() again if its response has not arrived
         * by then (the end of leadership), else UINT64_MAX. */
        uint64_t at_usec;
} LeaseAction;

void lease_action_done(LeaseAction *a);

/* The spec of a Lease, as the election reads it. Times are wall clock (0: absent). */
typedef struct LeaseRecord {
        char *holder; /* NULL: no holder (absent, null or "") */
        int64_t duration_sec;
        int64_t transitions;
        uint64_t acquire_usec, renew_usec;
} LeaseRecord;

void lease_record_done(LeaseRecord *r);
/* Reads a Lease object: spec fields (each may be absent or null) and, if ret_version is
 * not NULL, metadata.resourceVersion (malloc'd, NULL if absent). -EBADMSG for a wrong
 * type or a bad time; -ENOMEM. */
int lease_record_from_json(const json_t *lease, LeaseRecord *ret, char **ret_version);

typedef struct Lease Lease;

/* Copies cfg (after lease_config_validate()). The first lease_next() asks for a GET. */
int lease_new(Lease **ret, const LeaseConfig *cfg);
Lease *lease_free(Lease *l);
DEFINE_FREEP(Lease, lease_free)

/* What to do now. With a request returned, the module waits for exactly one
 * lease_handle_response(); calling lease_next() meanwhile returns LEASE_REQUEST_NONE
 * (and ends leadership if its deadline passes). 0 or -ENOMEM. */
int lease_next(Lease *l, uint64_t mono_usec, uint64_t wall_usec, LeaseAction *ret);

/* The answer to the pending request: the HTTP status (0 when there was none: connect
 * failure, timeout; the HTTP layer should give up on a request after at most
 * renew_deadline) and the body (may be NULL). A body that does not parse on a 2xx counts
 * as a failure of that request. 0, or -EALREADY when no request is pending, -ENOMEM. */
int lease_handle_response(Lease *l, uint64_t mono_usec, long status, const char *body, size_t size);

/* ReleaseOnCancel: stop leading now and, if we hold the lease, clear it
 * (holderIdentity "", leaseDurationSeconds 1) so a candidate takes over without waiting
 * lease_duration. The caller must have finished every write guarded by the lease. Keep
 * driving lease_next() until the state is LEASE_STATE_STOPPED (at most renew_deadline;
 * a conflict re-GETs and releases only if we are still the holder).
 * Returns LEASE_RELEASE_PENDING when requests follow, LEASE_RELEASE_DONE when there is
 * nothing to release. */
enum {
        LEASE_RELEASE_DONE = 1,
        LEASE_RELEASE_PENDING = 2,
};
int lease_release(Lease *l, uint64_t mono_usec);

/* A candidate again after lease_release() stopped the election (the bridge lost its mlbd
 * and got it back): from LEASE_STATE_STOPPED to a fresh GET, as after lease_new(). 1 when
 * resumed, 0 when not stopped (nothing to do), -EBUSY while the release's write is still
 * pending (call again after its lease_handle_response()). */
int lease_resume(Lease *l, uint64_t mono_usec);

LeaseState lease_get_state(const Lease *l);
/* True while we may write as the leader (see the invariants above). */
bool lease_is_leader(const Lease *l, uint64_t mono_usec);
/* The holder of the last record observed (NULL: none or unknown). */
const char *lease_get_holder(const Lease *l);
const char *lease_get_identity(const Lease *l);

/* Kubernetes timestamps. metav1.MicroTime is RFC 3339 with exactly six fractional
 * digits, "2026-12-02T15:04:05.123456Z"; metav1.Time is whole seconds,
 * "2026-12-02T15:04:05Z". Both write UTC. The parser takes either, 0 to 9 fractional
 * digits (beyond microseconds truncated) and "Z" or "+hh:mm"/"-hh:mm"; -EINVAL for
 * anything else (including out-of-range fields), -ERANGE before 1970. Also used by
 * events.c. */
#define LEASE_TIME_MAX 32
char *lease_microtime_format(uint64_t wall_usec, char buf[static LEASE_TIME_MAX]);
char *lease_time_format(uint64_t wall_usec, char buf[static LEASE_TIME_MAX]);
int lease_time_parse(const char *s, uint64_t *ret_usec);
