#!/bin/bash
# SPDX-License-Identifier: MIT
# A fresh allocation in a cluster: node1's bridge is the leader. mlbd on node1 allocates
# 192.0.2.150, probes it from node1 (it does not own it: rendezvous hashing picks node2)
# and only then tells its bridge "allocated", and "node_assigned" names node2. Once every
# bridge forwards the Service with that status, node2 adds the address without a probe of
# its own (the leader vetted it) and announces it. An address another host already uses
# fails the leader's probe: allocation_failed names that host's MAC and no node announces
# the address. A full sync from a restarted bridge that missed the status gets the
# notifications again.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root tcpdump

NODES=(node1 node2 node3)
lan_setup node1 node2 node3 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2, node3=192.0.2.3"
MAC1=$(lan_mac node1)
MAC2=$(lan_mac node2)
MACC=$(lan_mac client)
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "$PEERS" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
done
sleep 0.6 # every node has heard the others (settled)

lan_capture_start br0 "$tmp/alloc.pcap"
out=$(daemon_session "$tmp/node1" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo web u1)")")
tap_diag "$out"
tap_ok "node1 (leader) allocates 192.0.2.150" grep -q '"op": *"allocated".*"192\.0\.2\.150"' <<<"$out"
tap_ok "node_assigned names node2, the rendezvous owner" \
        grep -q '"op": *"node_assigned".*"192\.0\.2\.150".*"node": *"node2"' <<<"$out"
tap_ok "the address is on no node yet (nobody has the status)" \
        not host_has_addr node2 192.0.2.150
with_status='{"metadata":{"namespace":"demo","name":"web","uid":"u1"},"spec":{"type":"LoadBalancer","selector":{"app":"nginx"},"ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.150"}]}}}'
for n in "${NODES[@]}"; do
        daemon_ctl "$tmp/$n" --until '"id": *4' --timeout 5 "$TEST_HELLO" "$(upsert_msg 4 "$with_status")" >/dev/null
done
tap_ok "with the status forwarded, node2 holds 192.0.2.150" wait_addr node2 192.0.2.150 5
tap_ok "node1 does not" not host_has_addr node1 192.0.2.150
sleep 0.8
lan_capture_stop
probe="arp and arp[6:2] = 1 and arp[14:4] = 0 and arp[24:4] = 0xc0000296" # sender 0.0.0.0
garp="arp and arp[6:2] = 1 and arp[14:4] = 0xc0000296 and arp[24:4] = 0xc0000296"
tap_is "$(lan_capture_count "$tmp/alloc.pcap" "ether src $MAC1 and $probe")" 2 "node1 sent the 2 ARP probes"
tap_is "$(lan_capture_count "$tmp/alloc.pcap" "ether src $MAC2 and $probe")" 0 "node2 sent none"
tap_is "$(lan_capture_count "$tmp/alloc.pcap" "ether src $MAC2 and $garp")" 3 "node2 announced it (3 gratuitous ARPs)"
tap_is "$(lan_capture_count "$tmp/alloc.pcap" "ether src $MAC1 and $garp")" 0 "node1 announced nothing"

# --- node1's bridge restarts and missed the status write: a full sync without the status ---
sync='{"op":"sync","id":6,"services":['"$(svc_json demo web u1)"'],"endpointslices":[],"nodes":[],"namespaces":[]}'
out=$(daemon_session "$tmp/node1" '"node_assigned"' "$sync")
tap_diag "$out"
tap_ok "after a full sync without the status, node1 repeats allocated 192.0.2.150" \
        grep -q '"op": *"allocated".*"demo/web".*"192\.0\.2\.150"' <<<"$out"
tap_ok "and node_assigned node2" grep -q '"op": *"node_assigned".*"demo/web".*"node": *"node2"' <<<"$out"
tap_ok "no allocation_failed (node2 holding it is no conflict)" not grep -q '"allocation_failed"' <<<"$out"
tap_ok "node2 still holds 192.0.2.150" host_has_addr node2 192.0.2.150

# --- a conflict found by the leader's probe ---
lan_exec client ip addr add 192.0.2.151/24 dev eth0
out=$(daemon_session "$tmp/node1" '"(allocation_failed|node_assigned)"' "$(upsert_msg 5 "$(svc_json demo taken u2)")")
tap_diag "$out"
fail=$(grep '"op": *"allocation_failed"' <<<"$out")
tap_ok "demo/taken gets allocation_failed" [ -n "$fail" ]
tap_ok "the reason names the client's MAC ($MACC)" grep -q "192.0.2.151 is in use on the network by $MACC" <<<"$fail"
tap_ok "no allocated notification for it" not grep -q '"op": *"allocated".*demo/taken' <<<"$out"
sleep 0.5
for n in "${NODES[@]}"; do
        tap_ok "192.0.2.151 is not on $n" not host_has_addr "$n" 192.0.2.151
done
tap_done
