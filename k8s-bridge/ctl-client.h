/* SPDX-License-Identifier: MIT */
/*
 * ctl-client: mlbd-bridge's connection to the local mlbd control socket
 * (docs/protocol.md), on sd-event, without threads, over a non-blocking Unix stream
 * socket.
 *
 * Life of a connection (states in ctl_client_state_to_string(), every change logged):
 *   waiting -> connecting -> hello -> ready -> (closed) -> waiting -> ...
 * The client connects from the event loop (never inside ctl_client_new()), says hello
 * (version 1, client "mlbd-bridge", the node, subscribe true), and when mlbd answers it
 * calls `connected`. That callback must send everything the owner knows: one
 * ctl_client_sync() with its whole cache, then ctl_client_leader(true) if it holds the
 * Lease (mlbd ties the leader flag to the connection, so a new connection starts as
 * non-leader). When the socket is missing or refuses (mlbd not running), or when an open
 * connection closes or fails, the client waits and tries again: 100 ms doubling to 5 s,
 * each wait drawn at random between half and all of it, reset to 100 ms by a successful
 * hello. `disconnected` is called when a connection that had been `connected` ends.
 *
 * Requests made while the client is not ready (before the hello reply, or between
 * connections) are dropped, and the call returns CTL_CLIENT_DROPPED: mlbd will receive
 * the whole state anyway from the full sync the next `connected` triggers, which
 * supersedes them. Requests on a ready connection are queued and written as the socket
 * takes them; the loop never blocks. The queue holds at most CTL_CLIENT_QUEUE_MAX bytes
 * beyond the last full sync: past that, mlbd is not keeping up, and the client closes the
 * connection and reconnects (which costs a full resync, and loses nothing).
 *
 * Replies are matched to their requests by id. An error reply is logged with its code
 * and detail, naming the request (e.g. "upsert Service demo/web"); the owner is not told,
 * since nothing it could do on this connection would help (the next full sync re-sends
 * everything). Notifications (allocated, allocation_failed, node_assigned, released) are
 * passed to `notification` with their op and the whole message; unknown ops are ignored,
 * as the protocol requires.
 *
 * A full sync is split into parts (protocol §5, "Large clusters"): each line at most
 * CTL_CLIENT_LINE_SAFE bytes, well under mlbd's 1 MiB, every part but the last with
 * "more": true and every part but the first with "continue": true. An object that alone
 * does not fit in such a line is logged (kind, namespace/name, size) and skipped; so is
 * an array element that is not a JSON object. ctl_client_upsert() refuses such an object
 * the same way (-E2BIG).
 *
 * Callbacks may call any function of this client except ctl_client_free().
 *
 * Error rule (util/macro.h): 0 or a positive CtlClientResult on success, -errno on
 * failure. A failure to queue on a ready connection (-ENOMEM, -ENOBUFS from the queue
 * bound) has already reset the connection, so a reconnect and a full sync follow.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "model.h"
#include "util/macro.h"

/* Bytes of one line the client writes, '\n' excluded: a safe bound under CTL_LINE_MAX. */
#define CTL_CLIENT_LINE_SAFE (768u * 1024)
/* Bytes queued for writing beyond the last full sync before the connection is reset. */
#define CTL_CLIENT_QUEUE_MAX (64u * 1024 * 1024)
#define CTL_CLIENT_BACKOFF_MIN_USEC (100 * 1000ULL)
#define CTL_CLIENT_BACKOFF_MAX_USEC (5 * 1000 * 1000ULL)

typedef enum CtlClientResult {
        CTL_CLIENT_QUEUED = 0,  /* on its way to mlbd */
        CTL_CLIENT_DROPPED = 1, /* not ready: dropped; the next sync supersedes it */
} CtlClientResult;

typedef enum CtlClientState {
        CTL_CLIENT_WAITING,    /* no connection; the reconnect timer runs */
        CTL_CLIENT_CONNECTING, /* connect() in progress */
        CTL_CLIENT_HELLO,      /* hello sent, its reply awaited */
        CTL_CLIENT_READY,      /* hello answered: requests are sent */
        _CTL_CLIENT_STATE_MAX,
        _CTL_CLIENT_STATE_INVALID = -EINVAL,
} CtlClientState;

const char *ctl_client_state_to_string(CtlClientState s);

typedef struct CtlClient CtlClient;

typedef struct CtlClientCallbacks {
        /* hello answered: send the full sync now, and leader true if the Lease is held. */
        void (*connected)(CtlClient *c, void *userdata);
        /* op is "allocated", "allocation_failed", "node_assigned" or "released"; msg is
         * the whole message, borrowed for the call (json_incref() to keep it). */
        void (*notification)(CtlClient *c, const char *op, json_t *msg, void *userdata);
        /* a connection that had been `connected` ended; a reconnect is scheduled. */
        void (*disconnected)(CtlClient *c, void *userdata);
} CtlClientCallbacks;

/* Starts connecting to socket_path from the event loop. node is the node this bridge
 * serves (sent in hello). cb (copied) may have NULL members. */
int ctl_client_new(CtlClient **ret, sd_event *e, const char *socket_path, const char *node,
                   const CtlClientCallbacks *cb, void *userdata);
CtlClient *ctl_client_free(CtlClient *c);
DEFINE_FREEP(CtlClient, ctl_client_free);

/* Connected and hello done: requests will be sent. */
bool ctl_client_is_ready(const CtlClient *c);
CtlClientState ctl_client_get_state(const CtlClient *c);

/*
 * One full sync of the four arrays (each an array of objects in their Kubernetes JSON
 * shape; NULL counts as empty), in as many parts as needed. The arrays are only read
 * during the call.
 */
int ctl_client_sync(CtlClient *c, const json_t *services, const json_t *endpointslices,
                    const json_t *nodes, const json_t *namespaces);
/*
 * The same from texts, without a JSON array of the whole cache: source is called once
 * per kind, in the order Services, EndpointSlices, Nodes, Namespaces, and calls emit once
 * per object of that kind with its compact JSON text (an object, as mlbd takes it; only
 * read during the call). It returns 0, or a negative value (emit's, passed on) that
 * stops the sync. The parts are built and queued as ctl_client_sync() does.
 */
typedef int (*CtlSyncEmitFn)(void *ctx, const char *json, size_t len);
typedef int (*CtlSyncSourceFn)(ObjKind kind, CtlSyncEmitFn emit, void *ctx, void *userdata);
int ctl_client_sync_each(CtlClient *c, CtlSyncSourceFn source, void *userdata);
/* One object added or changed (borrowed). -E2BIG if it alone exceeds the line bound. */
int ctl_client_upsert(CtlClient *c, ObjKind kind, const json_t *object);
/* One object removed; namespace NULL for Nodes and Namespaces, uid NULL for any. */
int ctl_client_delete(CtlClient *c, ObjKind kind, const char *namespace, const char *name,
                      const char *uid);
int ctl_client_leader(CtlClient *c, bool leader);
