/* SPDX-License-Identifier: MIT */
/*
 * The state file, state_dir/state.json: the allocations and owned addresses this node
 * knew last, so that a restart (also after kill -9) while the bridge or the API server is
 * away keeps announcing what was announced. Kubernetes status stays the durable truth; a
 * later full sync from the bridge reconciles. Written atomically (util/fileio.h).
 *
 * Format (version 1):
 *   {"version":1,"node":"node1",
 *    "allocations":[{"service":"demo/nginx","uid":"...","addresses":["192.0.2.150"]}],
 *    "owned":[{"address":"192.0.2.150","interface":"veth0"}]}
 */
#pragma once

#include <net/if.h>

#include "addr.h"

typedef struct StateAlloc {
        char *service; /* "namespace/name" */
        char *uid;     /* may be NULL */
        u128 addrs[2];
        size_t n_addrs;
} StateAlloc;

typedef struct StateOwned {
        u128 addr;
        char ifname[IF_NAMESIZE];
} StateOwned;

typedef struct State {
        char *node;
        StateAlloc *allocs;
        size_t n_allocs, cap_allocs;
        StateOwned *owned;
        size_t n_owned, cap_owned;
} State;

State *state_free(State *s);
DEFINE_FREEP(State, state_free)

int state_add_alloc(State *s, const char *service, const char *uid, const u128 *addrs, size_t n);
int state_add_owned(State *s, u128 addr, const char *ifname);

/* Pure: parses the JSON text; on a malformed file returns -EBADMSG with the reason in err. */
int state_parse(const char *buf, size_t len, State **ret, char *err, size_t err_len);
/* Returns a malloc'd JSON text. */
char *state_format(const State *s);

/* Loads state_dir/state.json: 0, -ENOENT when there is none, -EBADMSG (logged) when corrupt. */
int state_load(const char *dir, State **ret);
/* state_load(), for node `node`: a file another node wrote (its "node" differs) keeps
 * its allocations, but its owned list is emptied (with a warning), so those addresses
 * are probed before use instead of being taken as this node's. */
int state_load_node(const char *dir, const char *node, State **ret);
int state_save(const char *dir, const State *s);
