#!/bin/bash
# SPDX-License-Identifier: MIT
# Three mlbd nodes share 50 Service addresses (192.0.2.150-199, from the Services' status,
# as a full sync like mlbd-bridge sends). Each address is held by exactly one node, every
# node holds a share, and every node computes the same owners. When one node dies
# (kill -9, then `mlbd --flush`), only its addresses move, each to exactly one survivor,
# and every one of them is announced (a gratuitous ARP from its new holder) within a
# bounded time; the survivors' own addresses stay where they were.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root tcpdump

NODES=(node1 node2 node3)
N=50
lan_setup node1 node2 node3 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2, node3=192.0.2.3"
declare -A PID

svcs=""
for ((i = 0; i < N; i++)); do
        svcs+="${svcs:+,}{\"metadata\":{\"namespace\":\"demo\",\"name\":\"s$i\",\"uid\":\"u$i\"},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"protocol\":\"TCP\",\"port\":80}]},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.$((150 + i))\"}]}}}"
done
SYNC="{\"op\":\"sync\",\"id\":3,\"services\":[$svcs],\"endpointslices\":[],\"nodes\":[],\"namespaces\":[]}"

for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "$PEERS" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
        PID[$n]=$DAEMON_PID
        daemon_ctl "$tmp/$n" --until '"id": *3' --timeout 10 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3' ||
                { echo "Bail out! sync to $n"; exit 1; }
done

# "ADDR NODE" for every service address held by one of the given nodes
held() {
        local n
        for n in "$@"; do
                lan_exec "$n" ip -4 -o addr show dev eth0 | awk -v n="$n" '$4 ~ /\/32$/ { sub(/\/32/, "", $4); print $4, n }'
        done | sort
}
# Waits (bounded, 10 s) until each of the N addresses is held by exactly one of the nodes.
settled() {
        local i
        for ((i = 0; i < 100; i++)); do
                held "$@" >"$tmp/held"
                [ "$(wc -l <"$tmp/held")" -eq "$N" ] && [ "$(cut -d' ' -f1 "$tmp/held" | sort -u | wc -l)" -eq "$N" ] && return 0
                sleep 0.1
        done
        return 1
}

tap_ok "each of the $N addresses is held by exactly one node" settled "${NODES[@]}"
cp "$tmp/held" "$tmp/before"
for n in "${NODES[@]}"; do
        c=$(grep -c " $n\$" "$tmp/before")
        tap_ok "$n holds a share ($c of $N)" [ "$c" -ge 8 ]
done
# every node says the same about who holds what (services reply: owner per Service)
for n in "${NODES[@]}"; do
        daemon_ctl "$tmp/$n" --until '"op": *"services"' --timeout 3 "$TEST_HELLO" '{"op":"services","id":"s"}' |
                grep '"op": *"services"' >"$tmp/$n.services"
        json_get "$(cat "$tmp/$n.services")" '"\n".join(sorted(s["addresses"][0] + " " + str(s["owner"]) for s in j["services"]))' >"$tmp/$n.owners"
done
tap_ok "the three nodes report the same owner for every address" \
        cmp -s "$tmp/node1.owners" "$tmp/node2.owners" && cmp -s "$tmp/node1.owners" "$tmp/node3.owners"
tap_ok "and that is who holds it" cmp -s "$tmp/node1.owners" "$tmp/before"

# --- one node dies ---
victim=node2
survivors=(node1 node3)
lost=$(grep -c " $victim\$" "$tmp/before")
lan_capture_start br0 "$tmp/garp.pcap"
t0=$(date +%s%N)
DAEMON_PID=${PID[$victim]}
daemon_stop KILL
lan_exec "$victim" "$MLBD" -c "$tmp/$victim/mlbd.conf" --flush >/dev/null 2>&1
tap_ok "after kill -9 of $victim, the $N addresses are held by the survivors, once each" settled "${survivors[@]}"
t1=$(date +%s%N)
tap_diag "all $lost addresses of $victim taken over; seen after $(((t1 - t0) / 1000000)) ms (polled every 100 ms)"
sleep 0.5
lan_capture_stop
moved=$(join "$tmp/before" "$tmp/held" | awk '$2 != $3' | wc -l)
tap_is "$moved" "$lost" "exactly the $lost addresses $victim held moved"
tap_is "$(join "$tmp/before" "$tmp/held" | awk '$2 != $3 && $2 != "'"$victim"'"' | wc -l)" 0 \
        "no address of a survivor moved"
garps=$(tcpdump -r "$tmp/garp.pcap" -n 'arp and arp[6:2] = 1 and arp[14:4] = arp[24:4]' 2>/dev/null |
        grep -o 'who-has 192\.0\.2\.[0-9]*' | sort -u | wc -l)
tap_is "$garps" "$lost" "each of the $lost addresses was announced by its new holder"
for n in "${survivors[@]}"; do
        tap_ok "$n still running" kill -0 "${PID[$n]}"
done
tap_done
