/* SPDX-License-Identifier: MIT */
/*
 * Leader election on a coordination.k8s.io/v1 Lease; the rules and the two clocks are in
 * lease.h. One request at a time: `plan` says what to send next and when, `pending` what
 * was handed out and not answered yet. Every decision that follows a GET is in
 * lease_decide(), every outcome of a write in lease_on_write().
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lease.h"
#include "util/log.h"

#define LEASE_API_PREFIX "/apis/coordination.k8s.io/v1/namespaces/"
/* client-go's NewLeaderElector: renewDeadline must exceed JitterFactor * retryPeriod. */
#define LEASE_JITTER_FACTOR_TENTHS 12

struct Lease {
        char *namespace, *name, *identity;
        char last_failure[64]; /* said at warning once; repeats at debug */
        LeaseConfig cfg;       /* its strings point at the copies above */
        char *path_collection, *path_object;
        LeaseState state;
        uint64_t rng;

        LeaseRequest pending; /* handed out, not answered */
        uint64_t pending_sent;
        LeaseRecord pending_record; /* what a pending create/update writes */

        LeaseRequest plan; /* what to send next, and when */
        uint64_t plan_at;

        json_t *object; /* the Lease as the server last returned it; NULL: none or unknown */
        LeaseRecord observed;
        bool have_observed;
        uint64_t observed_mono; /* when we saw `observed` change: client-go's observedTime */

        uint64_t leader_until;  /* LEADER only: leadership ends here */
        uint64_t release_until; /* RELEASING only: give up here */
};

static const char *const lease_state_table[_LEASE_STATE_MAX] = {
    [LEASE_STATE_INIT] = "init",           [LEASE_STATE_STANDBY] = "standby",
    [LEASE_STATE_ACQUIRING] = "acquiring", [LEASE_STATE_LEADER] = "leader",
    [LEASE_STATE_RELEASING] = "releasing", [LEASE_STATE_STOPPED] = "stopped",
};

const char *lease_state_to_string(LeaseState s)
{
        return s >= 0 && s < _LEASE_STATE_MAX ? lease_state_table[s] : NULL;
}

static const char *const lease_request_table[_LEASE_REQUEST_MAX] = {
    [LEASE_REQUEST_NONE] = "none",
    [LEASE_REQUEST_GET] = "get",
    [LEASE_REQUEST_CREATE] = "create",
    [LEASE_REQUEST_UPDATE] = "update",
};

const char *lease_request_to_string(LeaseRequest r)
{
        return r >= 0 && r < _LEASE_REQUEST_MAX ? lease_request_table[r] : NULL;
}

/* ---- time ---- */

