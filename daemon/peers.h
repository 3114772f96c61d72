/* SPDX-License-Identifier: MIT */
/*
 * Cluster membership and liveness (design.md "Who decides what", Liveness): one UDP socket
 * on sd-event, a heartbeat (heartbeat.h) to every member every interval, and per member the
 * last accepted (incarnation, sequence), what it says it holds, and a death timer at
 * last_seen + dead_after.
 *
 * Invariants:
 *   - a member is alive iff a heartbeat was accepted from it less than dead_after ago;
 *   - an accepted heartbeat is authentic (tag), carries a member's name, comes from that
 *     member's configured address (the port is not checked) and is newer than the last one
 *     accepted from it (hb_is_newer()); everything else is dropped and counted by reason;
 *   - a datagram from an address that is no member's is dropped (unknown_peer) before its
 *     tag is computed;
 *   - changed() is called from the event loop only (never from inside a peers_* call),
 *     when a member becomes alive or dead, or its leaving flag or owned set changes;
 *   - a heartbeat with our own name is never accepted; with another incarnation than
 *     ours it is a name clash (peers_name_clash());
 *   - with a state_dir, a member's first heartbeat after our restart must be newer than
 *     the last one accepted before it (state_dir/peers-seen);
 *   - every timer has 1 ms accuracy: failover time is dead_after, not dead_after + 250 ms.
 * One sequence number is used per send round: the packet is the same for all members.
 */
#pragma once

#include <netinet/in.h>
#include <systemd/sd-event.h>

#include "addr.h"
#include "conf.h"
#include "heartbeat.h"

typedef union PeerSockaddr {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
} PeerSockaddr;

/* A member as configured: heartbeats go to addr (address and port); they are accepted
 * from the address whatever the source port. */
typedef struct PeerAddr {
        const char *name;
        PeerSockaddr addr;
} PeerAddr;

/* IPv4-mapped addresses become sockaddr_in, the others sockaddr_in6. */
void addr_to_sockaddr(u128 addr, uint16_t port, PeerSockaddr *ret);

typedef struct PeersSettings {
        const char *self_name;
        HostPort listen;          /* 0.0.0.0 / :: bind any (:: is dual-stack); port must be set */
        uint64_t interval_usec;   /* > 0 */
        uint64_t dead_after_usec; /* > 0 */
        uint8_t key[HB_KEY_SIZE];
        uint64_t incarnation;
        /* Where the last accepted (incarnation, sequence) of each peer is kept across
         * restarts (state_dir/peers-seen); NULL: not kept. */
        const char *state_dir;
} PeersSettings;

typedef struct PeerInfo {
        char *name;
        u128 addr;
        uint16_t port;
        char address[ADDR_STR_MAX]; /* addr as text */
        bool alive;
        bool leaving;
        uint64_t last_seen_usec;  /* CLOCK_MONOTONIC; 0 = never */
        uint64_t dead_since_usec; /* CLOCK_MONOTONIC: when its death was noticed; 0 = alive */
        uint64_t incarnation;     /* of the last accepted heartbeat (0 = none) */
        uint64_t sequence;
        u128 *owned; /* sorted, unique */
        size_t n_owned;
        bool owned_truncated; /* it holds more than its heartbeat could list */
        uint64_t received;    /* heartbeats accepted */
        uint64_t send_errors; /* sends to it that failed */
} PeerInfo;

typedef struct Peers Peers;

/* Binds the socket (-EADDRINUSE etc. passed up) and schedules the first heartbeat for the
 * next loop iteration. -EINVAL for bad settings. */
int peers_new(Peers **ret, sd_event *e, const PeersSettings *s, void (*changed)(void *userdata),
              void *userdata);
Peers *peers_free(Peers *p);
DEFINE_FREEP(Peers, peers_free)

/* Replaces the member list (config reload, or Nodes learned from Kubernetes). An entry
 * with our own name is skipped, a duplicate name keeps its first entry; members that stay
 * keep their liveness and what they hold (their address may change). Returns 0, -EINVAL for
 * an invalid name or address family, -ENOMEM; on error nothing changed. */
int peers_set_members(Peers *p, const PeerAddr *list, size_t n);
/* New timings (reload): the next heartbeat is due within interval_usec, and alive members
 * die at last_seen + dead_after_usec. */
void peers_set_timing(Peers *p, uint64_t interval_usec, uint64_t dead_after_usec);
/* Signs and checks heartbeats with key from now on; returns whether it differs from the
 * previous one (a reload re-reads key_file). */
bool peers_set_key(Peers *p, const uint8_t key[static HB_KEY_SIZE]);
/* What this node holds (sorted). If it differs from before, a heartbeat goes out now.
 * Out of memory keeps the previous set (logged). */
void peers_set_owned(Peers *p, const u128 *sorted, size_t n);
/* Sends a heartbeat now when the flag changes. */
void peers_set_leaving(Peers *p, bool leaving);

/* Members sorted by name. Pointers stay valid until the next peers_set_members(). */
size_t peers_count(const Peers *p);
const PeerInfo *peers_get(const Peers *p, size_t i);
const PeerInfo *peers_find(const Peers *p, const char *name);
bool peer_holds(const PeerInfo *pi, u128 addr);

void peers_drop_counts(const Peers *p, uint64_t out[static _HB_DROP_MAX]);
uint64_t peers_sent(const Peers *p);     /* datagrams handed to the kernel */
uint64_t peers_sequence(const Peers *p); /* the last sequence number sent (0: none yet) */
uint16_t peers_port(const Peers *p);     /* the local port the socket is bound to */
/* Whether another node uses our name right now (authentic heartbeats with our name and
 * another incarnation, the last less than dead_after ago); *ret_address is where they come
 * from. Meanwhile our heartbeats say "leaving" and hold nothing, and changed() is called
 * when it starts and ends. */
bool peers_name_clash(const Peers *p, const char **ret_address);
/* Whether the socket can send to addr: an IPv4 socket only to IPv4, an IPv6 one bound to
 * a specific address only to IPv6, one bound to :: (dual-stack) to both. */
bool peers_can_reach(const Peers *p, u128 addr);
/* "IPv4 only", "IPv6 only" or "IPv4 and IPv6", for messages. */
const char *peers_family_name(const Peers *p);
