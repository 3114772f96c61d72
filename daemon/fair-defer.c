/* SPDX-License-Identifier: MIT */
/* Deferred work as an elapsed one-shot timer; see fair-defer.h. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "fair-defer.h"

typedef struct {
        sd_event_handler_t callback;
        void *userdata;
} FairDefer;

static int fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        FairDefer *d = userdata;
        (void)usec;
        return d->callback(s, d->userdata);
}

int fair_defer_new(sd_event *e, sd_event_source **ret, sd_event_handler_t callback, void *userdata)
{
        FairDefer *d = malloc(sizeof(*d));
        sd_event_source *s = NULL;
        int r;

        if (!d)
                return -ENOMEM;
        *d = (FairDefer){callback, userdata};
        /* 1 µs of CLOCK_MONOTONIC: always in the past, so it fires in the next iteration */
        r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, 1, 1, fired, d);
        if (r < 0) {
                free(d);
                return r;
        }
        r = sd_event_source_set_destroy_callback(s, free);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r < 0) {
                sd_event_source_unref(s);
                return r;
        }
        *ret = s;
        return 0;
}

int fair_defer_arm(sd_event_source *s)
{
        if (!s)
                return -EINVAL;
        if (fair_defer_armed(s))
                return 0;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

bool fair_defer_armed(sd_event_source *s)
{
        int enabled = SD_EVENT_OFF;

        return s && sd_event_source_get_enabled(s, &enabled) >= 0 && enabled != SD_EVENT_OFF;
}
