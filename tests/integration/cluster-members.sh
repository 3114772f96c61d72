#!/bin/bash
# SPDX-License-Identifier: MIT
# Cluster members without a `peers =` list: each mlbd learns them from the Kubernetes
# Nodes its bridge forwards (first InternalIP), hears them, and they agree on one owner.
# A Node that goes away stops being a member. Then `peers =` set by a reload (SIGHUP)
# replaces the learned list, and new timings apply.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

NODES=(node1 node2 node3)
lan_setup node1 node2 node3 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
declare -A PID
node_json() { # NAME IP
        printf '{"metadata":{"name":"%s","labels":{"kubernetes.io/hostname":"%s"}},"status":{"addresses":[{"type":"Hostname","address":"%s"},{"type":"InternalIP","address":"%s"}],"conditions":[{"type":"Ready","status":"True"}]}}' "$1" "$1" "$1" "$2"
}
SVC='{"metadata":{"namespace":"demo","name":"web","uid":"u1"},"spec":{"type":"LoadBalancer","ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.150"}]}}}'
sync_msg() { # NODE_JSON...
        local IFS=,
        printf '{"op":"sync","id":3,"services":[%s],"endpointslices":[],"nodes":[%s],"namespaces":[]}' "$SVC" "$*"
}
peers_of() { # NODE -> "name=state ..." of the others, sorted
        json_get "$(daemon_ctl "$tmp/$1" --until '"op": *"peers"' --timeout 3 "$TEST_HELLO" '{"op":"peers","id":"p"}' | grep '"op": *"peers"')" \
                '" ".join(p["name"] + "=" + p["state"] for p in j["peers"] if not p["self"])'
}
wait_peers() { # NODE WANT
        local i got
        for ((i = 0; i < 50; i++)); do
                got=$(peers_of "$1")
                [ "$got" = "$2" ] && break
                sleep 0.1
        done
        echo "$got"
}
holders() {
        local n
        for n in "${NODES[@]}"; do host_has_addr "$n" 192.0.2.150 && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'
}

ALL=$(sync_msg "$(node_json node1 192.0.2.1)" "$(node_json node2 192.0.2.2)" "$(node_json node3 192.0.2.3)")
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
        PID[$n]=$DAEMON_PID
done
tap_is "$(peers_of node1)" "" "without peers = and without Nodes, node1 knows no peer"
for n in "${NODES[@]}"; do
        daemon_ctl "$tmp/$n" --until '"id": *3' --timeout 5 "$TEST_HELLO" "$ALL" | grep -q '"id": *3' ||
                { echo "Bail out! sync to $n"; exit 1; }
done
tap_is "$(wait_peers node1 "node2=alive node3=alive")" "node2=alive node3=alive" \
        "after a sync with three Nodes, node1 hears node2 and node3"
tap_is "$(wait_peers node3 "node1=alive node2=alive")" "node1=alive node2=alive" "and node3 hears node1 and node2"
for ((i = 0; i < 50; i++)); do h=$(holders); [ -n "$h" ] && [ "${h// /}" = "$h" ] && break; sleep 0.1; done
sleep 0.5
tap_ok "exactly one node holds 192.0.2.150 ($(holders))" eval '[ -n "$(holders)" ] && [ "$(holders | wc -w)" -eq 1 ]'
owner=$(holders)

# node3's Node object goes away (e.g. deleted from the cluster): it is no member any more
for n in node1 node2; do
        daemon_ctl "$tmp/$n" --until '"id": *4' --timeout 5 "$TEST_HELLO" \
                '{"op":"delete","id":4,"kind":"Node","name":"node3"}' | grep -q '"id": *4'
done
tap_is "$(wait_peers node1 "node2=alive")" "node2=alive" "after the Node node3 is deleted, node1's only peer is node2"

# SIGHUP with peers = node1, node2 and new timings: the static list replaces the learned one
for n in node1 node2; do
        sed -i "s/^peers = .*/peers = node1=192.0.2.1, node2=192.0.2.2/; s/^\[cluster\]/[cluster]\ndead_after_ms = 2000/" "$tmp/$n/mlbd.conf"
        kill -HUP "${PID[$n]}"
done
sleep 0.5
tap_is "$(peers_of node1)" "node2=alive" "after a reload with peers = node1, node2: node2 alive"
grep -q 'Reloaded' "$tmp/node1/mlbd.log.run" && reloaded=yes
tap_is "${reloaded:-no}" yes "node1 logged the reload"
# the reloaded dead_after_ms (2000) applies: a stopped node2 is still alive after 1 s (it
# would be dead after the default 400 ms), and dead after 2 s
kill -STOP "${PID[node2]}"
sleep 1
tap_is "$(peers_of node1)" "node2=alive" "with the reloaded dead_after_ms = 2000, a node2 stopped 1 s ago is still alive"
tap_is "$(wait_peers node1 "node2=dead")" "node2=dead" "and dead once 2 s have passed"
kill -CONT "${PID[node2]}"
tap_is "$(wait_peers node1 "node2=alive")" "node2=alive" "and alive again once it runs"
for n in "${NODES[@]}"; do
        tap_ok "$n still running" kill -0 "${PID[$n]}"
done
tap_done
