/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Deferred work that waits its turn. sd-event runs one source per loop iteration, the
 * pending source of the lowest priority value first and, within one priority, the one
 * that became pending in the earliest iteration. A defer source (sd_event_add_defer)
 * becomes pending once, when it is first enabled, and stays pending for good: disabling
 * and enabling it again keeps its first iteration (systemd 252, source_set_pending()
 * returns early). So a defer source that is re-armed over and over (a client's next
 * lines, a reconcile forced again by each change) sorts before every timer and socket
 * that became pending after it was created, and starves them: 1,000 Services and a client
 * pipelining changes and queries held heartbeats for over 400 ms
 * (tests/integration/daemon-clients.sh). A timer at a time in the past is pending anew
 * each time it fires, so it queues behind whatever was pending before it was armed.
 *
 * fair_defer_new() makes such a source, disabled; fair_defer_arm() arms it once
 * (SD_EVENT_ONESHOT), fair_defer_armed() tells whether it is armed, and
 * sd_event_source_set_enabled(s, SD_EVENT_OFF) disarms it.
 */
#include <stdbool.h>
#include <systemd/sd-event.h>

int fair_defer_new(sd_event *e, sd_event_source **ret, sd_event_handler_t callback, void *userdata);
int fair_defer_arm(sd_event_source *s);
bool fair_defer_armed(sd_event_source *s);
