/* SPDX-License-Identifier: MIT */
/*
 * fair-defer.h: a deferred job that re-arms itself from its own callback (a client with
 * more pipelined lines, a reconcile forced again) must let a timer that is due run. With
 * a plain sd-event defer source it does not: the defer source keeps the iteration it first
 * became pending in and sorts before the timer every time (shown here too, so that the
 * test prints what the libsystemd it runs against does).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "fair-defer.h"
#include "tap.h"

#define SPIN_USEC 100000 /* the job re-arms itself for 100 ms; the timer is due at 1 ms */

typedef struct {
        unsigned spins, spins_at_timer;
        bool timer_fired;
        uint64_t until;
        sd_event *e;
} Run;

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int spin(sd_event_source *s, void *userdata)
{
        Run *r = userdata;

        if (r->timer_fired || (++r->spins, now_usec() >= r->until))
                return sd_event_exit(r->e, 0);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int spin_fair(sd_event_source *s, void *userdata)
{
        Run *r = userdata;

        if (r->timer_fired || (++r->spins, now_usec() >= r->until))
                return sd_event_exit(r->e, 0);
        return fair_defer_arm(s);
}

static int timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Run *r = userdata;

        r->timer_fired = true;
        r->spins_at_timer = r->spins;
        return 0;
}

/* A re-arming job and a timer due 1 ms after the start; returns the run's figures. */
static Run race(bool fair)
{
        Run r = {0};
        sd_event_source *job = NULL, *t = NULL;
        uint64_t now;

        if (sd_event_new(&r.e) < 0)
                abort();
        now = now_usec();
        r.until = now + SPIN_USEC;
        if (fair) {
                if (fair_defer_new(r.e, &job, spin_fair, &r) < 0 || fair_defer_arm(job) < 0)
                        abort();
        } else if (sd_event_add_defer(r.e, &job, spin, &r) < 0)
                abort();
        if (sd_event_add_time(r.e, &t, CLOCK_MONOTONIC, now + 1000, 1, timer, &r) < 0)
                abort();
        (void)sd_event_loop(r.e);
        sd_event_source_disable_unref(job);
        sd_event_source_disable_unref(t);
        sd_event_unref(r.e);
        return r;
}

int main(void)
{
        Run plain = race(false), fair = race(true);
        char buf[160];

        /* what this libsystemd does with a plain defer source: said, not asserted (a
         * libsystemd that queues it fairly would make fair-defer.h redundant, not wrong) */
        snprintf(buf, sizeof(buf),
                 "plain defer source re-armed for 100 ms: %u re-arms, the timer due after "
                 "1 ms %s",
                 plain.spins,
                 plain.timer_fired ? "ran" : "never ran (the reason for fair-defer.h)");
        diag_note(buf);
        ok(fair.timer_fired, "a fair defer re-armed from its callback lets the timer run");
        snprintf(buf, sizeof(buf), "fair defer: the timer ran after %u re-arms",
                 fair.spins_at_timer);
        diag_note(buf);

        /* arming twice is one run; disarming stops it */
        sd_event *e;
        sd_event_source *s;
        Run r = {0};
        if (sd_event_new(&e) < 0)
                abort();
        r.e = e;
        r.timer_fired = true; /* spin_fair exits the loop at its first run */
        is_int(fair_defer_new(e, &s, spin_fair, &r), 0, "fair_defer_new");
        ok(!fair_defer_armed(s), "a new fair defer is not armed");
        is_int(fair_defer_arm(s), 0, "arm");
        (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
        ok(!fair_defer_armed(s), "SD_EVENT_OFF disarms it");
        is_int(fair_defer_arm(s), 0, "arm");
        is_int(fair_defer_arm(s), 0, "arm again");
        ok(fair_defer_armed(s), "armed");
        is_int(sd_event_loop(e), 0, "the loop ran it and exited");
        ok(!fair_defer_armed(s), "after its run it is not armed");
        is_int(fair_defer_arm(NULL), -EINVAL, "arming NULL is -EINVAL");
        sd_event_source_disable_unref(s);
        sd_event_unref(e);
        return tap_done();
}
