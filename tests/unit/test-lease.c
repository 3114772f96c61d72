/* SPDX-License-Identifier: MIT */
/*
 * k8s-bridge/lease.c: leader election. A fake API server in this file keeps one Lease
 * with resourceVersions (GET, POST with AlreadyExists, PUT with Conflict) and can be cut
 * off per client; simulated clocks drive one or two electors against it.
 */
#include <string.h>

#include "lease.h"
#include "tap.h"
#include "util/log.h"

#define S LEASE_USEC_PER_SEC
#define WALL0 1796223845000000ULL /* 2026-12-02T15:04:05Z */

typedef struct Server {
        json_t *obj;
        unsigned rv;
        unsigned n_get, n_post, n_put;
} Server;

static long server_do(Server *s, const LeaseAction *a, char **ret_body)
{
        json_t *body = NULL;
        char rv[16];

        *ret_body = NULL;
        if (a->request == LEASE_REQUEST_GET) {
                s->n_get++;
                if (!s->obj)
                        return 404;
                *ret_body = json_dumps(s->obj, JSON_COMPACT);
                return 200;
        }
        body = json_loads(a->body, 0, NULL);
        if (!body)
                return 400;
        if (a->request == LEASE_REQUEST_CREATE) {
                s->n_post++;
                if (s->obj) {
                        json_decref(body);
                        return 409;
                }
        } else {
                s->n_put++;
                const char *want = json_string_value(
                    json_object_get(json_object_get(body, "metadata"), "resourceVersion"));
                snprintf(rv, sizeof(rv), "%u", s->rv);
                if (!s->obj) {
                        json_decref(body);
                        return 404;
                }
                if (!want || strcmp(want, rv) != 0) {
                        json_decref(body);
                        return 409;
                }
        }
        snprintf(rv, sizeof(rv), "%u", ++s->rv);
        json_object_set_new(json_object_get(body, "metadata"), "resourceVersion", json_string(rv));
        json_decref(s->obj);
        s->obj = body;
        *ret_body = json_dumps(s->obj, JSON_COMPACT);
        return a->request == LEASE_REQUEST_CREATE ? 201 : 200;
}

/* Someone else writes the Lease (e.g. a label): the resourceVersion moves on. */
static void server_touch(Server *s)
{
        char rv[16];
        snprintf(rv, sizeof(rv), "%u", ++s->rv);
        json_object_set_new(json_object_get(s->obj, "metadata"), "resourceVersion",
                            json_string(rv));
}

static const char *server_holder(const Server *s)
{
        return json_string_value(
            json_object_get(json_object_get(s->obj, "spec"), "holderIdentity"));
}

static json_int_t server_int(const Server *s, const char *key)
{
        return json_integer_value(json_object_get(json_object_get(s->obj, "spec"), key));
}

static const char *server_str(const Server *s, const char *key)
{
        return json_string_value(json_object_get(json_object_get(s->obj, "spec"), key));
}

/* One timer tick of an elector at t (monotonic, since 0; wall = WALL0 + t): send what it
 * asks for and answer at once, until it has nothing to send. cut: the client cannot
 * reach the server. Returns the time of the next tick. */
static uint64_t tick(Lease *l, Server *s, uint64_t t, bool cut)
{
        LeaseAction a;

        for (int i = 0; i < 10; i++) {
                if (lease_next(l, t, WALL0 + t, &a) < 0)
                        return UINT64_MAX;
                if (a.request == LEASE_REQUEST_NONE)
                        return a.at_usec;
                char *body = NULL;
                long status = cut ? 0 : server_do(s, &a, &body);
                (void)lease_handle_response(l, t, status, body, body ? strlen(body) : 0);
                free(body);
                lease_action_done(&a);
        }
        return t; /* should not happen: ten requests in one tick */
}

static Lease *elector(const char *id)
{
        LeaseConfig c = {.namespace = "mlbd-system", .name = "mlbd-bridge", .identity = id};
        Lease *l = NULL;

        lease_config_default(&c);
        c.seed = (uint64_t)id[0];
        if (lease_new(&l, &c) < 0)
                return NULL;
        return l;
}

