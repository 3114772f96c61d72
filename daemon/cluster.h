/* SPDX-License-Identifier: MIT */
/*
 * The cluster as this node sees it: who the members are ([cluster] peers, or the
 * Kubernetes Nodes when that list is empty), which of them are alive (heartbeats, see
 * peers.h), what each holds, and this node's own incarnation and "leaving" flag. It hands
 * the manager an OwnerView (ownership.h) whose first entry is this node.
 *
 * The incarnation is max(wall clock in µs, the last one + 1), kept in
 * state_dir/incarnation, so that a restarted node is always newer to its peers even if
 * its clock stepped back.
 *
 * Settling: a node that just started does not know yet who is alive. Until dead_after_ms
 * (plus one interval) has passed, or every member has been heard, cluster_settled() is
 * false and the manager takes no address it did not hold before. With `peers =` empty the
 * members come from the Nodes, so that wait starts only when the first full sync brought
 * them (cluster_members_known()); a lone node names itself in `peers =`.
 */
#pragma once

#include <systemd/sd-event.h>

#include "conf.h"
#include "model.h"
#include "ownership.h"
#include "peers.h"

typedef struct Cluster Cluster;

/* Loads the key (a missing or bad key file is an error, logged with the reason). */
int cluster_new(Cluster **ret, sd_event *e, const Conf *conf, void (*changed)(void *userdata),
                void *userdata);
Cluster *cluster_free(Cluster *c);
DEFINE_FREEP(Cluster, cluster_free)

/* After a reload: new timings and members (the key: cluster_set_key()). */
int cluster_reconfigure(Cluster *c, const Conf *conf);
/* Heartbeats are signed and checked with key from now on; true if it changed. */
bool cluster_set_key(Cluster *c, const uint8_t key[static HB_KEY_SIZE]);
/* With `peers =` empty, the members are the Nodes of the model, each at its first
 * InternalIP of a family the heartbeat socket can reach; a Node without one is left out,
 * with a warning (once while that lasts). */
void cluster_update_members(Cluster *c, const Model *model);

/* The first full sync has been applied: the Node-derived members are known and settling
 * starts (at once with `peers =`). */
void cluster_members_known(Cluster *c);
bool cluster_waiting_for_members(const Cluster *c);

/* The nodes for ownership; entry 0 is this node. Valid until the next cluster call. */
const OwnerView *cluster_view(Cluster *c);
bool cluster_settled(const Cluster *c);
/* Whether live node `index` of the view (not 0) says in its heartbeats that it holds addr. */
bool cluster_node_holds(const Cluster *c, size_t index, u128 addr);
/* Whether any live peer other than this node says it holds addr. */
bool cluster_peer_holds(const Cluster *c, u128 addr);
/* The peer whose last heartbeat says it holds addr: a live one if any, else the one that
 * died last (its last heartbeat listed it); NULL if none. For takeover causes. */
const PeerInfo *cluster_holder(const Cluster *c, u128 addr);
/* Live peers (this node not counted). */
size_t cluster_peers_alive(const Cluster *c);

void cluster_set_owned(Cluster *c, const u128 *sorted, size_t n);
void cluster_set_leaving(Cluster *c);
const Peers *cluster_peers(const Cluster *c);
uint64_t cluster_incarnation(const Cluster *c);
