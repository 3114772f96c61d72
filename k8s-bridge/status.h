/* SPDX-License-Identifier: MIT */
/*
 * status: what the leader bridge writes back. mlbd's notifications become the addresses
 * each Service's status.loadBalancer.ingress should show (the wanted state, per
 * Service); a write is sent only when the cached Service differs from it, so a restart
 * (whose full sync makes mlbd repeat `node_assigned`, and `allocated` only where the status
 * lacks an address) writes no status. Writes are JSON merge patches of the status
 * subresource carrying the uid and resourceVersion last seen: a Service re-created under
 * the same name is never written (the uid is immutable: 422), and a stale version gets
 * 409 Conflict, after which the Service is read again and the write reconsidered. Events
 * (IPAllocated, nodeAssigned, AllocationFailed, ClearAssignment) go through events.c,
 * aggregated as client-go's recorder does. Nothing is written while not the leader; losing
 * the Lease cancels writes in flight.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "informer.h"
#include "kube.h"

typedef struct StatusWriter StatusWriter;

int status_writer_new(StatusWriter **ret, sd_event *e, Kube *kube, Informer *services,
                      const char *node);
StatusWriter *status_writer_free(StatusWriter *w);
DEFINE_FREEP(StatusWriter, status_writer_free)

void status_writer_set_leader(StatusWriter *w, bool leader);
/* A notification from mlbd (op "allocated", "allocation_failed", "node_assigned",
 * "released"; others are ignored). */
void status_writer_notification(StatusWriter *w, const char *op, const json_t *msg);
/* The watch delivered a new version of a Service (translated). */
void status_writer_service_changed(StatusWriter *w, const json_t *svc);
/* Status PATCHes sent, and those answered 409, for logs and tests. */
unsigned status_writer_writes(const StatusWriter *w);
unsigned status_writer_conflicts(const StatusWriter *w);
/* Events queued or in flight (0: every Event recorded so far was answered). */
unsigned status_writer_events_pending(const StatusWriter *w);