static void test_time(void)
{
        char buf[LEASE_TIME_MAX];
        uint64_t u = 0;

        is_str(lease_microtime_format(WALL0 + 123456, buf), "2026-12-02T15:04:05.123456Z",
               "MicroTime format");
        is_str(lease_microtime_format(WALL0, buf), "2026-12-02T15:04:05.000000Z",
               "MicroTime always has six digits");
        is_str(lease_time_format(WALL0 + 999999, buf), "2026-12-02T15:04:05Z",
               "Time format drops the fraction");
        is_str(lease_microtime_format(0, buf), "1970-01-01T00:00:00.000000Z", "the epoch");
        is_int(lease_time_parse("2026-12-02T15:04:05.123456Z", &u), 0, "parse MicroTime");
        is_int(u, WALL0 + 123456, "  its value");
        is_int(lease_time_parse("2026-12-02T15:04:05Z", &u), 0, "parse without a fraction");
        is_int(u, WALL0, "  its value");
        ok(lease_time_parse("2026-12-02T15:04:05.5Z", &u) == 0 && u == WALL0 + 500000,
           "one fractional digit is tenths");
        ok(lease_time_parse("2026-12-02T15:04:05.123456789Z", &u) == 0 && u == WALL0 + 123456,
           "nanoseconds are truncated to microseconds");
        ok(lease_time_parse("2026-12-02T16:34:05.000001+01:30", &u) == 0 && u == WALL0 + 1,
           "an offset east of UTC");
        ok(lease_time_parse("2026-12-02T14:04:05-01:00", &u) == 0 && u == WALL0,
           "an offset west of UTC");
        ok(lease_time_parse("2024-02-29T00:00:00Z", &u) == 0, "29 February in a leap year");
        ok(lease_time_parse("2000-02-29T00:00:00Z", &u) == 0 && u == 951782400ULL * S,
           "2000 is a leap year (and the value is right)");
        ok(lease_time_parse("9999-12-31T23:59:59.999999Z", &u) == 0 &&
               strcmp(lease_microtime_format(u, buf), "9999-12-31T23:59:59.999999Z") == 0,
           "the last instant round-trips");
        const char *bad[] = {
            "",
            "2026-12-02",
            "2026-12-02T15:04:05",
            "2026-12-02 15:04:05Z",
            "2026-12-02t15:04:05Z",
            "2026-12-02T15:04:05z",
            "2026-12-02T15:04:05.Z",
            "2026-12-02T15:04:05.1234567890Z",
            "2026-12-02T15:04:05Zjunk",
            "2026-13-02T15:04:05Z",
            "2026-00-02T15:04:05Z",
            "2026-02-29T15:04:05Z",
            "1900-02-29T15:04:05Z",
            "2026-04-31T15:04:05Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T15:60:05Z",
            "2026-12-02T15:04:60Z",
            "2026-12-02T15:04:05+01",
            "2026-12-02T15:04:05+24:00",
            "2026-12-02T15:04:05+01:60",
            "+026-12-02T15:04:05Z",
            "2026-1-02T15:04:05Z",
        };
        size_t refused = 0;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (lease_time_parse(bad[i], &u) == -EINVAL)
                        refused++;
                else
                        printf("#   accepted \"%s\"\n", bad[i]);
        }
        is_int(refused, ELEMENTSOF(bad), "%zu malformed timestamps refused", ELEMENTSOF(bad));
        is_int(lease_time_parse("1969-12-31T23:59:59Z", &u), -ERANGE, "before 1970: -ERANGE");
        is_int(lease_time_parse("1970-01-01T00:30:00+01:00", &u), -ERANGE,
               "an offset that lands before 1970");
        is_int(lease_time_parse(NULL, &u), -EINVAL, "NULL refused");
}

