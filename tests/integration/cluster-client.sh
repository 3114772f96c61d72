#!/bin/bash
# SPDX-License-Identifier: MIT
# What a real client sees (issue 9 item 10). Three mlbd nodes share 12 Service addresses
# (192.0.2.150-158, 2001:db8::150-152, from the Services' status). Every node answers UDP
# with its name (tests/lib/cached-client serve); a client sends a datagram to every
# address every 10 ms through the kernel, i.e. through its own ARP/ND cache with the
# default sysctls, never a fresh who-has (tests/lib/cached-client udp), and counts the
# losses per address. Judged, at default timings (dead_after_ms 400):
#   (a) kill -9 of a node (then `mlbd --flush`, as ExecStopPost): 0 lost on the addresses
#       of the other nodes; at most dead_after_ms + 200 ms in a row on the dead node's;
#       and 0 lost while it comes back and takes its addresses back;
#   (b) a partition: a node's switch port cut for 2 s, then restored (each node in turn): 0 lost on the
#       addresses whose owner never failed; at most dead_after_ms + 200 ms on the cut
#       node's (while cut off and while it takes them back);
#   (c) a planned restart (SIGTERM, start again) of all three nodes one after another:
#       0 lost on every address;
#   (d) the same with heartbeat_interval_ms = 20, dead_after_ms = 80;
#   (e) an owner whose loop stops for dead_after_ms + 300 ms (SIGSTOP, then SIGCONT):
#       0 lost on every address (its peers take its addresses meanwhile and give them
#       back).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/client.sh"
lan_require_root
[ -x "$CACHED_CLIENT" ] || { echo "Bail out! $CACHED_CLIENT is not built"; exit 1; }

