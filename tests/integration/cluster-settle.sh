#!/bin/bash
# SPDX-License-Identifier: MIT
# Settling with members learned from Nodes (`peers =` empty, the default with the bridge):
# a node restarted gracefully into a running cluster knows no member until the first full
# sync brings the Nodes, so it must not settle alone. Before that sync it takes nothing,
# probes nothing (its peers would answer the probes and every address would be refused)
# and says what it waits for; after the sync it settles, takes back what rendezvous
# hashing gives it without a probe (a handover, not a conflict), and nothing is refused.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

NODES=(node1 node2 node3)
lan_setup node1 node2 node3 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
declare -A PID
node_json() { # NAME IP
        printf '{"metadata":{"name":"%s"},"status":{"addresses":[{"type":"InternalIP","address":"%s"}],"conditions":[{"type":"Ready","status":"True"}]}}' "$1" "$2"
}
svc() { # NAME UID IP
        printf '{"metadata":{"namespace":"demo","name":"%s","uid":"%s"},"spec":{"type":"LoadBalancer","ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"%s"}]}}}' "$1" "$2" "$3"
}
SVCS="$(svc a u1 192.0.2.150),$(svc b u2 192.0.2.151),$(svc c u3 192.0.2.152),$(svc d u4 192.0.2.153)"
SYNC=$(printf '{"op":"sync","id":3,"services":[%s],"endpointslices":[],"nodes":[%s,%s,%s],"namespaces":[]}' \
        "$SVCS" "$(node_json node1 192.0.2.1)" "$(node_json node2 192.0.2.2)" "$(node_json node3 192.0.2.3)")
sync_to() { daemon_ctl "$tmp/$1" --until '"id": *3' --timeout 5 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3'; }
held_by() { # NODE -> the addresses of 192.0.2.150-153 on its eth0
        local a
        for a in 192.0.2.150 192.0.2.151 192.0.2.152 192.0.2.153; do host_has_addr "$1" "$a" && echo "$a"; done | tr '\n' ' ' | sed 's/ $//'
}
all_held_once() {
        local a n c
        for a in 192.0.2.150 192.0.2.151 192.0.2.152 192.0.2.153; do
                c=0
                for n in "${NODES[@]}"; do host_has_addr "$n" "$a" && c=$((c + 1)); done
                [ "$c" -eq 1 ] || return 1
        done
}
wait_all_held_once() {
        local i
        for ((i = 0; i < 50; i++)); do all_held_once && return 0; sleep 0.1; done
        return 1
}

for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
        PID[$n]=$DAEMON_PID
done
tap_ok "before any sync, no node holds an address" [ -z "$(held_by node1)$(held_by node2)$(held_by node3)" ]
tap_ok "node1 says it waits for the Nodes of the first full sync" \
        grep -q 'waiting for the Nodes of the first full sync' "$tmp/node1/mlbd.log.run"
for n in "${NODES[@]}"; do sync_to "$n" || { echo "Bail out! sync to $n"; exit 1; }; done
tap_ok "after the sync every address is held by exactly one node" wait_all_held_once
# the node that holds the most addresses restarts gracefully
best=node1
for n in "${NODES[@]}"; do [ "$(held_by "$n" | wc -w)" -gt "$(held_by "$best" | wc -w)" ] && best=$n; done
mine=$(held_by "$best")
tap_diag "$best holds $mine"
MACB=$(lan_mac "$best")

DAEMON_PID=${PID[$best]}
daemon_stop TERM
tap_ok "after $best's graceful stop the others hold every address" wait_all_held_once
lan_capture_start "sw$(lan_index "$best")" "$tmp/restart.pcap"
daemon_start "$best" "$tmp/$best" || { echo "Bail out! $best did not restart"; exit 1; }
PID[$best]=$DAEMON_PID
sleep 1.5 # well past dead_after_ms (400) + one interval: a node settling alone would have
lan_capture_stop
probe="ether src $MACB and arp and arp[6:2] = 1 and arp[14:4] = 0"
tap_is "$(lan_capture_count "$tmp/restart.pcap" "$probe")" 0 "restarted $best sends no ARP probe before the sync"
tap_is "$(held_by "$best")" "" "and holds no address"
tap_ok "and refuses nothing" not grep -q 'in use on the network' "$tmp/$best/mlbd.log.run"
tap_ok "every address is still held by exactly one node" all_held_once
lan_capture_start "sw$(lan_index "$best")" "$tmp/sync.pcap"
sync_to "$best" || tap_diag "sync to $best failed"
for ((i = 0; i < 50; i++)); do [ "$(held_by "$best")" = "$mine" ] && break; sleep 0.1; done
sleep 0.5
lan_capture_stop
tap_is "$(held_by "$best")" "$mine" "after the sync $best takes back $mine"
tap_ok "every address is held by exactly one node" wait_all_held_once
tap_is "$(lan_capture_count "$tmp/sync.pcap" "$probe")" 0 "without probing (its peers held them)"
tap_ok "and nothing was refused on any node" not grep -q 'in use on the network' \
        "$tmp/node1/mlbd.log.run" "$tmp/node2/mlbd.log.run" "$tmp/node3/mlbd.log.run"
for n in "${NODES[@]}"; do tap_ok "$n still running" kill -0 "${PID[$n]}"; done
tap_done