static void test_config(void)
{
        LeaseConfig c = {.namespace = "mlbd-system", .name = "mlbd-bridge", .identity = "n1_1"};
        char *id = NULL;

        lease_config_default(&c);
        is_int(c.lease_duration_usec, 15 * S, "default LeaseDuration 15 s");
        is_int(c.renew_deadline_usec, 10 * S, "default RenewDeadline 10 s");
        is_int(c.retry_period_usec, 2 * S, "default RetryPeriod 2 s");
        is_int(lease_config_validate(&c), 0, "defaults valid");
        LeaseConfig d = c;
        d.lease_duration_usec = 10 * S;
        is_int(lease_config_validate(&d), -EINVAL, "LeaseDuration must exceed RenewDeadline");
        d = c;
        d.retry_period_usec = 9 * S;
        is_int(lease_config_validate(&d), -EINVAL, "RenewDeadline must exceed 1.2 x RetryPeriod");
        d.retry_period_usec = 8 * S;
        is_int(lease_config_validate(&d), 0, "  10 s > 9.6 s is enough");
        d = c;
        d.lease_duration_usec = 15 * S + 500000;
        is_int(lease_config_validate(&d), -EINVAL, "LeaseDuration in whole seconds");
        d = c;
        d.namespace = "Mlbd_System";
        is_int(lease_config_validate(&d), -EINVAL, "namespace must be a DNS name");
        d = c;
        d.identity = "";
        is_int(lease_config_validate(&d), -EINVAL, "identity must not be empty");
        int k = lease_identity_new(&id, "node1", 0xff);
        ok(k == 0 && strcmp(id, "node1_00000000000000ff") == 0,
           "identity: node name + per-process random (got %s)", id ? id : "(null)");
        free(id);
        is_int(lease_identity_new(&id, "", 1), -EINVAL, "identity needs a node name");
}

static void test_acquire_renew(void)
{
        Server s = {};
        Lease *a = elector("a");
        LeaseAction act;
        char *body = NULL;
        char buf[LEASE_TIME_MAX];

        is_int(lease_get_state(a), LEASE_STATE_INIT, "starts in init");
        is_int(lease_next(a, 0, WALL0, &act), 0, "next");
        is_int(act.request, LEASE_REQUEST_GET, "first a GET");
        is_str(act.method, "GET", "  method");
        is_str(act.path, "/apis/coordination.k8s.io/v1/namespaces/mlbd-system/leases/mlbd-bridge",
               "  path");
        ok(act.body == NULL, "  no body");
        lease_action_done(&act);
        lease_next(a, 0, WALL0, &act);
        is_int(act.request, LEASE_REQUEST_NONE, "nothing more while the GET is pending");
        is_int(lease_handle_response(a, 0, 404, NULL, 0), 0, "404: no Lease");
        lease_next(a, 0, WALL0, &act);
        is_int(act.request, LEASE_REQUEST_CREATE, "absent: create");
        is_str(act.method, "POST", "  method");
        is_str(act.path, "/apis/coordination.k8s.io/v1/namespaces/mlbd-system/leases", "  path");
        is_int(lease_get_state(a), LEASE_STATE_ACQUIRING, "acquiring");
        ok(!lease_is_leader(a, 0), "not leader before the answer");
        long st = server_do(&s, &act, &body);
        is_int(st, 201, "server created it");
        is_str(server_holder(&s), "a", "  holderIdentity");
        is_int(server_int(&s, "leaseDurationSeconds"), 15, "  leaseDurationSeconds");
        is_int(server_int(&s, "leaseTransitions"), 0, "  leaseTransitions 0");
        is_str(server_str(&s, "acquireTime"), "2026-12-02T15:04:05.000000Z", "  acquireTime");
        is_str(server_str(&s, "renewTime"), "2026-12-02T15:04:05.000000Z", "  renewTime");
        is_str(json_string_value(json_object_get(s.obj, "kind")), "Lease", "  kind");
        lease_action_done(&act);
        lease_handle_response(a, 100000, st, body, strlen(body));
        free(body);
        is_int(lease_get_state(a), LEASE_STATE_LEADER, "leader");
        ok(lease_is_leader(a, 100000), "is_leader");
        is_str(lease_get_holder(a), "a", "holder observed");
        lease_next(a, 100000, WALL0 + 100000, &act);
        ok(act.request == LEASE_REQUEST_NONE && act.at_usec == 2100000,
           "renew due RetryPeriod after the answer (at %llu)", (unsigned long long)act.at_usec);

        /* Renew at 2.1 s. */
        lease_next(a, 2100000, WALL0 + 2100000, &act);
        is_int(act.request, LEASE_REQUEST_UPDATE, "renew: update");
        is_str(act.method, "PUT", "  method PUT");
        json_t *j = json_loads(act.body, 0, NULL);
        is_str(
            json_string_value(json_object_get(json_object_get(j, "metadata"), "resourceVersion")),
            "1", "  carries the resourceVersion seen");
        json_decref(j);
        st = server_do(&s, &act, &body);
        is_int(st, 200, "  server took it");
        lease_action_done(&act);
        lease_handle_response(a, 2200000, st, body, strlen(body));
        free(body);
        is_str(server_str(&s, "acquireTime"), "2026-12-02T15:04:05.000000Z", "  acquireTime kept");
        is_str(server_str(&s, "renewTime"), lease_microtime_format(WALL0 + 2100000, buf),
               "  renewTime now");
        is_int(server_int(&s, "leaseTransitions"), 0, "  no transition");
        ok(lease_is_leader(a, 2100000 + 10 * S - 1), "leader until RenewDeadline after the send");
        ok(!lease_is_leader(a, 2100000 + 10 * S), "  and not a microsecond longer");

        /* Driven by ticks for a minute: it keeps renewing. */
        uint64_t t = 2200000;
        unsigned puts = s.n_put;
        bool always = true;
        while (t < 62 * S) {
                t = tick(a, &s, t, false);
                always = always && lease_is_leader(a, t);
        }
        ok(always, "leader throughout a minute of renewals");
        ok(s.n_put - puts >= 28 && s.n_put - puts <= 31, "one renewal per RetryPeriod (%u)",
           s.n_put - puts);
        is_str(server_holder(&s), "a", "still the holder");
        lease_free(a);
        json_decref(s.obj);
}