NODES=(node1 node2 node3)
ADDRS=()
for i in $(seq 150 158); do ADDRS+=("192.0.2.$i"); done
for i in 150 151 152; do ADDRS+=("2001:db8::$i"); done
N=${#ADDRS[@]}
lan_setup node1 node2 node3 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2, node3=192.0.2.3"
DEAD_MS=400
declare -A PID

svcs=""
for ((i = 0; i < N; i++)); do
        fam=IPv4
        [ "${ADDRS[$i]#*:}" != "${ADDRS[$i]}" ] && fam=IPv6
        svcs+="${svcs:+,}{\"metadata\":{\"namespace\":\"demo\",\"name\":\"s$i\",\"uid\":\"u$i\"},\"spec\":{\"type\":\"LoadBalancer\",\"ipFamilies\":[\"$fam\"],\"ports\":[{\"protocol\":\"UDP\",\"port\":$CLIENT_PORT}]},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"${ADDRS[$i]}\"}]}}}"
done
SYNC="{\"op\":\"sync\",\"id\":3,\"services\":[$svcs],\"endpointslices\":[],\"nodes\":[],\"namespaces\":[]}"

# conf_all [HB DEAD]: mlbd.conf for every node, with tuned timings when given.
conf_all() {
        local n
        for n in "${NODES[@]}"; do
                daemon_conf "$tmp/$n" "$n" "$PEERS" || return 1
                if [ -n "${1:-}" ]; then
                        sed -i "/^\[cluster\]/a heartbeat_interval_ms = $1\ndead_after_ms = $2" \
                                "$tmp/$n/mlbd.conf" || return 1
                fi
        done
}
start_node() {
        daemon_start "$1" "$tmp/$1" || return 1
        PID[$1]=$DAEMON_PID
        daemon_ctl "$tmp/$1" --until '"id": *3' --timeout 10 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3'
}
stop_node() { # NODE SIG
        DAEMON_PID=${PID[$1]}
        daemon_stop "$2"
        local rc=$?
        PID[$1]=
        return $rc
}
# "ADDR NODE" for every service address (/32 or /128 on eth0) held by the given nodes
held() {
        local n
        for n in "$@"; do
                lan_exec "$n" ip -o addr show dev eth0 |
                        awk -v n="$n" '$4 ~ /\/(32|128)$/ { sub(/\/.*/, "", $4); print $4, n }'
        done | sort
}
# Waits (bounded, 10 s) until each address is held by exactly one of the given nodes
# (and, with WANT set to a file, by the node it names there).
settled() {
        local i
        for ((i = 0; i < 100; i++)); do
                held "$@" >"$tmp/held"
                if [ "$(wc -l <"$tmp/held")" -eq "$N" ] &&
                        [ "$(cut -d' ' -f1 "$tmp/held" | sort -u | wc -l)" -eq "$N" ] &&
                        { [ -z "${WANT:-}" ] || cmp -s "$tmp/held" "$WANT"; }; then
                        return 0
                fi
                sleep 0.1
        done
        return 1
}
owned_by() { awk -v n="$1" '$2 == n { print $1 }' "$tmp/before"; }
not_owned_by() { awk -v n="$1" '$2 != n { print $1 }' "$tmp/before"; }

# "LOST ADDR:LOST,..." summed over the given addresses of a client output (the list
# names only addresses that lost something)
lost_on() {
        local out=$1 a l sum=0 list=
        shift
        for a in "$@"; do
                l=$(client_field "$out" "$a" lost)
                sum=$((sum + ${l:-99999}))
                [ "${l:-x}" != 0 ] && list+="${list:+,}$a:${l:-none}"
        done
        echo "$sum ${list:--}"
}
# the longest gap (ms) over the given addresses
gap_on() {
        local out=$1 a g max=0
        shift
        for a in "$@"; do
                g=$(client_field "$out" "$a" longest_gap_ms)
                [ "${g:-99999}" -gt "$max" ] && max=${g:-99999}
        done
        echo "$max"
}
# judge_none OUT WHAT ADDR...: 0 lost on ADDR...
judge_none() {
        local out=$1 what=$2 sum list
        shift 2
        read -r sum list < <(lost_on "$out" "$@")
        tap_is "$sum" 0 "$what: 0 lost on $# addresses (lost: $list)"
}
# judge_gap OUT WHAT BOUND ADDR...: no gap over BOUND ms on ADDR...
judge_gap() {
        local out=$1 what=$2 bound=$3 g
        shift 3
        g=$(gap_on "$out" "$@")
        tap_ok "$what: longest gap $g ms <= $bound ms on $# addresses" [ "$g" -le "$bound" ]
}
# client_run: a cached client from the client namespace over every address, for at most
# 120 s (stopped by client_stop once the phase is over). Each phase starts with an empty
# neighbour cache, so that what one phase left in it is not judged in the next.
client_run() {
        lan_exec client ip neigh flush dev eth0
        client_start client "$tmp/$1.client" 120000 "${ADDRS[@]}"
        sleep 0.5 # the client's caches are filled
}
# the client's neighbour cache has the holder's MAC for every address of FILE
# ("ADDR NODE" lines)
cache_right() {
        local a n
        while read -r a n; do
                lan_exec client ip neigh show "$a" dev eth0 | grep -q "lladdr $(lan_mac "$n") " ||
                        return 1
        done <"$1"
}
# client_end TAG [FILE]: waits (bounded, 15 s: a wrong cache entry lasts until the
# client's NUD gives up, DELAY 5 s then unicast probes) until the client's cache points at
# the holders of FILE (default: the layout before the faults), 1 s more, then stops the
# client and reports its figures.
client_end() {
        local i
        for ((i = 0; i < 150; i++)); do
                cache_right "${2:-$tmp/before}" && break
                sleep 0.1
        done
        [ "$i" -gt 0 ] && tap_diag "$1: the client's cache was right $((i / 10)).$((i % 10)) s after the fault ended"
        sleep 1
        client_stop "$CLIENT_PID"
        client_report "$tmp/$1.client"
}

for n in "${NODES[@]}"; do client_serve "$n" "$n"; done
conf_all || { echo "Bail out! config"; exit 1; }
for n in "${NODES[@]}"; do
        start_node "$n" || { echo "Bail out! $n did not start"; exit 1; }
done
tap_ok "each of the $N addresses is held by exactly one node" settled "${NODES[@]}"
cp "$tmp/held" "$tmp/before"
tap_diag "$(awk '{ print $2 }' "$tmp/before" | sort | uniq -c | tr '\n' ' ')"

# steady state: nothing is lost
client_run steady
client_end steady
judge_none "$tmp/steady.client" "steady state" "${ADDRS[@]}"

# --- (a) kill -9 of one node, then it returns ---
victim=node2
mapfile -t mine < <(owned_by "$victim")
mapfile -t others < <(not_owned_by "$victim")
tap_diag "$victim owns ${mine[*]}"
client_run kill
stop_node "$victim" KILL
lan_exec "$victim" "$MLBD" -c "$tmp/$victim/mlbd.conf" --flush >/dev/null 2>&1
tap_ok "after kill -9 of $victim the survivors hold every address" settled node1 node3
client_end kill "$tmp/held"
judge_none "$tmp/kill.client" "kill -9 of $victim" "${others[@]}"
[ "${#mine[@]}" -gt 0 ] &&
        judge_gap "$tmp/kill.client" "kill -9 of $victim, its own addresses" $((DEAD_MS + 200)) "${mine[@]}"

client_run return
start_node "$victim" || echo "# $victim did not restart"
WANT=$tmp/before tap_ok "$victim returned: every address held as before" settled "${NODES[@]}"
client_end return
judge_none "$tmp/return.client" "$victim returns after kill -9" "${ADDRS[@]}"

# --- (b) partition: each node's switch port cut for 2 s in turn ---
for victim in node3 node1 node2; do
        mapfile -t mine < <(owned_by "$victim")
        mapfile -t others < <(not_owned_by "$victim")
        tap_diag "$victim owns ${mine[*]}"
        client_run "partition-$victim"
        lan_link "$victim" down
        sleep 2
        lan_link "$victim" up
        WANT=$tmp/before tap_ok "partition of $victim healed: every address held as before" \
                settled "${NODES[@]}"
        client_end "partition-$victim"
        judge_none "$tmp/partition-$victim.client" \
                "partition of $victim for 2 s, addresses whose owner never failed" "${others[@]}"
        [ "${#mine[@]}" -gt 0 ] &&
                judge_gap "$tmp/partition-$victim.client" \
                        "partition of $victim for 2 s, its own addresses" $((DEAD_MS + 200)) \
                        "${mine[@]}"
done

# --- (e) a stalled owner: its loop stops for longer than dead_after_ms (SIGSTOP; a host
# that froze, a loop held by a slow step), its peers take its addresses and announce
# them, then it goes on holding them. The owner must answer at once, not after the peers
# let go (they do 50 ms after its heartbeats list the addresses again; a foreign claim is
# answered only after claim_grace, 100 ms or more): 0 lost on every address. The kernel
# of the stalled node still answers, so nothing is lost while it is stopped either.
victim=node3
mapfile -t mine < <(owned_by "$victim")
tap_diag "$victim owns ${mine[*]}"
client_run stall
kill -STOP "${PID[$victim]}"
sleep "$(echo "scale=3; ($DEAD_MS + 300) / 1000" | bc)"
took=$(held node1 node2 | awk '{ print $1 }' | grep -cxF -f <(printf '%s\n' "${mine[@]}"))
kill -CONT "${PID[$victim]}"
tap_ok "its peers took the $victim's addresses while it was stopped (${took:-0} of ${#mine[@]})" \
        [ "${took:-0}" -gt 0 ]
WANT=$tmp/before tap_ok "stall of $victim over: every address held as before" settled "${NODES[@]}"
client_end stall
judge_none "$tmp/stall.client" "$victim stopped for dead_after_ms + 300 ms, then going on" "${ADDRS[@]}"

# --- (c), (d) planned restart of every node, one after another ---
rolling() { # WHAT
        local n rc
        client_run "$1"
        for n in "${NODES[@]}"; do
                stop_node "$n" TERM
                rc=$?
                [ "$rc" = 0 ] || tap_diag "$1: $n exited $rc on SIGTERM"
                start_node "$n" || tap_diag "$1: $n did not restart"
                WANT=$tmp/before settled "${NODES[@]}" || tap_diag "$1: not settled after $n: $(tr '\n' ' ' <"$tmp/held")"
                sleep 1
        done
        client_end "$1"
        judge_none "$tmp/$1.client" "planned restart of node1, node2, node3 ($2)" "${ADDRS[@]}"
}
rolling restart "default timings"

# A fresh start with tuned timings (no state from the runs above: what a node restores
# at start is not what this part judges).
for n in "${NODES[@]}"; do stop_node "$n" TERM; done
for n in "${NODES[@]}"; do rm -rf "${tmp:?}/$n/state"; done
conf_all 20 80 || { echo "Bail out! tuned config"; exit 1; }
for n in "${NODES[@]}"; do
        start_node "$n" || { echo "Bail out! $n did not start (tuned)"; exit 1; }
done
WANT=$tmp/before tap_ok "tuned timings: every address held as before" settled "${NODES[@]}"
rolling restart-tuned "heartbeat_interval_ms 20, dead_after_ms 80"

for n in "${NODES[@]}"; do
        tap_ok "$n still running" kill -0 "${PID[$n]}"
done
tap_done
