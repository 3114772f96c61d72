#!/bin/bash
# SPDX-License-Identifier: MIT
# Duplicate node names (a cloned machine). (1) node2's host was cloned from node1 and
# kept node_name = node1 and the same `peers = node1=192.0.2.1, node2=192.0.2.2`: the
# real node1 sends its heartbeats to 192.0.2.2, so the clone hears its own name from
# another address. It must say so (an error naming 192.0.2.1), own nothing while that
# lasts (only the real node1 holds the address; the peers query says why), and take
# over once the real node1 is gone. (2) A state.json written by another node (its "node"
# differs) is not this node's: its owned addresses are probed, not taken; here another
# host already uses the address, so mlbd must not put it on its interface.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

NODES=(node1 node2)
lan_setup node1 node2 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
declare -A PID
VIP=192.0.2.150
SVC='{"metadata":{"namespace":"demo","name":"web","uid":"u1"},"spec":{"type":"LoadBalancer","ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.150"}]}}}'
SYNC='{"op":"sync","id":3,"services":['"$SVC"'],"endpointslices":[],"nodes":[],"namespaces":[]}'
holders() {
        local n
        for n in "${NODES[@]}"; do host_has_addr "$n" $VIP && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'
}
wait_holders() { # WANT
        local i h
        for ((i = 0; i < 50; i++)); do
                h=$(holders)
                [ "$h" = "$1" ] && break
                sleep 0.1
        done
        echo "$h"
}
self_state() { # HOST
        json_get "$(daemon_ctl "$tmp/$1" --until '"op": *"peers"' --timeout 3 "$TEST_HELLO" '{"op":"peers","id":"p"}' | grep '"op": *"peers"')" \
                '[p["state"] for p in j["peers"] if p["self"]][0]'
}

for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" node1 "node1=192.0.2.1, node2=192.0.2.2" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
        PID[$n]=$DAEMON_PID
        daemon_ctl "$tmp/$n" --until '"id": *3' --timeout 5 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3' ||
                { echo "Bail out! sync to $n"; exit 1; }
done
sleep 1.5 # settled (dead_after 400 ms), and time for both to take the address
tap_is "$(wait_holders node1)" node1 "two mlbd named node1: only the real one (192.0.2.1) holds $VIP"
tap_ok "the clone logs an error naming the other address" \
        grep -q '^<3>.*node1.*192\.0\.2\.1' "$tmp/node2/mlbd.log.run"
grep '^<3>.*192\.0\.2\.1' "$tmp/node2/mlbd.log.run" | head -1 | sed 's/^/#   /'
tap_is "$(self_state node2)" duplicate-name "the clone's peers query says why (self: duplicate-name)"
sleep 1
tap_is "$(holders)" node1 "a second later, still only node1 holds $VIP"

DAEMON_PID=${PID[node1]}
daemon_stop
tap_is "$(wait_holders node2)" node2 "the real node1 stopped: the clash is over, the clone takes $VIP"
tap_is "$(self_state node2)" alive "and its self state is alive again"
tap_ok "and it says so" grep -q 'no heartbeat with our name' "$tmp/node2/mlbd.log.run"
DAEMON_PID=${PID[node2]}
daemon_stop

# (2) state.json from another node: probe, do not take
lan_exec client ip addr add $VIP/24 dev eth0
d=$tmp/node1
rm -rf "$d/state" "$d/mlbd.sock"
daemon_conf "$d" node1 "node1=192.0.2.1" || { echo "Bail out! config"; exit 1; }
cat >"$d/state/state.json" <<EOF2
{"version":1,"node":"node9","allocations":[{"service":"demo/web","uid":"u1","addresses":["$VIP"]}],"owned":[{"address":"$VIP","interface":"eth0"}]}
EOF2
chmod 0600 "$d/state/state.json"
: >"$d/mlbd.log"
daemon_start node1 "$d" || { echo "Bail out! node1 did not start"; exit 1; }
sleep 1.5
tap_ok "a state.json written by node9: node1 does not put $VIP on eth0 (the client uses it)" not host_has_addr node1 $VIP
tap_ok "and warns, naming node9" grep -q '^<4>.*state.json.*node9' "$tmp/node1/mlbd.log.run"
grep '^<4>.*node9' "$tmp/node1/mlbd.log.run" | head -1 | sed 's/^/#   /'
daemon_stop
tap_done
