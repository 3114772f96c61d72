/* SPDX-License-Identifier: MIT */
/*
 * nftables rules that keep TCP connections alive across a handover between two live
 * nodes (docs/cluster.md "Draining"). A client's neighbour cache moves at the new
 * holder's first announcement; a connection it opened on the old holder sends its next
 * segments to the new one, which would answer them with a reset. So, for the length of
 * a handover:
 *
 *  - forward (on the node that takes an address from a live holder, before its first
 *    announcement): TCP segments to the address that open no connection (no SYN) and
 *    belong to no connection here (conntrack: new or invalid; no socket) go on to the old holder
 *    (`dup to` its address, then dropped here). Its connections go on; new ones are
 *    this node's.
 *  - hush (on the node letting go): it keeps the address, for the connections it still
 *    serves, but answers no ARP request and no Neighbour Solicitation for it, so that no
 *    client is pulled back to it.
 *
 * The rules live in tables named "mlbd" of the families ip, ip6 and arp, which belong to
 * mlbd: they exist only while something is forwarded or hushed (conntrack runs in this
 * network namespace only then), and handover_rules_new() and `mlbd --flush` delete
 * whatever an earlier run left. Changes are queued and written by handover_rules_commit()
 * as one nft transaction; after a failed one the next writes the whole set anew.
 *
 * Forwarding needs the old holder's address in the family of the handed-over address (the
 * members' addresses are of one family; the other family is handed over without it).
 */
#pragma once

#include <stdbool.h>

#include "addr.h"
#include "util/macro.h"

typedef struct HandoverRules HandoverRules;

/* Deletes mlbd's tables left by an earlier run (a failure to is logged, not returned:
 * the kernel may lack nf_tables, and then there is nothing to delete). -ENOMEM only. */
int handover_rules_new(HandoverRules **ret);
/* Deletes the tables. */
HandoverRules *handover_rules_free(HandoverRules *r);
DEFINE_FREEP(HandoverRules, handover_rules_free)

/* Queue a change; nothing reaches the kernel before handover_rules_commit(). -ENOMEM. */
int handover_rules_hush(HandoverRules *r, u128 addr, bool on);
/* Forward to `to` (same family as addr, else -EAFNOSUPPORT); to == 0 stops forwarding. */
int handover_rules_forward(HandoverRules *r, u128 addr, u128 to);

bool handover_rules_hushed(const HandoverRules *r, u128 addr);
/* The forwards in place or queued: calls cb(addr, to) for each; cb may stop one. */
void handover_rules_foreach_forward(HandoverRules *r,
                                    void (*cb)(u128 addr, u128 to, void *userdata), void *userdata);

/* Writes the queued changes: 0, or -EIO when nft refused them (logged once per change of
 * state, with nft's message). */
int handover_rules_commit(HandoverRules *r);

/* For `mlbd --flush`: deletes mlbd's tables. 0 or -EIO (nft's message logged). */
int handover_rules_delete_all(void);
