/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket (mode 0660, group socket_group) carrying
 * newline-delimited messages. This module is transport only: it accepts clients, splits
 * their input into lines (at most max_line bytes each), hands every complete line to the
 * owner's callback and queues replies. Message meaning lives in control-proto.c.
 *
 * Invariants: a client that sends a line over the limit gets one error line and is
 * dropped; a client whose unread output exceeds CONTROL_OUTQ_MAX is dropped; a client
 * that disconnects mid-line is dropped and its partial line discarded. None of this
 * affects other clients or the daemon: each client gets at most CONTROL_LINES_PER_WAKEUP
 * lines per wakeup (its socket is not read while complete lines wait), at most
 * CONTROL_CLIENTS_MAX clients are connected, and accept() out of resources pauses the
 * listening socket instead of spinning.
 */
#pragma once

#include <systemd/sd-event.h>
#include <sys/types.h>

#include "util/macro.h"

#define CONTROL_OUTQ_MAX (8u * 1024 * 1024)
/* Lines handed to the owner per client per loop wakeup: the rest of a pipelined batch
 * waits for the next wakeup, after whatever else became pending meanwhile. */
#define CONTROL_LINES_PER_WAKEUP 32
/* Connections at most; the next one gets one error line and is closed. */
#define CONTROL_CLIENTS_MAX 128
/* accept() failing for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): the listening
 * socket is not watched for this long, instead of the loop spinning on it. */
#define CONTROL_ACCEPT_PAUSE_USEC (250 * 1000)

/* A line callback's result: the line was handled, or it is to be handed over again on the
 * next wakeup (the rest of the batch waits with it). */
enum {
        CONTROL_LINE_DONE = 0,
        CONTROL_LINE_AGAIN = 1,
};

typedef struct ControlServer ControlServer;
typedef struct ControlClient ControlClient;

typedef struct ControlCallbacks {
        /* One complete line, without its newline (may contain anything but '\n');
         * returns CONTROL_LINE_DONE or CONTROL_LINE_AGAIN. */
        int (*line)(ControlClient *c, const char *line, size_t len, void *userdata);
        /* The text sent before dropping a client whose line exceeded max_line. */
        char *(*overflow_reply)(ControlClient *c, size_t max_line, void *userdata);
        /* The text sent before closing a connection over CONTROL_CLIENTS_MAX. */
        char *(*full_reply)(size_t max_clients, void *userdata);
        /* Called before a client is freed (disconnect, error or drop). */
        void (*gone)(ControlClient *c, void *userdata);
} ControlCallbacks;

/* Creates the socket at path (replacing a stale one), chmod 0660, chown to group (if
 * group is non-NULL and exists; a missing group is logged and leaves root's group). */
int control_server_new(ControlServer **ret, sd_event *e, const char *path, const char *group,
                       size_t max_line, const ControlCallbacks *cb, void *userdata);
ControlServer *control_server_free(ControlServer *s);
DEFINE_FREEP(ControlServer, control_server_free)

/* Queues text plus a newline; drops the client if its queue would exceed the limit.
 * Returns 0, or -ECONNRESET if the client was dropped (c is then gone). */
int control_client_send(ControlClient *c, const char *text);
/* Sends to every client for which the filter returns true (NULL: all). */
void control_server_broadcast(ControlServer *s, const char *text,
                              bool (*filter)(ControlClient *c, void *userdata));
size_t control_server_n_clients(const ControlServer *s);

/* Per-client data for the owner (e.g. protocol state after the handshake). */
void control_client_set_data(ControlClient *c, void *data);
void *control_client_get_data(const ControlClient *c);
uid_t control_client_uid(const ControlClient *c);
/* Whether the peer's primary or a supplementary group (SO_PEERCRED, SO_PEERGROUPS at
 * connect time) is gid. */
bool control_client_in_group(const ControlClient *c, gid_t gid);
pid_t control_client_pid(const ControlClient *c);
unsigned control_client_id(const ControlClient *c);
