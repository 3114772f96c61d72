/* SPDX-License-Identifier: MIT */
/*
 * The manager owns the event loop and wires the modules together. Data flows one way:
 * inputs (config files, control socket, kernel events) update the model; one reconcile
 * step (deferred, coalesced) derives the allocations and the desired set of addresses;
 * the announcer makes the kernel and the LAN match it.
 */
#pragma once

#include "util/macro.h"

typedef struct Manager Manager;

int manager_new(Manager **ret, const char *conf_path);
Manager *manager_free(Manager *m);
DEFINE_FREEP(Manager, manager_free)
/* Runs until SIGTERM/SIGINT; returns 0 or -errno. */
int manager_run(Manager *m);
