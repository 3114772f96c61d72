#!/bin/bash
# SPDX-License-Identifier: MIT
# garp_refresh_s: an owned address is announced again every garp_refresh_s seconds, for
# as long as it is owned (every round, not only the first).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MAC1=$(lan_mac node1)
daemon_conf "$tmp" node1
sed -i 's/^garp_interval_ms = 50$/garp_interval_ms = 50\ngarp_refresh_s = 1/' "$tmp/mlbd.conf"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
lan_capture_start sw1 "$tmp/refresh.pcap"
out=$(daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo web u1)")")
tap_ok "192.0.2.150 is owned" wait_addr node1 192.0.2.150 5
sleep 4.5 # the first burst and four refresh rounds, one a second
lan_capture_stop
garp="ether src $MAC1 and ether dst ff:ff:ff:ff:ff:ff and arp and arp[6:2] = 1 and arp[14:4] = 0xc0000296 and arp[24:4] = 0xc0000296"
n=$(lan_capture_count "$tmp/refresh.pcap" "$garp")
tap_diag "gratuitous ARPs for 192.0.2.150 in 4.5 s with garp_refresh_s = 1: $n (3 each round)"
tap_ok "at least the first burst and three refresh rounds: >= 12" [ "$n" -ge 12 ]
tap_ok "and no more than the first burst and five rounds: <= 18" [ "$n" -le 18 ]
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
