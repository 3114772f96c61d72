#!/bin/bash
# SPDX-License-Identifier: MIT
# IPv6-first clusters: the Nodes list their IPv6 InternalIP first, and mlbd listens on
# 0.0.0.0 (IPv4 only). Each mlbd must take the IPv4 InternalIP of each Node (the family
# its heartbeat socket can reach), so both hear each other and exactly one holds the
# address; a Node with no IPv4 address at all is warned about once, by name, at warning
# level. Then both listen on [::] (dual-stack): the IPv6 InternalIPs are used and work.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

NODES=(node1 node2)
lan_setup node1 node2 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
declare -A PID
node_json() { # NAME ADDRESS... (each an InternalIP, in this order)
        local name=$1 a addrs=
        shift
        for a in "$@"; do addrs+="{\"type\":\"InternalIP\",\"address\":\"$a\"},"; done
        printf '{"metadata":{"name":"%s","labels":{"kubernetes.io/hostname":"%s"}},"status":{"addresses":[%s{"type":"Hostname","address":"%s"}],"conditions":[{"type":"Ready","status":"True"}]}}' "$name" "$name" "$addrs" "$name"
}
SVC='{"metadata":{"namespace":"demo","name":"web","uid":"u1"},"spec":{"type":"LoadBalancer","ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.150"}]}}}'
sync_msg() { # ID NODE_JSON...
        local id=$1 IFS=,
        shift
        printf '{"op":"sync","id":%s,"services":[%s],"endpointslices":[],"nodes":[%s],"namespaces":[]}' "$id" "$SVC" "$*"
}
peers_of() { # NODE -> "name=state@address ..." of the others
        json_get "$(daemon_ctl "$tmp/$1" --until '"op": *"peers"' --timeout 3 "$TEST_HELLO" '{"op":"peers","id":"p"}' | grep '"op": *"peers"')" \
                '" ".join(p["name"] + "=" + p["state"] + "@" + p.get("address", "") for p in j["peers"] if not p["self"])'
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
sync_all() { # ID MSG
        local n
        for n in "${NODES[@]}"; do
                daemon_ctl "$tmp/$n" --until "\"id\": *$1" --timeout 5 "$TEST_HELLO" "$2" | grep -q "\"id\": *$1" ||
                        { echo "Bail out! sync to $n"; exit 1; }
        done
}
start_all() {
        local n
        for n in "${NODES[@]}"; do
                daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
                PID[$n]=$DAEMON_PID
        done
}
stop_all() {
        local n
        for n in "${NODES[@]}"; do
                DAEMON_PID=${PID[$n]}
                daemon_stop
        done
}

V6FIRST=$(sync_msg 3 "$(node_json node1 2001:db8::1 192.0.2.1)" "$(node_json node2 2001:db8::2 192.0.2.2)" \
        "$(node_json node3 2001:db8::3)")
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
done
start_all
sync_all 3 "$V6FIRST"
tap_is "$(wait_peers node1 "node2=alive@192.0.2.2")" "node2=alive@192.0.2.2" \
        "listen 0.0.0.0, Nodes IPv6-first: node1 takes node2's IPv4 InternalIP and hears it"
tap_is "$(wait_peers node2 "node1=alive@192.0.2.1")" "node1=alive@192.0.2.1" "and node2 hears node1"
for ((i = 0; i < 50; i++)); do [ "$(holders | wc -w)" -eq 1 ] && break; sleep 0.1; done
sleep 0.5
tap_is "$(holders | wc -w)" 1 "exactly one node holds 192.0.2.150 ($(holders))"
warned=$(grep -c '^<4>.*node3.*2001:db8::3' "$tmp/node1/mlbd.log.run")
tap_is "$warned" 1 "node1 warns (warning level) about node3, which has no IPv4 address"
grep '^<4>.*node3' "$tmp/node1/mlbd.log.run" | head -1 | sed 's/^/#   /'
sync_all 4 "${V6FIRST/\"id\":3/\"id\":4}"
sleep 0.3
tap_is "$(grep -c '^<4>.*node3.*2001:db8::3' "$tmp/node1/mlbd.log.run")" 1 "once: not again on the next sync"
stop_all

# dual-stack sockets reach the IPv6 InternalIPs
for n in "${NODES[@]}"; do
        sed -i 's/^listen = .*/listen = [::]:7947/' "$tmp/$n/mlbd.conf"
done
start_all
sync_all 5 "${V6FIRST/\"id\":3/\"id\":5}"
tap_is "$(wait_peers node1 "node2=alive@2001:db8::2 node3=dead@2001:db8::3")" "node2=alive@2001:db8::2 node3=dead@2001:db8::3" \
        "listen [::] (dual-stack): node1 uses node2's first InternalIP (IPv6) and hears it"
tap_is "$(grep -c '^<4>.*node3' "$tmp/node1/mlbd.log.run")" 0 "and has nothing to warn about node3"
for ((i = 0; i < 50; i++)); do [ "$(holders | wc -w)" -eq 1 ] && break; sleep 0.1; done
sleep 0.5
tap_is "$(holders | wc -w)" 1 "exactly one node holds 192.0.2.150 ($(holders))"
tap_ok "and nothing was refused (neither settled alone before the sync)" \
        not grep -q 'in use on the network' "$tmp/node1/mlbd.log.run" "$tmp/node2/mlbd.log.run"
stop_all
tap_done
