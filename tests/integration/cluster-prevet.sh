#!/bin/bash
# SPDX-License-Identifier: MIT
# Pre-vetting in a cluster (docs/cluster.md "Pre-vetting"): node1's bridge is the leader
# and holds its session open (hello, leader, full sync). node1 has vetted 192.0.2.150
# before any Service wants it, so a Service that gets it is told "allocated" well within a
# probe's time, although node2 owns the address (rendezvous hashing, as in
# cluster-allocate.sh). node2 adds it without a probe of its own when the status is
# forwarded (the leader's vet covers it): the only probes for .150 on the LAN are node1's
# two, sent before the upsert. node2's announcements are no conflict for node1's vet: no
# allocation_failed, nothing counted.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root tcpdump curl
STEPS=${top_srcdir:-$(dirname "$0")/../..}/tests/lib/ctl-steps.py

NODES=(node1 node2 node3)
lan_setup node1 node2 node3 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2, node3=192.0.2.3"
MAC1=$(lan_mac node1)
MAC2=$(lan_mac node2)
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "$PEERS" || { echo "Bail out! config"; exit 1; }
done
printf '\n[metrics]\nlisten = 192.0.2.1:7472\n' >>"$tmp/node1/mlbd.conf"
for n in "${NODES[@]}"; do
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
done
sleep 0.6 # every node has heard the others (settled)
metrics="ip netns exec $(lan_ns node1) curl -sf --max-time 3 http://192.0.2.1:7472/metrics"
with_status='{"metadata":{"namespace":"demo","name":"web","uid":"u1"},"spec":{"type":"LoadBalancer","selector":{"app":"nginx"},"ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.150"}]}}}'

lan_capture_start br0 "$tmp/prevet.pcap"
"$PY" "$STEPS" "$tmp/node1/mlbd.sock" >"$tmp/session.out" 2>&1 <<EOF
> $HELLO
> $LEADER
> {"op":"sync","id":3,"services":[],"endpointslices":[],"nodes":[],"namespaces":[]}
until "id": *3 5
sleep 2
run date +%s.%N >$tmp/t_upsert
> $(upsert_msg 4 "$(svc_json demo web u1)")
until "op": *"allocated".*"demo/web" 5
until "op": *"node_assigned".*"demo/web" 5
run for n in node2 node3; do $PY $CTL $tmp/\$n/mlbd.sock --until '"id": *5' --timeout 5 '$TEST_HELLO' '$(upsert_msg 5 "$with_status")' >/dev/null; done
> $(upsert_msg 6 "$with_status")
until "id": *6 5
sleep 1.5
run $metrics >$tmp/m
EOF
rc=$?
lan_capture_stop
tap_diag "$(cat "$tmp/session.out")"
tap_is "$rc" 0 "the session ran to its end"
el=$(sed -n 's/^# elapsed //p' "$tmp/session.out" | sed -n 2p)
tap_ok "node1 (leader) allocates 192.0.2.150" grep -q '"op": *"allocated".*"192\.0\.2\.150"' "$tmp/session.out"
tap_ok "within 200 ms of the upsert ($el ms; a probe takes 250-320 ms)" \
        awk -v t="${el:-9999}" 'BEGIN { exit !(t < 200) }'
tap_ok "node_assigned names node2" \
        grep -q '"op": *"node_assigned".*"192\.0\.2\.150".*"node": *"node2"' "$tmp/session.out"
tap_ok "with the status forwarded, node2 holds 192.0.2.150" wait_addr node2 192.0.2.150 5
tap_ok "node1 does not" not host_has_addr node1 192.0.2.150
tap_ok "no allocation_failed (node2's announcements are no conflict for the vet)" \
        not grep -q '"allocation_failed"' "$tmp/session.out"
tap_is "$(awk '$1 == "mlbd_probe_conflicts_total" { print $2 }' "$tmp/m")" 0 "node1 counted no conflict"

probe="arp and arp[6:2] = 1 and arp[14:4] = 0 and arp[24:4] = 0xc0000296" # sender 0.0.0.0
garp="arp and arp[6:2] = 1 and arp[14:4] = 0xc0000296 and arp[24:4] = 0xc0000296"
t_up=$(cat "$tmp/t_upsert")
tap_is "$(lan_capture_count "$tmp/prevet.pcap" "ether src $MAC1 and $probe")" 2 "node1 sent the 2 ARP probes of its pre-vet"
tap_is "$(tcpdump -tt -n -r "$tmp/prevet.pcap" "$probe" 2>/dev/null | awk -v t="$t_up" '$1 > t' | wc -l)" 0 \
        "no node probed .150 after the upsert"
tap_is "$(lan_capture_count "$tmp/prevet.pcap" "ether src $MAC2 and $probe")" 0 "node2 sent none"
tap_is "$(lan_capture_count "$tmp/prevet.pcap" "ether src $MAC2 and $garp")" 3 "node2 announced it (3 gratuitous ARPs)"
tap_is "$(lan_capture_count "$tmp/prevet.pcap" "ether src $MAC1 and $garp")" 0 "node1 announced nothing"
tap_done