/* B meets A's lease: respects it while A renews, takes it once A falls silent. */
static void test_other_holder(void)
{
        Server s = {};
        Lease *a = elector("a"), *b = elector("b");
        uint64_t ta = 0, tb = 1 * S, t = 0, a_last_write = 0;
        bool b_wrote = false;

        /* A's record says it renewed in 2001: our clock, not its timestamps, counts. */
        while (t < 40 * S) {
                if (ta <= tb) {
                        t = ta;
                        unsigned puts = s.n_put + s.n_post;
                        ta = tick(a, &s, t, false);
                        if (s.n_put + s.n_post != puts)
                                a_last_write = t;
                } else {
                        t = tb;
                        tb = tick(b, &s, t, false);
                        b_wrote = b_wrote || lease_get_state(b) != LEASE_STATE_STANDBY;
                }
        }
        ok(lease_is_leader(a, t), "A leads");
        is_int(lease_get_state(b), LEASE_STATE_STANDBY, "B stands by");
        ok(!b_wrote && !lease_is_leader(b, t), "B never tried to take a fresh lease");
        is_str(lease_get_holder(b), "a", "B sees A as the holder");
        ok(a_last_write > 35 * S, "A kept renewing");

        /* A stops (crashed: no release). */
        uint64_t stop = t;
        while (lease_get_state(b) != LEASE_STATE_LEADER && t < stop + 60 * S) {
                t = tb;
                tb = tick(b, &s, t, false);
        }
        is_int(lease_get_state(b), LEASE_STATE_LEADER, "B took the expired lease");
        /* B saw A's last write at most one poll (<= 4.4 s) after it was made. */
        ok(t >= a_last_write + 15 * S && t <= a_last_write + 15 * S + 5 * S,
           "  LeaseDuration after A's last renewal (%.1f s after)", (double)(t - a_last_write) / S);
        is_str(server_holder(&s), "b", "  holder b");
        is_int(server_int(&s, "leaseTransitions"), 1, "  leaseTransitions + 1");
        char buf[LEASE_TIME_MAX];
        is_str(server_str(&s, "acquireTime"), lease_microtime_format(WALL0 + t, buf),
               "  acquireTime: now");

        /* A comes back: its next renewal conflicts, it re-reads and stands by. */
        ok(!lease_is_leader(a, t), "A's leadership ran out long ago");
        ta = tick(a, &s, t, false);
        is_int(lease_get_state(a), LEASE_STATE_STANDBY, "A returns as standby");
        is_str(lease_get_holder(a), "b", "  seeing b");
        is_str(server_holder(&s), "b", "  and did not overwrite b");
        lease_free(a);
        lease_free(b);
        json_decref(s.obj);
}

