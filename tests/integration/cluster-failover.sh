#!/bin/bash
# SPDX-License-Identifier: MIT
# Three mlbd nodes and a client on one namespace LAN, all with the same Service whose
# status holds 192.0.2.150. Exactly one node holds the address; the others take it over
# when the owner is killed (kill -9, then `mlbd --flush` as ExecStopPost does) or its link
# is cut; the owner gets it back when it returns, without a failed request; a SIGTERM
# restart of the owner fails no request of a steady client loop; a healed partition ends
# with one holder. A capture in the switch namespace, with the client asking ARP for the
# address every 20 ms (tests/lib/arp-ask.py), never shows two nodes answering for longer than dead_after_ms.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root busybox curl tcpdump

NODES=(node1 node2 node3)
lan_setup node1 node2 node3 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2, node3=192.0.2.3"
VIP=192.0.2.150
DEAD_MS=400
SVC='{"metadata":{"namespace":"demo","name":"web","uid":"u1"},"spec":{"type":"LoadBalancer","selector":{"app":"web"},"ports":[{"protocol":"TCP","port":8080}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.150"}]}}}'
declare -A PID

start_node() {
        daemon_start "$1" "$tmp/$1" || return 1
        PID[$1]=$DAEMON_PID
        daemon_ctl "$tmp/$1" --until '"id": *3' --timeout 5 "$TEST_HELLO" "$(upsert_msg 3 "$SVC")" |
                grep -q '"id": *3'
}
stop_node() { # NODE SIG
        DAEMON_PID=${PID[$1]}
        daemon_stop "$2"
        PID[$1]=
}
holders() {
        local n
        for n in "${NODES[@]}"; do host_has_addr "$n" "$VIP" && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'
}
# Waits (bounded) until exactly one node other than $1 (may be empty) holds the address.
wait_one_holder() {
        local not=${1:-} i h
        for ((i = 0; i < 100; i++)); do
                h=$(holders)
                if [ -n "$h" ] && [ "${h// /}" = "$h" ] && [ "$h" != "$not" ]; then
                        echo "$h"
                        return 0
                fi
                sleep 0.1
        done
        echo "none-or-many:$h"
        return 1
}
ask() { lan_exec client curl -s --max-time 1 "http://$VIP:8080/"; }
# Requests every ~10 ms in the client until the file $1 exists; counts in $2 ("ok fail").
loop_start() {
        local stop=$1 out=$2
        (
                ok=0 fail=0
                for ((k = 0; k < 3000; k++)); do
                        [ -e "$stop" ] && break
                        if ip netns exec "$(lan_ns client)" curl -s -o /dev/null --max-time 1 \
                                "http://$VIP:8080/"; then ok=$((ok + 1)); else fail=$((fail + 1)); fi
                        sleep 0.01
                done
                echo "$ok $fail" >"$out"
        ) &
        LOOP_PID=$!
        LAN_PIDS+=("$LOOP_PID")
}
loop_stop() {
        touch "$1"
        wait "$LOOP_PID" 2>/dev/null
}

for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "$PEERS" || { echo "Bail out! config"; exit 1; }
        mkdir -p "$tmp/$n/www"
        echo "$n" >"$tmp/$n/www/index.html"
        lan_bg "$n" "$tmp/$n/httpd.log" busybox httpd -f -p 8080 -h "$tmp/$n/www"
done
lan_exec client sysctl -qw net.ipv4.conf.eth0.arp_accept=1
lan_capture_start br0 "$tmp/all.pcap"
T0=$(date +%s%N)
PHASES=()
phase() { PHASES+=("$1@$((($(date +%s%N) - T0) / 1000000))"); }
lan_bg client "$tmp/arp-ask.log" /usr/bin/python3 "$(dirname "$0")/../lib/arp-ask.py" eth0 "$VIP" 20 120

for n in "${NODES[@]}"; do
        start_node "$n" || { echo "Bail out! $n did not start"; exit 1; }
done

# --- one owner ---
owner=$(wait_one_holder)
tap_ok "exactly one node holds $VIP ($owner)" [ "${owner#none}" = "$owner" ]
tap_is "$(ask)" "$owner" "the client reaches the owner"
peers=$(daemon_ctl "$tmp/node1" --until '"op": *"peers"' --timeout 3 "$TEST_HELLO" '{"op":"peers","id":"p"}' | grep '"op": *"peers"')
tap_diag "$peers"
tap_is "$(json_get "$peers" 'sum(p["state"] == "alive" for p in j["peers"])')" 3 "node1 sees 3 nodes alive"
tap_is "$(json_get "$peers" '[p["owned"] for p in j["peers"] if p["name"] == "'"$owner"'"][0]')" 1 \
        "node1 sees the owner's heartbeats say it holds one address"

