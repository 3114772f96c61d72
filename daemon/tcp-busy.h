/* SPDX-License-Identifier: MIT */
/*
 * The TCP connections of this host (this network namespace) that may still hear from
 * their peer: SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2,
 * CLOSE-WAIT, LAST-ACK, CLOSING (RFC 9293 3.3.2); not LISTEN, not TIME-WAIT. Asked of the
 * kernel with sock_diag (NETLINK_SOCK_DIAG, inet_diag dumps of both families: an IPv4
 * connection accepted by a dual-stack socket is listed as IPv6, ::ffff:a.b.c.d, which is
 * how u128 holds IPv4 anyway). A node handing an address over keeps it until no such
 * connection has it as its local address (docs/cluster.md "Draining").
 */
#pragma once

#include "addr.h"

/* Calls cb with the local address of each such connection (once per connection); 0, or
 * -errno (the socket, the dump; cb may have been called for part of them). */
int tcp_busy_foreach(void (*cb)(u128 local, void *userdata), void *userdata);