/* A is cut off from the API: it must stop leading before B could take over. */
static void test_renew_deadline(void)
{
        Server s = {};
        Lease *a = elector("a"), *b = elector("b");
        uint64_t ta = 0, tb = 500000, t = 0, a_ok_sent = 0, a_dropped = 0, b_took = 0;
        bool cut = false, a_was = false;
        unsigned writes = 0;

        while (t < 60 * S && !b_took) {
                if (ta <= tb) {
                        t = ta;
                        ta = tick(a, &s, t, cut);
                        if (!cut && s.n_put + s.n_post != writes)
                                a_ok_sent = t;
                        writes = s.n_put + s.n_post;
                        if (a_was && !lease_is_leader(a, t) && !a_dropped)
                                a_dropped = t;
                        a_was = lease_is_leader(a, t);
                } else {
                        t = tb;
                        tb = tick(b, &s, t, false);
                        if (lease_is_leader(b, t))
                                b_took = t;
                }
                if (!cut && t >= 20 * S)
                        cut = true;
        }
        ok(a_ok_sent > 15 * S && a_ok_sent <= 20 * S, "A's last good renewal before the cut");
        is_int(a_dropped, a_ok_sent + 10 * S, "A stops leading RenewDeadline after it");
        is_int(lease_get_state(a), LEASE_STATE_STANDBY, "  and stands by");
        ok(!lease_is_leader(a, a_dropped), "  is_leader false from then on");
        ok(b_took >= a_ok_sent + 15 * S, "B takes over no earlier than LeaseDuration after it");
        ok(a_dropped < b_took, "A stopped before B started (%.1f s gap)",
           (double)(b_took - a_dropped) / S);
        lease_free(a);
        lease_free(b);
        json_decref(s.obj);
}

static void test_deadline_in_flight(void)
{
        Server s = {};
        Lease *a = elector("a");
        LeaseAction act;
        char *body = NULL;

        tick(a, &s, 0, false); /* GET, POST: leader */
        is_int(lease_get_state(a), LEASE_STATE_LEADER, "leader");
        lease_next(a, 2 * S, WALL0 + 2 * S, &act);
        is_int(act.request, LEASE_REQUEST_UPDATE, "renew handed out");
        is_int(act.at_usec, 10 * S, "  call again at the end of leadership if no answer");
        long st = server_do(&s, &act, &body);
        lease_action_done(&act);
        lease_next(a, 10 * S, WALL0 + 10 * S, &act);
        is_int(act.request, LEASE_REQUEST_NONE, "deadline with the renewal still in flight");
        ok(!lease_is_leader(a, 10 * S) && lease_get_state(a) == LEASE_STATE_STANDBY,
           "  leadership ends anyway");
        lease_handle_response(a, 11 * S, st, body, strlen(body));
        free(body);
        ok(lease_is_leader(a, 11 * S),
           "the late answer of a renewal sent at 2 s counts until 12 s");
        ok(!lease_is_leader(a, 12 * S), "  not beyond");

        /* An answer later than RenewDeadline after its send does not make us leader. */
        tick(a, &s, 12 * S, false);
        ok(lease_is_leader(a, 12 * S), "renewed at 12 s");
        lease_next(a, 14 * S, WALL0 + 14 * S, &act);
        st = server_do(&s, &act, &body);
        lease_action_done(&act);
        lease_handle_response(a, 24 * S + 1, st, body, strlen(body));
        free(body);
        ok(!lease_is_leader(a, 24 * S + 1), "an answer 10 s after its send: not leader");
        lease_next(a, 24 * S + 1, WALL0 + 24 * S, &act);
        is_int(act.request, LEASE_REQUEST_UPDATE, "  renews again at once (still the holder)");
        lease_action_done(&act);
        lease_free(a);
        json_decref(s.obj);
}