# --- kill -9 of the owner ---
phase kill9
t0=$(date +%s%N)
stop_node "$owner" KILL
lan_exec "$owner" "$MLBD" -c "$tmp/$owner/mlbd.conf" --flush >/dev/null 2>&1
next=$(wait_one_holder "$owner")
t1=$(date +%s%N)
tap_ok "after kill -9 of $owner, another node holds $VIP ($next)" [ "${next#none}" = "$next" ]
tap_diag "takeover seen after $(((t1 - t0) / 1000000)) ms (polled every 100 ms)"
tap_is "$(ask)" "$next" "the client reaches the new owner"

# --- the owner returns: it gets the address back, no request fails ---
loop_start "$tmp/stop1" "$tmp/loop1"
sleep 0.3
phase return
start_node "$owner" || echo "# $owner did not restart"
back=$(wait_one_holder "$next")
sleep 1
loop_stop "$tmp/stop1"
tap_is "$back" "$owner" "the returning node $owner holds $VIP again (rendezvous owner)"
read -r ok fail <"$tmp/loop1"
tap_diag "requests during the return: $ok ok, $fail failed"
tap_ok "some requests ran during the return" [ "$ok" -gt 20 ]
tap_is "$fail" 0 "no request failed while $owner took the address back"

# --- SIGTERM restart of the owner: no request fails ---
loop_start "$tmp/stop2" "$tmp/loop2"
sleep 0.3
phase sigterm
stop_node "$owner" TERM
rc=$?
tap_is "$rc" 0 "SIGTERM: $owner exits 0 after handing over"
phase restart
mid=$(holders)
tap_ok "while $owner is down, another node holds $VIP ($mid)" [ -n "$mid" ] && [ "$mid" != "$owner" ]
start_node "$owner" || echo "# $owner did not restart"
back=$(wait_one_holder "$mid")
sleep 1
loop_stop "$tmp/stop2"
tap_is "$back" "$owner" "after the restart $owner holds $VIP again"
read -r ok fail <"$tmp/loop2"
tap_diag "requests during the SIGTERM restart: $ok ok, $fail failed"
tap_ok "some requests ran during the restart" [ "$ok" -gt 20 ]
tap_is "$fail" 0 "no request failed during the SIGTERM restart"

# --- the owner's link is cut, then healed (a partition) ---
idx=${owner#node}
phase linkdown
lan_exec sw ip link set "sw$idx" down
for ((i = 0; i < 100; i++)); do
        other=""
        for n in "${NODES[@]}"; do
                [ "$n" != "$owner" ] && host_has_addr "$n" "$VIP" && other=$n
        done
        [ -n "$other" ] && break
        sleep 0.1
done
tap_ok "link of $owner cut: another node holds $VIP ($other)" [ -n "$other" ]
tap_is "$(ask)" "$other" "the client reaches it"
phase linkup
lan_exec sw ip link set "sw$idx" up
sleep 0.2
healed=""
for ((i = 0; i < 100; i++)); do
        h=$(holders)
        [ "$h" = "$owner" ] && healed=$h && break
        sleep 0.1
done
tap_is "$healed" "$owner" "partition healed: only $owner holds $VIP"
sleep 0.5
tap_is "$(ask)" "$owner" "the client reaches $owner again"

# --- the capture: never two nodes answering longer than dead_after_ms ---
sleep 0.3
lan_capture_stop
/usr/bin/python3 "$(dirname "$0")/../lib/arp-double.py" "$tmp/all.pcap" "$VIP" 15 >"$tmp/double.txt"
read -r nreq ndouble longest <"$tmp/double.txt"
tap_diag "ARP requests: $nreq, answered by two nodes: $ndouble, longest run: $longest ms"
tail -n +2 "$tmp/double.txt" | while read -r line; do tap_diag "$line"; done
tap_diag "phases (ms from the start of the capture): ${PHASES[*]}"
tap_ok "the client asked often enough to judge (>= 200 requests)" [ "${nreq:-0}" -ge 200 ]
tap_ok "never two nodes answering for longer than dead_after_ms ($DEAD_MS)" [ "${longest:-99999}" -le "$DEAD_MS" ]

for n in "${NODES[@]}"; do
        tap_ok "$n still running" kill -0 "${PID[$n]}"
done
tap_done