static bool is_leap(long y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(long y, int m)
{
        static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 0). */
static int64_t days_since_epoch(long y, int m, int d)
{
        int64_t days = 0;

        /* Whole years first, by 400-year cycles of 146097 days. */
        long cycles = (y - 1970) / 400;
        long yy = 1970 + cycles * 400;
        days += (int64_t)cycles * 146097;
        while (yy < y) {
                days += is_leap(yy) ? 366 : 365;
                yy++;
        }
        while (yy > y) {
                yy--;
                days -= is_leap(yy) ? 366 : 365;
        }
        for (int i = 1; i < m; i++)
                days += days_in_month(y, i);
        return days + d - 1;
}

/* The largest instant we format: 9999-12-31T23:59:59.999999Z. */
#define LEASE_TIME_LAST_USEC (253402300800ULL * LEASE_USEC_PER_SEC - 1)

static char *format_time(uint64_t usec, bool micro, char buf[static LEASE_TIME_MAX])
{
        struct tm tm;
        time_t t;

        usec = MIN(usec, LEASE_TIME_LAST_USEC);
        t = (time_t)(usec / LEASE_USEC_PER_SEC);
        if (!gmtime_r(&t, &tm))
                tm = (struct tm){.tm_mday = 1, .tm_year = 70};
        /* strftime: the year is at most 9999 (clamped above), so this fits */
        size_t n = strftime(buf, LEASE_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
        if (micro)
                snprintf(buf + n, LEASE_TIME_MAX - n, ".%06uZ",
                         (unsigned)(usec % LEASE_USEC_PER_SEC));
        else
                snprintf(buf + n, LEASE_TIME_MAX - n, "Z");
        return buf;
}

char *lease_microtime_format(uint64_t wall_usec, char buf[static LEASE_TIME_MAX])
{
        return format_time(wall_usec, true, buf);
}

char *lease_time_format(uint64_t wall_usec, char buf[static LEASE_TIME_MAX])
{
        return format_time(wall_usec, false, buf);
}

/* Exactly n digits at *p, advancing it. */
static bool parse_digits(const char **p, int n, long *ret)
{
        long v = 0;

        for (int i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool parse_char(const char **p, char c)
{
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

int lease_time_parse(const char *s, uint64_t *ret_usec)
{
        long y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0;
        const char *p = s;
        int sign = 0;

        if (!s)
                return -EINVAL;
        if (!parse_digits(&p, 4, &y) || !parse_char(&p, '-') || !parse_digits(&p, 2, &mo) ||
            !parse_char(&p, '-') || !parse_digits(&p, 2, &d) || !parse_char(&p, 'T') ||
            !parse_digits(&p, 2, &h) || !parse_char(&p, ':') || !parse_digits(&p, 2, &mi) ||
            !parse_char(&p, ':') || !parse_digits(&p, 2, &sec))
                return -EINVAL;
        if (parse_char(&p, '.')) {
                int n = 0;
                for (; *p >= '0' && *p <= '9'; p++, n++) {
                        if (n >= 9)
                                return -EINVAL;
                        if (n < 6)
                                frac = frac * 10 + (*p - '0');
                }
                if (n == 0)
                        return -EINVAL;
                for (; n < 6; n++)
                        frac *= 10;
        }
        if (parse_char(&p, '+'))
                sign = -1; /* east of UTC: subtract to get UTC */
        else if (parse_char(&p, '-'))
                sign = 1;
        else if (!parse_char(&p, 'Z'))
                return -EINVAL;
        if (sign != 0 && (!parse_digits(&p, 2, &oh) || !parse_char(&p, ':') ||
                          !parse_digits(&p, 2, &om) || oh > 23 || om > 59))
                return -EINVAL;
        if (*p != '\0')
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (int)mo) || h > 23 || mi > 59 ||
            sec > 59)
                return -EINVAL;

        int64_t t = days_since_epoch(y, (int)mo, (int)d) * 86400 + h * 3600 + mi * 60 + sec;
        t += sign * (oh * 3600 + om * 60);
        if (t < 0)
                return -ERANGE;
        *ret_usec = (uint64_t)t * LEASE_USEC_PER_SEC + (uint64_t)frac;
        return 0;
}

/* ---- configuration ---- */

void lease_config_default(LeaseConfig *c)
{
        c->lease_duration_usec = LEASE_DURATION_USEC_DEFAULT;
        c->renew_deadline_usec = LEASE_RENEW_DEADLINE_USEC_DEFAULT;
        c->retry_period_usec = LEASE_RETRY_PERIOD_USEC_DEFAULT;
        c->jitter_percent = LEASE_JITTER_PERCENT_DEFAULT;
}

/* RFC 1123 subdomain, as Kubernetes names namespaces (labels) and Leases. */
static bool dns_subdomain_valid(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                if (alnum)
                        continue;
                if ((c != '-' && c != '.') || i == 0 || i == n - 1)
                        return false;
        }
        return true;
}

int lease_config_validate(const LeaseConfig *c)
{
        if (!dns_subdomain_valid(c->namespace) || !dns_subdomain_valid(c->name) || !c->identity ||
            !*c->identity)
                return -EINVAL;
        if (c->retry_period_usec == 0 || c->renew_deadline_usec == 0 ||
            c->lease_duration_usec < LEASE_USEC_PER_SEC ||
            c->lease_duration_usec % LEASE_USEC_PER_SEC != 0 ||
            c->lease_duration_usec / LEASE_USEC_PER_SEC > INT32_MAX)
                return -EINVAL;
        if (c->lease_duration_usec <= c->renew_deadline_usec)
                return -EINVAL;
        if (c->retry_period_usec > UINT64_MAX / 100 ||
            c->renew_deadline_usec / LEASE_JITTER_FACTOR_TENTHS * 10 <= c->retry_period_usec)
                return -EINVAL;
        if (c->jitter_percent > 1000)
                return -EINVAL;
        return 0;
}

int lease_identity_new(char **ret, const char *node, uint64_t unique)
{
        char *s;

        if (!node || !*node)
                return -EINVAL;
        if (asprintf(&s, "%s_%016" PRIx64, node, unique) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- records ---- */

void lease_record_done(LeaseRecord *r)
{
        r->holder = mfree(r->holder);
}

static bool streq_ptr(const char *a, const char *b)
{
        return a && b ? strcmp(a, b) == 0 : a == b;
}

static bool record_equal(const LeaseRecord *a, const LeaseRecord *b)
{
        return streq_ptr(a->holder, b->holder) && a->duration_sec == b->duration_sec &&
               a->transitions == b->transitions && a->acquire_usec == b->acquire_usec &&
               a->renew_usec == b->renew_usec;
}

static int json_get_int(const json_t *o, const char *key, int64_t *ret)
{
        const json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_integer(v))
                return -EBADMSG;
        *ret = json_integer_value(v);
        return 0;
}

static int json_get_time(const json_t *o, const char *key, uint64_t *ret)
{
        const json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_string(v) || lease_time_parse(json_string_value(v), ret) < 0)
                return -EBADMSG;
        return 0;
}

int lease_record_from_json(const json_t *lease, LeaseRecord *ret, char **ret_version)
{
        _cleanup_free_ char *version = NULL;
        LeaseRecord r = {};
        const json_t *spec, *v;
        int k;

        if (!json_is_object(lease))
                return -EBADMSG;
        if (ret_version) {
                const json_t *meta = json_object_get(lease, "metadata");
                if (meta && !json_is_object(meta))
                        return -EBADMSG;
                v = json_object_get(meta, "resourceVersion");
                if (v && !json_is_string(v))
                        return -EBADMSG;
                if (v && !(version = strdup(json_string_value(v))))
                        return -ENOMEM;
        }
        spec = json_object_get(lease, "spec");
        if (spec && !json_is_null(spec)) {
                if (!json_is_object(spec))
                        return -EBADMSG;
                v = json_object_get(spec, "holderIdentity");
                if (v && !json_is_null(v) && !json_is_string(v))
                        return -EBADMSG;
                if (json_is_string(v) && json_string_length(v) > 0) {
                        /* An embedded NUL would make the identity compare wrongly. */
                        if (strlen(json_string_value(v)) != json_string_length(v))
                                return -EBADMSG;
                        if (!(r.holder = strdup(json_string_value(v))))
                                return -ENOMEM;
                }
                k = json_get_int(spec, "leaseDurationSeconds", &r.duration_sec);
                if (k >= 0)
                        k = json_get_int(spec, "leaseTransitions", &r.transitions);
                if (k >= 0)
                        k = json_get_time(spec, "acquireTime", &r.acquire_usec);
                if (k >= 0)
                        k = json_get_time(spec, "renewTime", &r.renew_usec);
                if (k < 0) {
                        lease_record_done(&r);
                        return k;
                }
        }
        *ret = r;
        if (ret_version)
                *ret_version = TAKE_PTR(version);
        return 0;
}

/* The spec fields we own, set into spec (other fields, e.g. strategy, are kept). */
static int record_to_spec(const LeaseRecord *r, json_t *spec)
{
        char a[LEASE_TIME_MAX], b[LEASE_TIME_MAX];

        if (json_object_set_new(spec, "holderIdentity", json_string(r->holder ? r->holder : "")) <
                0 ||
            json_object_set_new(spec, "leaseDurationSeconds", json_integer(r->duration_sec)) < 0 ||
            json_object_set_new(spec, "acquireTime",
                                json_string(lease_microtime_format(r->acquire_usec, a))) < 0 ||
            json_object_set_new(spec, "renewTime",
                                json_string(lease_microtime_format(r->renew_usec, b))) < 0 ||
            json_object_set_new(spec, "leaseTransitions", json_integer(r->transitions)) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- the machine ---- */

/* Fills a zeroed Lease; on failure the caller frees what was set. */
static int lease_init(Lease *l, const LeaseConfig *cfg)
{
        l->cfg = *cfg;
        l->namespace = strdup(cfg->namespace);
        l->name = strdup(cfg->name);
        l->identity = strdup(cfg->identity);
        if (!l->namespace || !l->name || !l->identity)
                return -ENOMEM;
        l->cfg.namespace = l->namespace;
        l->cfg.name = l->name;
        l->cfg.identity = l->identity;
        if (asprintf(&l->path_collection, LEASE_API_PREFIX "%s/leases", l->namespace) < 0) {
                l->path_collection = NULL;
                return -ENOMEM;
        }
        if (asprintf(&l->path_object, "%s/%s", l->path_collection, l->name) < 0) {
                l->path_object = NULL;
                return -ENOMEM;
        }
        l->rng = cfg->seed;
        l->state = LEASE_STATE_INIT;
        l->plan = LEASE_REQUEST_GET;
        l->plan_at = 0;
        return 0;
}

int lease_new(Lease **ret, const LeaseConfig *cfg)
{
        Lease *l;
        int r;

        r = lease_config_validate(cfg);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        r = lease_init(l, cfg);
        if (r < 0) {
                lease_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

Lease *lease_free(Lease *l)
{
        if (!l)
                return NULL;
        free(l->namespace);
        free(l->name);
        free(l->identity);
        free(l->path_collection);
        free(l->path_object);
        lease_record_done(&l->pending_record);
        lease_record_done(&l->observed);
        json_decref(l->object);
        return mfree(l);
}

void lease_action_done(LeaseAction *a)
{
        a->path = mfree(a->path);
        a->body = mfree(a->body);
}

LeaseState lease_get_state(const Lease *l)
{
        return l->state;
}

bool lease_is_leader(const Lease *l, uint64_t mono_usec)
{
        return l->state == LEASE_STATE_LEADER && mono_usec < l->leader_until;
}

const char *lease_get_holder(const Lease *l)
{
        return l->have_observed ? l->observed.holder : NULL;
}

const char *lease_get_identity(const Lease *l)
{
        return l->identity;
}

static void lease_set_state(Lease *l, LeaseState s, const char *why)
{
        if (l->state == s)
                return;
        log_info("lease %s/%s: %s -> %s (%s)", l->namespace, l->name,
                 lease_state_to_string(l->state), lease_state_to_string(s), why);
        l->state = s;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* splitmix64: the jitter only needs to spread candidates, not to be secret. */
static uint64_t lease_random(Lease *l)
{
        uint64_t z = (l->rng += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* client-go's wait.JitterUntil: period + random [0, factor * period). */
static uint64_t lease_jittered_retry(Lease *l)
{
        uint64_t extra = l->cfg.retry_period_usec * l->cfg.jitter_percent / 100;
        return l->cfg.retry_period_usec + (extra ? lease_random(l) % extra : 0);
}

static void lease_plan(Lease *l, LeaseRequest req, uint64_t at)
{
        l->plan = req;
        l->plan_at = at;
}

static bool lease_holder_is_us(const Lease *l)
{
        return l->have_observed && streq_ptr(l->observed.holder, l->identity);
}

/* Takes rec. A record that differs from the last one restarts the holder's term on OUR
 * clock; the timestamps inside it are not used. */
static void lease_observe(Lease *l, LeaseRecord *rec, uint64_t mono)
{
        if (l->have_observed && record_equal(&l->observed, rec)) {
                lease_record_done(rec);
                return;
        }
        if (!l->have_observed || !streq_ptr(l->observed.holder, rec->holder))
                log_info("lease %s/%s: holder is %s", l->namespace, l->name,
                         rec->holder ? rec->holder : "(none)");
        lease_record_done(&l->observed);
        l->observed = *rec;
        *rec = (LeaseRecord){};
        l->have_observed = true;
        l->observed_mono = mono;
}

static void lease_forget(Lease *l)
{
        lease_record_done(&l->observed);
        l->have_observed = false;
        json_decref(l->object);
        l->object = NULL;
}

static bool lease_expired(const Lease *l, uint64_t mono)
{
        uint64_t d;

        if (l->observed.duration_sec <= 0)
                return true;
        d = (uint64_t)l->observed.duration_sec;
        d = d > UINT64_MAX / LEASE_USEC_PER_SEC ? UINT64_MAX : d * LEASE_USEC_PER_SEC;
        return add_sat(l->observed_mono, d) <= mono;
}

static void lease_check_deadline(Lease *l, uint64_t mono)
{
        if (l->state != LEASE_STATE_LEADER || mono < l->leader_until)
                return;
        log_warning("lease %s/%s: not renewed within %" PRIu64 " ms, stopping to lead",
                    l->namespace, l->name, l->cfg.renew_deadline_usec / 1000);
        lease_set_state(l, LEASE_STATE_STANDBY, "renew deadline passed");
        if (l->pending == LEASE_REQUEST_NONE)
                lease_plan(l, LEASE_REQUEST_GET, mono);
}

/* After a failure: try again after retry_period (jittered unless we hold the lease). */
static void lease_retry_later(Lease *l, uint64_t mono, LeaseRequest req)
{
        bool holding = l->state == LEASE_STATE_LEADER || l->state == LEASE_STATE_RELEASING;

        if (l->state == LEASE_STATE_ACQUIRING || l->state == LEASE_STATE_INIT)
                lease_set_state(l, LEASE_STATE_STANDBY, "request failed");
        lease_plan(l, req,
                   add_sat(mono, holding ? l->cfg.retry_period_usec : lease_jittered_retry(l)));
}

/* client-go's tryAcquireOrRenew, after the GET. */
static void lease_decide(Lease *l, uint64_t mono)
{
        const char *holder = l->observed.holder;

        if (l->state == LEASE_STATE_RELEASING) {
                if (lease_holder_is_us(l))
                        lease_plan(l, LEASE_REQUEST_UPDATE, mono);
                else
                        lease_set_state(l, LEASE_STATE_STOPPED,
                                        "not the holder, nothing to release");
                return;
        }
        if (lease_holder_is_us(l) || !holder) {
                lease_plan(l, LEASE_REQUEST_UPDATE, mono);
                return;
        }
        if (lease_expired(l, mono)) {
                log_info("lease %s/%s: %s did not renew for %" PRId64 " s", l->namespace, l->name,
                         holder, l->observed.duration_sec);
                lease_plan(l, LEASE_REQUEST_UPDATE, mono);
                return;
        }
        lease_set_state(l, LEASE_STATE_STANDBY, "held by another");
        lease_plan(l, LEASE_REQUEST_GET, add_sat(mono, lease_jittered_retry(l)));
}

/* The record a create or an update writes now. */
static void lease_record_to_write(const Lease *l, uint64_t wall, LeaseRecord *ret)
{
        int64_t transitions = l->have_observed ? l->observed.transitions : 0;

        *ret = (LeaseRecord){
            .holder = (char *)l->identity,
            .duration_sec = (int64_t)(l->cfg.lease_duration_usec / LEASE_USEC_PER_SEC),
            .acquire_usec = wall,
            .renew_usec = wall,
            .transitions = transitions,
        };
        if (l->state == LEASE_STATE_RELEASING) {
                /* client-go's tryRelease: no holder, 1 s, transitions unchanged. */
                ret->holder = NULL;
                ret->duration_sec = 1;
        } else if (lease_holder_is_us(l)) {
                if (l->observed.acquire_usec > 0)
                        ret->acquire_usec = l->observed.acquire_usec;
        } else if (l->have_observed) {
                ret->transitions = transitions < INT32_MAX ? transitions + 1 : INT32_MAX;
        }
}

static int lease_build_body(Lease *l, LeaseRequest req, uint64_t wall, char **ret)
{
        _cleanup_(json_decrefp) json_t *obj = NULL;
        json_t *spec, *meta;
        LeaseRecord rec;
        char *s;

        lease_record_to_write(l, wall, &rec);
        if (req == LEASE_REQUEST_UPDATE) {
                obj = json_deep_copy(l->object);
                spec = obj ? json_object_get(obj, "spec") : NULL;
                if (obj && !json_is_object(spec)) {
                        spec = json_object();
                        if (json_object_set_new(obj, "spec", spec) < 0)
                                return -ENOMEM;
                }
        } else {
                obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "apiVersion",
                                "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
                                l->name, "namespace", l->namespace, "spec");
                spec = obj ? json_object_get(obj, "spec") : NULL;
        }
        if (!obj || !spec)
                return -ENOMEM;
        meta = json_object_get(obj, "metadata");
        /* The server fills these in; sending them back is noise. */
        if (json_is_object(meta))
                (void)json_object_del(meta, "managedFields");
        if (json_object_set_new(obj, "apiVersion", json_string("coordination.k8s.io/v1")) < 0 ||
            json_object_set_new(obj, "kind", json_string("Lease")) < 0 ||
            record_to_spec(&rec, spec) < 0)
                return -ENOMEM;
        s = json_dumps(obj, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        lease_record_done(&l->pending_record);
        l->pending_record = rec;
        if (rec.holder && !(l->pending_record.holder = strdup(rec.holder))) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

int lease_next(Lease *l, uint64_t mono_usec, uint64_t wall_usec, LeaseAction *ret)
{
        LeaseRequest req;
        int r;

        *ret = (LeaseAction){.request = LEASE_REQUEST_NONE, .at_usec = UINT64_MAX};
        lease_check_deadline(l, mono_usec);
        if (l->pending != LEASE_REQUEST_NONE) {
                if (l->state == LEASE_STATE_LEADER)
                        ret->at_usec = l->leader_until;
                return 0;
        }
        if (l->state == LEASE_STATE_RELEASING && mono_usec >= l->release_until) {
                log_warning("lease %s/%s: could not release it within %" PRIu64 " ms", l->namespace,
                            l->name, l->cfg.renew_deadline_usec / 1000);
                lease_set_state(l, LEASE_STATE_STOPPED, "release timed out");
        }
        if (l->state == LEASE_STATE_STOPPED)
                return 0;
        if (mono_usec < l->plan_at) {
                ret->at_usec = l->plan_at;
                if (l->state == LEASE_STATE_LEADER)
                        ret->at_usec = MIN(ret->at_usec, l->leader_until);
                else if (l->state == LEASE_STATE_RELEASING)
                        ret->at_usec = MIN(ret->at_usec, l->release_until);
                return 0;
        }

        req = l->plan;
        if (req == LEASE_REQUEST_UPDATE && !l->object)
                req = LEASE_REQUEST_GET; /* nothing to carry the resourceVersion */
        if (req == LEASE_REQUEST_UPDATE && l->state == LEASE_STATE_RELEASING &&
            !lease_holder_is_us(l)) {
                lease_set_state(l, LEASE_STATE_STOPPED, "not the holder, nothing to release");
                return 0;
        }
        if (req == LEASE_REQUEST_CREATE || req == LEASE_REQUEST_UPDATE) {
                r = lease_build_body(l, req, wall_usec, &ret->body);
                if (r < 0)
                        return r;
        }
        ret->path = strdup(req == LEASE_REQUEST_CREATE ? l->path_collection : l->path_object);
        if (!ret->path) {
                lease_action_done(ret);
                return -ENOMEM;
        }
        ret->request = req;
        ret->method = req == LEASE_REQUEST_GET      ? "GET"
                      : req == LEASE_REQUEST_CREATE ? "POST"
                                                    : "PUT";
        if (req != LEASE_REQUEST_GET && l->state != LEASE_STATE_LEADER &&
            l->state != LEASE_STATE_RELEASING)
                lease_set_state(l, LEASE_STATE_ACQUIRING,
                                req == LEASE_REQUEST_CREATE ? "no lease, creating it"
                                : lease_holder_is_us(l)     ? "ours, renewing it"
                                : l->observed.holder        ? "expired, taking it"
                                                            : "free, taking it");
        l->pending = req;
        l->pending_sent = mono_usec;
        if (l->state == LEASE_STATE_LEADER)
                ret->at_usec = l->leader_until;
        return 0;
}

/* A 2xx body: the Lease with its resourceVersion (which the next update needs). */
static int lease_parse_object(const char *body, size_t size, json_t **ret_obj, LeaseRecord *ret)
{
        _cleanup_(json_decrefp) json_t *obj = NULL;
        _cleanup_free_ char *version = NULL;
        int r;

        if (!body)
                return -EBADMSG;
        obj = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
        if (!obj)
                return -EBADMSG;
        r = lease_record_from_json(obj, ret, &version);
        if (r < 0)
                return r;
        if (!version || !*version) {
                lease_record_done(ret);
                return -EBADMSG;
        }
        *ret_obj = TAKE_PTR(obj);
        return 0;
}

static const char *status_text(long status, char buf[static 32])
{
        if (status <= 0)
                return "no answer";
        snprintf(buf, 32, "HTTP %ld", status);
        return buf;
}

/* A failed request: a warning when it differs from the last one, else debug (a bridge
 * that cannot reach the API retries every retry period). */
static void lease_failed(Lease *l, const char *what, long status)
{
        char buf[32], text[64];

        snprintf(text, sizeof(text), "%s failed: %s", what, status_text(status, buf));
        if (strcmp(text, l->last_failure) == 0)
                log_debug("lease %s/%s: %s", l->namespace, l->name, text);
        else
                log_warning("lease %s/%s: %s", l->namespace, l->name, text);
        snprintf(l->last_failure, sizeof(l->last_failure), "%s", text);
}

static int lease_on_get(Lease *l, uint64_t mono, long status, const char *body, size_t size)
{
        json_t *obj = NULL;
        LeaseRecord rec;
        int r;

        if (status == 404) {
                lease_forget(l);
                if (l->state == LEASE_STATE_RELEASING)
                        lease_set_state(l, LEASE_STATE_STOPPED, "no lease, nothing to release");
                else
                        lease_plan(l, LEASE_REQUEST_CREATE, mono);
                return 0;
        }
        if (status != 200) {
                lease_failed(l, "GET", status);
                lease_retry_later(l, mono, LEASE_REQUEST_GET);
                return 0;
        }
        r = lease_parse_object(body, size, &obj, &rec);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning_errno(r, "lease %s/%s: unreadable Lease: %m", l->namespace, l->name);
                lease_retry_later(l, mono, LEASE_REQUEST_GET);
                return 0;
        }
        l->last_failure[0] = 0;
        json_decref(l->object);
        l->object = obj;
        lease_observe(l, &rec, mono);
        lease_decide(l, mono);
        return 0;
}

/* A create or update of ours reached the server. */
static void lease_won(Lease *l, uint64_t sent, uint64_t mono)
{
        uint64_t until = add_sat(sent, l->cfg.renew_deadline_usec);

        if (l->state == LEASE_STATE_RELEASING) {
                if (!lease_holder_is_us(l))
                        lease_set_state(l, LEASE_STATE_STOPPED, "released");
                else
                        lease_plan(l, LEASE_REQUEST_UPDATE, mono); /* won after release: undo */
                return;
        }
        if (until <= mono) {
                /* The write counts, but too late to lead on: write again first. */
                lease_set_state(l, LEASE_STATE_STANDBY, "write answered after the renew deadline");
                lease_plan(l, LEASE_REQUEST_UPDATE, mono);
                return;
        }
        l->leader_until = until;
        lease_set_state(l, LEASE_STATE_LEADER, "acquired");
        lease_plan(l, LEASE_REQUEST_UPDATE, add_sat(mono, l->cfg.retry_period_usec));
}

static int lease_on_write(Lease *l, LeaseRequest req, LeaseRecord *written, uint64_t sent,
                          uint64_t mono, long status, const char *body, size_t size)
{
        json_t *obj = NULL;
        LeaseRecord rec;
        int r;

        if (status == 200 || status == 201) {
                l->last_failure[0] = 0;
                r = lease_parse_object(body, size, &obj, &rec);
                if (r == -ENOMEM)
                        return r;
                json_decref(l->object);
                l->object = r < 0 ? NULL : obj; /* without it, the next request is a GET */
                lease_observe(l, r < 0 ? written : &rec, mono);
                lease_won(l, sent, mono);
                return 0;
        }
        if (status == 409) {
                log_info(
                    "lease %s/%s: %s conflicted, another writer won the race; reading it again",
                    l->namespace, l->name, lease_request_to_string(req));
                if (l->state == LEASE_STATE_ACQUIRING)
                        lease_set_state(l, LEASE_STATE_STANDBY, "lost the race");
                lease_plan(l, LEASE_REQUEST_GET, mono);
                return 0;
        }
        lease_failed(l, lease_request_to_string(req), status);
        if (req == LEASE_REQUEST_UPDATE &&
            (l->state == LEASE_STATE_LEADER || l->state == LEASE_STATE_RELEASING))
                lease_retry_later(l, mono, LEASE_REQUEST_UPDATE);
        else
                lease_retry_later(l, mono, LEASE_REQUEST_GET);
        return 0;
}

int lease_handle_response(Lease *l, uint64_t mono_usec, long status, const char *body, size_t size)
{
        LeaseRecord written = l->pending_record;
        LeaseRequest req = l->pending;
        int r = 0;

        if (req == LEASE_REQUEST_NONE)
                return -EALREADY;
        l->pending = LEASE_REQUEST_NONE;
        l->pending_record = (LeaseRecord){};
        if (l->state != LEASE_STATE_STOPPED) {
                if (req == LEASE_REQUEST_GET)
                        r = lease_on_get(l, mono_usec, status, body, size);
                else
                        r = lease_on_write(l, req, &written, l->pending_sent, mono_usec, status,
                                           body, size);
                lease_check_deadline(l, mono_usec);
        }
        lease_record_done(&written);
        return r;
}

int lease_release(Lease *l, uint64_t mono_usec)
{
        bool may_hold;

        if (l->state == LEASE_STATE_STOPPED)
                return LEASE_RELEASE_DONE;
        if (l->state == LEASE_STATE_RELEASING)
                return LEASE_RELEASE_PENDING;
        /* A pending acquire may yet succeed: its answer decides. */
        may_hold = l->state == LEASE_STATE_LEADER || l->state == LEASE_STATE_ACQUIRING ||
                   lease_holder_is_us(l);
        if (!may_hold) {
                lease_set_state(l, LEASE_STATE_STOPPED, "release asked, not the holder");
                return LEASE_RELEASE_DONE;
        }
        l->release_until = add_sat(mono_usec, l->cfg.renew_deadline_usec);
        lease_set_state(l, LEASE_STATE_RELEASING, "release asked");
        if (l->pending == LEASE_REQUEST_NONE)
                lease_plan(l, LEASE_REQUEST_UPDATE, mono_usec);
        return LEASE_RELEASE_PENDING;
}

int lease_resume(Lease *l, uint64_t mono_usec)
{
        if (l->state != LEASE_STATE_STOPPED)
                return 0;
        if (l->pending != LEASE_REQUEST_NONE)
                return -EBUSY;
        lease_set_state(l, LEASE_STATE_INIT, "a candidate again");
        lease_plan(l, LEASE_REQUEST_GET, mono_usec);
        return 1;
}