static void test_conflict(void)
{
        Server s = {};
        Lease *a = elector("a"), *b = elector("b");
        LeaseAction la, lb;
        char *body = NULL;

        /* Both see no Lease; A's create lands first. */
        lease_next(a, 0, WALL0, &la);
        lease_next(b, 0, WALL0, &lb);
        lease_handle_response(a, 0, server_do(&s, &la, &body), NULL, 0);
        lease_handle_response(b, 0, server_do(&s, &lb, &body), NULL, 0);
        lease_action_done(&la);
        lease_action_done(&lb);
        lease_next(a, 0, WALL0, &la);
        lease_next(b, 0, WALL0, &lb);
        ok(la.request == LEASE_REQUEST_CREATE && lb.request == LEASE_REQUEST_CREATE,
           "both want to create");
        long sa = server_do(&s, &la, &body);
        lease_handle_response(a, 1000, sa, body, strlen(body));
        free(body);
        long sb = server_do(&s, &lb, &body);
        is_int(sb, 409, "B's create: AlreadyExists");
        lease_handle_response(b, 1000, sb, body, 0);
        lease_action_done(&la);
        lease_action_done(&lb);
        is_int(lease_get_state(b), LEASE_STATE_STANDBY, "B lost the race");
        lease_next(b, 1000, WALL0, &lb);
        is_int(lb.request, LEASE_REQUEST_GET, "  and re-reads at once");
        lease_action_done(&lb);
        ok(lease_is_leader(a, 1000), "A leads");

        /* Someone edits the Lease (a label): A's renewal conflicts, it re-reads and renews. */
        server_touch(&s);
        unsigned gets = s.n_get;
        tick(a, &s, 3 * S, false);
        is_int(s.n_get, gets + 1, "A's renewal conflicted and A re-read the Lease");
        ok(lease_is_leader(a, 3 * S) && strcmp(server_holder(&s), "a") == 0,
           "  still leader, renewed with the new resourceVersion");
        ok(lease_is_leader(a, 3 * S + 10 * S - 1), "  RenewDeadline counts from that renewal");

        /* A write of ours conflicting because another holder took over: standby. */
        json_object_set_new(json_object_get(s.obj, "spec"), "holderIdentity", json_string("c"));
        json_object_set_new(json_object_get(s.obj, "spec"), "renewTime",
                            json_string("2026-12-02T15:04:20.000000Z"));
        server_touch(&s);
        tick(a, &s, 6 * S, false);
        is_int(lease_get_state(a), LEASE_STATE_STANDBY, "conflict, then c's fresh record: standby");
        ok(!lease_is_leader(a, 6 * S), "  not leader at once, though its own deadline is later");
        is_str(server_holder(&s), "c", "  c's record untouched");
        lease_free(a);
        lease_free(b);
        json_decref(s.obj);
}

