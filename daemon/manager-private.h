/* SPDX-License-Identifier: MIT */
/*
 * What the parts of the daemon share: the Manager and its per-Service and per-client
 * records. Only manager.c (lifecycle, configuration, state file, signals), reconcile.c
 * (model -> allocations -> desired addresses -> announcer) and requests.c (control
 * socket requests and replies) and metrics.c (/metrics) include it.
 */
#pragma once

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include "fair-defer.h"
#include "alloc.h"
#include "announcer.h"
#include "cluster.h"
#include "conf.h"
#include "control-proto.h"
#include "control.h"
#include "handover-rules.h"
#include "http-server.h"
#include "manager.h"
#include "model.h"
#include "netlink.h"
#include "ownership.h"
#include "pools.h"
#include "state.h"
#include "util/keymap.h"
#include "util/log.h"

typedef enum SvcState {
        SVC_PENDING,
        SVC_ALLOCATED,
        SVC_FAILED,
} SvcState;

extern const char *const svc_state_names[];

/* What the manager remembers per Service between reconciles. */
typedef struct SvcInfo {
        char *key, *uid;
        SvcState state;
        char *reason;      /* why pending/failed */
        bool notified;     /* "allocated" sent for the current addresses */
        bool seen;         /* marker during manager_reconcile */
        char *assigned[2]; /* owner last reported in node_assigned (leader only) */
        char *sharing_key; /* allow-shared-ip, as last resolved; NULL = none */
} SvcInfo;

/* An address this node holds but no longer owns: kept until the new owner holds it. */
typedef struct Handover {
        u128 addr;
        uint64_t since;  /* CLOCK_MONOTONIC µs: when the new owner was seen */
        uint64_t listed; /* when its heartbeat first listed the address (0: not yet) */
        /* draining (drain.c): ARP/NS for it no longer answered here since drain_started */
        bool hushed, drained, drain_said;
        uint64_t drain_started;
} Handover;

/* A peer that owns an address by rendezvous hashing but does not hold it (it cannot: a
 * refusal, no interface or no route for that family, a failed add): since when this node
 * has seen it so. Past STANDIN_GRACE the next node in rank stands in for it. */
typedef struct Unheld {
        u128 addr;
        char *node;
        uint64_t since;
        bool seen; /* marker during manager_reconcile */
} Unheld;

/* A set of addresses: addrs[0..n) in no particular order, and an open-addressing index
 * into them (slot = position + 1, 0 = empty) so that has/add/remove are O(1) on average.
 * A set filled directly (addrset_collect_cb) has no index and is searched linearly. */
typedef struct AddrSet {
        u128 *addrs;
        size_t n, cap;
        uint32_t *index;
        size_t n_index; /* a power of two, at least twice n; 0 = no index */
} AddrSet;

typedef struct Client {
        bool hello;
        bool subscribe;
        bool bridge;
        unsigned line_no; /* lines received, for error messages */
        Model *pending_sync;
} Client;

struct Manager {
        sd_event *event;
        char *conf_path;
        Conf *conf;
        PoolSet *pools;
        Allocator *alloc;
        Model *model;
        Netlink *nl;
        NlMonitor *monitor;
        Announcer *announcer;
        Cluster *cluster;
        ControlServer *control;
        HttpServer *metrics; /* [metrics] listen; NULL: off */
        sd_event_source *reconcile_source;
        sd_event_source *handover_timer, *stop_timer;
        HandoverRules *rules;         /* nftables rules of draining handovers */
        sd_event_source *drain_timer; /* polls the TCP connections of draining addresses */
        /* state.json is written (with fsync) from a deferred source, once for all the
         * changes of a loop iteration, and at most every STATE_SAVE_INTERVAL_USEC
         * (save_timer writes the one that had to wait) */
        sd_event_source *save_source, *save_timer;
        uint64_t last_save_usec; /* CLOCK_MONOTONIC; 0 = not yet */
        Handover *handovers;
        size_t n_handovers, cap_handovers;
        Unheld *unheld;
        size_t n_unheld, cap_unheld;
        bool *standin_live; /* scratch: the view's live flags less the owners not holding */
        size_t cap_standin_live;
        AddrSet contested; /* owned here and also claimed by a peer */
        AddrSet prevet;    /* the leader's pre-vetted addresses of the last reconcile */
        AddrSet claimed;   /* claimed by another MAC: defend unless a peer takes it over */
        sd_event_source *claim_timer;
        SvcInfo *svcs;
        size_t n_svcs, cap_svcs;
        KeyMap *svc_index; /* Service key -> index into svcs */
        State *restored;   /* state.json of the previous run, until the first full sync */
        bool leader;
        Client *leader_client; /* the connection that said leader on */
        bool reconciling;      /* inside manager_reconcile() */
        bool synced;
        size_t n_bridges; /* clients that said hello as mlbd-bridge */
        bool stopping;
        char *status_line;
        gid_t admin_gid; /* admin_group resolved, (gid_t)-1: none */
        /* loop iteration + 1 of the last reconcile a query forced, of the last reload over
         * the socket (requests.c: one of each per wakeup) */
        uint64_t forced_iteration, reload_iteration;
};

