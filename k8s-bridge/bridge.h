/* SPDX-License-Identifier: MIT */
/*
 * bridge: mlbd-bridge's wiring. Data flows one way:
 *   API server -> informers (list + watch, one per kind) -> ctl-client -> local mlbd
 *   mlbd's notifications -> status.c (only while this bridge holds the Lease) -> API server
 * After the first complete list of all four kinds, and after every re-list and every
 * (re)connection to mlbd, mlbd gets one full sync from the caches; in between, upserts
 * and deletes as the watches deliver them. The Lease loop (lease.c decides, this module
 * sends) tells mlbd `leader true/false`; becoming leader is followed by a full sync, after
 * which mlbd repeats `allocated` for every Service whose status lacks its addresses.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "kube.h"
#include "util/macro.h"

typedef struct BridgeConfig {
        const char *node;            /* this node's name */
        const char *socket;          /* mlbd's control socket */
        const char *lb_class;        /* --lb-class, or NULL */
        const char *lease_namespace; /* --lease-namespace */
        const char *lease_name;      /* the Lease object's name */
        uint64_t lease_duration_usec, renew_deadline_usec, retry_period_usec;
} BridgeConfig;

typedef struct Bridge Bridge;

int bridge_new(Bridge **ret, sd_event *e, Kube *kube, const BridgeConfig *cfg);
Bridge *bridge_free(Bridge *b);
DEFINE_FREEP(Bridge, bridge_free)

int bridge_start(Bridge *b);
/* SIGTERM: release the Lease (bounded), then exit the loop. */
void bridge_stop(Bridge *b);

/* /readyz: every informer has completed a LIST and the connection to mlbd is ready. */
bool bridge_is_ready(const Bridge *b);
/* The same as one line for /readyz: "ready", or why not, e.g. "not ready: Service, Node not
 * listed yet; not connected to mlbd at /run/mlbd/mlbd.sock". *ret is a new string; returns
 * bridge_is_ready() (1 or 0) or -ENOMEM. */
int bridge_readiness(const Bridge *b, char **ret);
/* /metrics: what the bridge counts, in the Prometheus text format 0.0.4 (# HELP and # TYPE
 * lines, one family each): mlbd_bridge_build_info{version}, mlbd_bridge_leader,
 * mlbd_bridge_mlbd_connected, mlbd_bridge_informer_lists_total{kind},
 * mlbd_bridge_informer_watches_total{kind}, mlbd_bridge_status_writes_total,
 * mlbd_bridge_status_conflicts_total. *ret is a new string; 0 or -ENOMEM. */
int bridge_metrics(const Bridge *b, char **ret);