static void test_release(void)
{
        Server s = {};
        Lease *a = elector("a"), *b = elector("b");
        LeaseAction act;
        char *body = NULL;

        tick(a, &s, 0, false);
        tick(a, &s, 2 * S, false);
        tick(b, &s, 3 * S, false);
        is_int(lease_get_state(b), LEASE_STATE_STANDBY, "B stands by");
        is_int(lease_release(a, 3 * S), LEASE_RELEASE_PENDING, "release: requests follow");
        is_int(lease_get_state(a), LEASE_STATE_RELEASING, "  releasing");
        ok(!lease_is_leader(a, 3 * S), "  no longer leader");
        server_touch(&s); /* the first release attempt will conflict */
        lease_next(a, 3 * S, WALL0 + 3 * S, &act);
        is_int(act.request, LEASE_REQUEST_UPDATE, "  an update");
        long st = server_do(&s, &act, &body);
        is_int(st, 409, "  which conflicts");
        lease_handle_response(a, 3 * S, st, NULL, 0);
        lease_action_done(&act);
        lease_next(a, 3 * S, WALL0 + 3 * S, &act);
        is_int(act.request, LEASE_REQUEST_GET, "  re-read");
        st = server_do(&s, &act, &body);
        lease_handle_response(a, 3 * S, st, body, strlen(body));
        free(body);
        lease_action_done(&act);
        lease_next(a, 3 * S, WALL0 + 3 * S, &act);
        is_int(act.request, LEASE_REQUEST_UPDATE, "  still ours: release again");
        st = server_do(&s, &act, &body);
        is_int(st, 200, "  accepted");
        lease_handle_response(a, 3 * S, st, body, strlen(body));
        free(body);
        lease_action_done(&act);
        is_str(server_holder(&s), "", "released: holderIdentity \"\"");
        is_int(server_int(&s, "leaseDurationSeconds"), 1, "  leaseDurationSeconds 1");
        is_int(server_int(&s, "leaseTransitions"), 0, "  transitions unchanged");
        is_int(lease_get_state(a), LEASE_STATE_STOPPED, "  stopped");
        lease_next(a, 4 * S, WALL0 + 4 * S, &act);
        ok(act.request == LEASE_REQUEST_NONE && act.at_usec == UINT64_MAX, "  nothing more");
        is_int(lease_release(a, 4 * S), LEASE_RELEASE_DONE, "  release again: done");

        /* B takes the released lease on its next poll, without waiting LeaseDuration. */
        uint64_t t = 3 * S, tb = tick(b, &s, t, false);
        while (!lease_is_leader(b, tb) && tb < 10 * S)
                tb = tick(b, &s, tb, false);
        ok(lease_is_leader(b, tb) && tb < 8 * S, "B takes it at its next poll");
        is_int(server_int(&s, "leaseTransitions"), 1, "  transitions + 1");
        is_int(server_int(&s, "leaseDurationSeconds"), 15, "  its own duration");

        is_int(lease_release(b, tb), LEASE_RELEASE_PENDING, "B releases");
        lease_next(b, tb, WALL0 + tb, &act);
        lease_handle_response(b, tb, 0, NULL, 0);
        lease_action_done(&act);
        lease_next(b, tb, WALL0 + tb, &act);
        ok(act.request == LEASE_REQUEST_NONE && act.at_usec == tb + 2 * S,
           "  failure: retry after RetryPeriod");
        lease_next(b, tb + 10 * S, WALL0 + tb, &act);
        is_int(lease_get_state(b), LEASE_STATE_STOPPED, "  gives up after RenewDeadline");

        Lease *c = elector("c");
        tick(c, &s, 20 * S, false);
        is_int(lease_release(c, 20 * S), LEASE_RELEASE_DONE, "a standby has nothing to release");
        is_int(lease_get_state(c), LEASE_STATE_STOPPED, "  stopped");
        lease_free(a);
        lease_free(b);
        lease_free(c);
        json_decref(s.obj);
}

/* A bridge that lost its mlbd released the Lease; with mlbd back it stands again. */
static void test_resume(void)
{
        Server s = {};
        Lease *a = elector("a"), *b = elector("b");
        LeaseAction act;

        is_int(lease_resume(a, 0), 0, "resume: not stopped, nothing to do");
        tick(a, &s, 0, false);
        ok(lease_is_leader(a, 0), "A leads");
        is_int(lease_release(a, 1 * S), LEASE_RELEASE_PENDING, "A releases (its mlbd is gone)");
        lease_next(a, 1 * S, WALL0 + 1 * S, &act);
        is_int(lease_resume(a, 1 * S), 0,
               "  resume while releasing: 0, the release finishes first");
        char *body = NULL;
        long st = server_do(&s, &act, &body);
        lease_handle_response(a, 1 * S, st, body, body ? strlen(body) : 0);
        free(body);
        lease_action_done(&act);
        is_int(lease_get_state(a), LEASE_STATE_STOPPED, "  released, stopped");
        uint64_t tb = tick(b, &s, 2 * S, false);
        ok(lease_is_leader(b, 2 * S), "B takes the released Lease at once");

        is_int(lease_resume(a, 3 * S), 1, "A resumes (mlbd back)");
        is_int(lease_get_state(a), LEASE_STATE_INIT, "  from init");
        lease_next(a, 3 * S, WALL0 + 3 * S, &act);
        is_int(act.request, LEASE_REQUEST_GET, "  with a GET");
        lease_action_done(&act);
        lease_handle_response(a, 3 * S, 0, NULL, 0);
        tick(a, &s, 5 * S, false);
        is_int(lease_get_state(a), LEASE_STATE_STANDBY, "  B holds it: A stands by");
        ok(!lease_is_leader(a, 5 * S), "  never two leaders");
        (void)tb;

        /* B stops renewing: A takes it after LeaseDuration, as any candidate. */
        uint64_t t = 5 * S;
        while (!lease_is_leader(a, t) && t < 40 * S)
                t = tick(a, &s, t, false);
        ok(lease_is_leader(a, t) && t >= 2 * S + 15 * S, "A leads again after B's lease expired");
        lease_free(a);
        lease_free(b);
        json_decref(s.obj);
}

