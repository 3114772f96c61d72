/* SPDX-License-Identifier: MIT */
/*
 * mlbd's /metrics: the Prometheus text format (0.0.4) rendered from the manager's state
 * and the counters (metrics-counters.h) on each scrape, served by common/http-server.c on
 * [metrics] listen from the daemon's own loop. Every series is listed in docs/metrics.md.
 */
#pragma once

typedef struct Manager Manager;

/* Starts the server on [metrics] listen (nothing when it is empty). A bind failure is an
 * error naming the address (logged). */
int metrics_server_start(Manager *m);
/* The whole exposition, malloc'd. 0 or -ENOMEM. */
int metrics_render(Manager *m, char **ret);
