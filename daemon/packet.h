/* SPDX-License-Identifier: MIT */
/*
 * Packet sockets (AF_PACKET, SOCK_DGRAM), the one place arp.c and ndisc.c open and send
 * them. Receiving sockets are opened with protocol 0 and bound with the protocol: a
 * socket opened with a protocol is already receiving, and binding it then makes the
 * kernel wait for an RCU grace period (~14 ms measured here); bound from idle it does
 * not. Send-only sockets have no protocol and no bind at all.
 *
 * Closing a bound receiving socket waits for an RCU grace period too (packet_release()
 * calls synchronize_net(): 15-25 ms each, measured here): 32 probes ending together held
 * the loop 250-450 ms, past dead_after_ms, so peers saw this node dead. Such sockets are
 * closed with packet_socket_close(), which hands them to a closer thread.
 */
#pragma once

#include <linux/filter.h>
#include <net/ethernet.h>
#include <stddef.h>
#include <stdint.h>

/* A receiving socket on ifindex for protocol (host order, e.g. ETH_P_ARP), with the BPF
 * filter attached before it receives anything. fd or -errno. */
int packet_socket_open(int ifindex, uint16_t protocol, const struct sock_fprog *filter);
/* Closes a socket of packet_socket_open() without waiting for it: a closer thread
 * (started on first use) closes it; the caller must have stopped using it (its event
 * source removed). Falls back to close() when the thread cannot take it. Ignores fd < 0. */
void packet_socket_close(int fd);
/* A socket for sending only (the destination names the protocol). fd or -errno. */
int packet_send_socket_open(void);
/* Sends buf to dst_mac on ifindex as protocol; 0 or -errno (-EIO if cut short). */
int packet_send(int fd, int ifindex, uint16_t protocol, const uint8_t dst_mac[static ETH_ALEN],
                const uint8_t *buf, size_t len);