static void test_errors(void)
{
        Server s = {};
        Lease *a = elector("a");
        LeaseAction act;

        lease_next(a, 0, WALL0, &act);
        lease_action_done(&act);
        is_int(lease_handle_response(a, 0, 500, "{}", 2), 0, "a 500 on GET");
        is_int(lease_get_state(a), LEASE_STATE_STANDBY, "  standby");
        lease_next(a, 0, WALL0, &act);
        ok(act.request == LEASE_REQUEST_NONE && act.at_usec >= 2 * S &&
               act.at_usec < 2 * S + 2400000,
           "  retry after RetryPeriod x [1, 2.2) (%.2f s)", (double)act.at_usec / S);
        lease_next(a, act.at_usec, WALL0, &act);
        is_int(act.request, LEASE_REQUEST_GET, "  then GET again");
        lease_action_done(&act);
        const char *junk =
            "{\"metadata\":{\"resourceVersion\":\"5\"},\"spec\":{\"renewTime\":\"yesterday\"}}";
        lease_handle_response(a, 3 * S, 200, junk, strlen(junk));
        lease_next(a, 3 * S, WALL0, &act);
        ok(act.request == LEASE_REQUEST_NONE && lease_get_holder(a) == NULL,
           "a Lease with a bad time is a failed GET, not a free lease");
        is_int(lease_handle_response(a, 3 * S, 200, "{}", 2), -EALREADY,
               "an answer with nothing pending: -EALREADY");

        json_t *j = json_loads("{\"metadata\":{\"resourceVersion\":\"7\"},\"spec\":"
                               "{\"holderIdentity\":\"x\",\"leaseDurationSeconds\":30,"
                               "\"acquireTime\":\"2026-12-02T15:04:05.123456Z\",\"renewTime\":null,"
                               "\"leaseTransitions\":4}}",
                               0, NULL);
        LeaseRecord r = {};
        char *ver = NULL;
        is_int(lease_record_from_json(j, &r, &ver), 0, "record from JSON");
        ok(strcmp(r.holder, "x") == 0 && r.duration_sec == 30 && r.transitions == 4 &&
               r.acquire_usec == WALL0 + 123456 && r.renew_usec == 0 && strcmp(ver, "7") == 0,
           "  fields, null renewTime as absent");
        lease_record_done(&r);
        free(ver);
        json_decref(j);
        const char *bads[] = {
            "[]",
            "{\"spec\":[]}",
            "{\"spec\":{\"holderIdentity\":5}}",
            "{\"spec\":{\"leaseDurationSeconds\":\"15\"}}",
            "{\"spec\":{\"leaseTransitions\":1.5}}",
            "{\"spec\":{\"acquireTime\":7}}",
            "{\"metadata\":{\"resourceVersion\":7}}",
            "{\"metadata\":\"x\"}",
        };
        size_t refused = 0;
        for (size_t i = 0; i < ELEMENTSOF(bads); i++) {
                j = json_loads(bads[i], JSON_DECODE_ANY, NULL);
                if (lease_record_from_json(j, &r, &ver) == -EBADMSG)
                        refused++;
                else
                        printf("#   accepted %s\n", bads[i]);
                json_decref(j);
        }
        is_int(refused, ELEMENTSOF(bads), "%zu ill-typed Leases refused", ELEMENTSOF(bads));
        j = json_loads("{\"spec\":{\"holderIdentity\":\"\"}}", 0, NULL);
        ok(lease_record_from_json(j, &r, NULL) == 0 && r.holder == NULL,
           "holderIdentity \"\" is no holder");
        json_decref(j);
        is_str(lease_state_to_string(LEASE_STATE_LEADER), "leader", "state names");
        ok(lease_state_to_string(_LEASE_STATE_MAX) == NULL, "  none out of range");
        lease_free(a);
        json_decref(s.obj);
}

int main(void)
{
        log_max_level = LOG_WARNING;
        test_time();
        test_config();
        test_acquire_renew();
        test_other_holder();
        test_renew_deadline();
        test_deadline_in_flight();
        test_conflict();
        test_release();
        test_resume();
        test_errors();
        return tap_done();
}