#define STATE_SAVE_INTERVAL_USEC (100 * 1000)

/* manager.c */
SvcInfo *svc_find(Manager *m, const char *key);
SvcInfo *svc_get(Manager *m, const char *key, const char *uid);
void svc_set(SvcInfo *s, SvcState state, const char *reason);
void svc_drop(Manager *m, size_t i);
void strv_free_n(char **v, size_t n);
/* ctl_* encoders end lines with '\n'; the transport adds its own. */
char *strip_newline(char *text);
/* Sends a notification (an encoder's output, freed here) to subscribed clients. */
void manager_notify(Manager *m, char *text);
void manager_schedule_reconcile(Manager *m);
void manager_update_status(Manager *m);
void manager_schedule_save(Manager *m);
void manager_save_state(Manager *m);
int manager_reload(Manager *m, char **reply, const json_t *id);
/* Graceful stop: lets go of each address as soon as a peer holds it (and it is drained). */
void manager_stop_progress(Manager *m);
uint64_t manager_now(Manager *m);

/* reconcile.c */
int manager_reconcile(sd_event_source *source, void *userdata);
void manager_flush_reconcile(Manager *m);
void manager_publish_owned(Manager *m);
/* Whether state.json of the previous run says this node held addr. */
bool restored_owned(Manager *m, u128 addr);
void manager_on_owned(u128 addr, const char *ifname, void *userdata);
void manager_on_refused(u128 addr, const uint8_t *mac, const char *reason, void *userdata);
/* A Service was upserted: an address of it that was refused or failed is tried again. */
void manager_service_changed(Manager *m, const char *key);
void manager_on_claimed(u128 addr, const uint8_t *mac, void *userdata);
int manager_on_claim_timer(sd_event_source *s, uint64_t usec, void *userdata);
bool handover_linger_done(Manager *m, u128 addr);
void handover_forget(Manager *m, u128 addr);
bool addrset_has(const AddrSet *d, u128 a);

/* drain.c */
/* After the linger: whether h is drained (starts the drain when it has not begun). */
bool drain_done(Manager *m, Handover *h);
int manager_on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata);
/* The handover of h is over or cancelled: ARP/NS for it are answered again. */
void drain_unhush(Manager *m, Handover *h);
/* This node takes addr: the connections of a live peer holding it are forwarded to it. */
void drain_forward_from_holder(Manager *m, u128 addr);
/* Ends the forwards whose old holder let go (or died) and those of addresses not held. */
void drain_prune_forwards(Manager *m);
int addrset_add(AddrSet *d, u128 a);
bool addrset_remove(AddrSet *d, u128 a);
/* Empties the set (keeps its memory); addrset_done() frees it. */
void addrset_clear(AddrSet *d);
void addrset_done(AddrSet *d);
/* announcer_foreach() callback: appends addr to the AddrSet userdata while it has room
 * (cap is the room). */
void addrset_collect_cb(u128 addr, const char *ifname, void *userdata);

/* requests.c */
int manager_on_line(ControlClient *c, const char *line, size_t len, void *userdata);
char *manager_on_overflow(ControlClient *c, size_t max_line, void *userdata);
char *manager_on_full(size_t max_clients, void *userdata);
void manager_on_gone(ControlClient *c, void *userdata);
