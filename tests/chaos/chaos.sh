#!/bin/bash
# SPDX-License-Identifier: MIT
# Chaos run (issue 9, "Also"): CHAOS_NODES (4; 3..5) mlbd nodes at default timings share
# 12 IPv4 and 2 IPv6 Service addresses (192.0.2.150-161, 2001:db8::150-151, from the
# Services' status); each node has a bridge stand-in on its control socket (hello,
# subscribed, full sync; node1's is the leader) that reconnects whenever its mlbd
# restarts, and a loop of short socket clients (hello + status to a random node, every
# ~100 ms) runs throughout. For CHAOS_SECONDS (600) one fault after another, chosen at
# random with a printed seed (CHAOS_SEED replays a run), each on one random node:
#   kill9      kill -9, `mlbd --flush` (ExecStopPost), restart 0.3-2 s later
#   term       SIGTERM (planned restart), start again at once
#   linkdown   the node's eth0 down for 1-3 s
#   partition  the node's switch port down for 1-3 s
#   reload     SIGHUP (log_level toggled)
# then, once each address is held by exactly one node (bounded), 0.2-1.5 s of quiet.
# Judges (dead_after_ms 400), from a prober asking ARP for every IPv4 address every 10 ms
# from its own namespace (a fresh who-has, tests/lib/cached-client arp) and from a client
# sending to every address every 10 ms through its own neighbour cache (cached-client udp):
#   - never two nodes answering one address for longer than dead_after_ms + 100 ms;
#   - no address unanswered, nor lost by the client, for longer than dead_after_ms + 200
#     ms (one node at most is faulted at a time, so a live eligible node always exists);
#   - no allocation ever changes: no `allocated` with another address and no `released` to
#     any bridge, and the leader's services reply unchanged at the end (`allocation_failed`
#     is listed: a node that cannot announce, e.g. with its link down, says so);
#   - every mlbd runs and answers at the end.
# Prints the figures and, for each violation, the fault that came just before it.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/client.sh"
lan_require_root
[ -x "$CACHED_CLIENT" ] || { echo "Bail out! $CACHED_CLIENT is not built"; exit 1; }

CHAOS_SECONDS=${CHAOS_SECONDS:-600}
CHAOS_NODES=${CHAOS_NODES:-4}
SEED=${CHAOS_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
if ! [[ $CHAOS_SECONDS =~ ^[0-9]+$ ]] || [ "$CHAOS_SECONDS" -lt 10 ] || [ "$CHAOS_SECONDS" -gt 86400 ]; then
        echo "Bail out! CHAOS_SECONDS must be 10..86400"
        exit 1
fi
[[ $CHAOS_NODES =~ ^[345]$ ]] || { echo "Bail out! CHAOS_NODES must be 3..5"; exit 1; }
[[ $SEED =~ ^[0-9]+$ ]] || { echo "Bail out! CHAOS_SEED must be a number"; exit 1; }
RANDOM=$SEED
echo "# seed $SEED (CHAOS_SEED=$SEED replays the choice of faults), $CHAOS_NODES nodes, ${CHAOS_SECONDS}s"
DEAD_MS=400
DOUBLE_BOUND=$((DEAD_MS + 100))
DARK_BOUND=$((DEAD_MS + 200))

NODES=()
PEERS=
for ((i = 1; i <= CHAOS_NODES; i++)); do
        NODES+=("node$i")
        PEERS+="${PEERS:+, }node$i=192.0.2.$i"
done
ADDR4=()
for i in $(seq 150 161); do ADDR4+=("192.0.2.$i"); done
ADDRS=("${ADDR4[@]}" 2001:db8::150 2001:db8::151)
N=${#ADDRS[@]}
lan_setup "${NODES[@]}" client probe || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key

svcs=""
for ((i = 0; i < N; i++)); do
        fam=IPv4
        [ "${ADDRS[$i]#*:}" != "${ADDRS[$i]}" ] && fam=IPv6
        svcs+="${svcs:+,}{\"metadata\":{\"namespace\":\"chaos\",\"name\":\"s$i\",\"uid\":\"u$i\"},\"spec\":{\"type\":\"LoadBalancer\",\"ipFamilies\":[\"$fam\"],\"ports\":[{\"protocol\":\"UDP\",\"port\":$CLIENT_PORT}]},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"${ADDRS[$i]}\"}]}}}"
        echo "chaos/s$i ${ADDRS[$i]}" >>"$tmp/alloc.want"
done
SYNC="{\"op\":\"sync\",\"id\":3,\"services\":[$svcs],\"endpointslices\":[],\"nodes\":[],\"namespaces\":[]}"

declare -A PID BRIDGE
now_ms() { date +%s%3N; }
event() { echo "$(now_ms) $*" >>"$tmp/events"; }
# Drops PID (reaped) from lan_cleanup's list: the system may hand the PID out again.
forget() {
        local p keep=()
        for p in "${LAN_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
        LAN_PIDS=("${keep[@]}")
}
# RND = a random number in [LO, HI] (in the main shell: $RANDOM stays seeded)
rnd() { RND=$(($1 + RANDOM % ($2 - $1 + 1))); }

start_node() {
        local n=$1 hello k
        daemon_start "$n" "$tmp/$n" || return 1
        PID[$n]=$DAEMON_PID
        hello="{\"op\":\"hello\",\"id\":1,\"version\":1,\"client\":\"mlbd-bridge\",\"node\":\"$n\",\"subscribe\":true}"
        k=$(now_ms)
        # The bridge stand-in stays connected until mlbd closes the socket (the regex never
        # matches); its log keeps every notification mlbd sends.
        if [ "$n" = node1 ]; then
                lan_bg "$n" "$tmp/$n/bridge.$k.log" "$PY" "$CTL" "$tmp/$n/mlbd.sock" \
                        --until '^NEVER$' --timeout 86400 "$hello" "$LEADER" "$SYNC"
        else
                lan_bg "$n" "$tmp/$n/bridge.$k.log" "$PY" "$CTL" "$tmp/$n/mlbd.sock" \
                        --until '^NEVER$' --timeout 86400 "$hello" "$SYNC"
        fi
        BRIDGE[$n]=$LAN_LAST_PID
        lan_wait_for "$tmp/$n/bridge.$k.log" '"id": *3' 10
}
stop_node() { # NODE SIG
        local n=$1 rc
        DAEMON_PID=${PID[$n]}
        daemon_stop "$2"
        rc=$?
        forget "${PID[$n]}"
        PID[$n]=
        kill "${BRIDGE[$n]}" 2>/dev/null
        wait "${BRIDGE[$n]}" 2>/dev/null
        forget "${BRIDGE[$n]}"
        BRIDGE[$n]=
        return $rc
}
# "ADDR NODE" for every service address held by a node
held() {
        local n
        for n in "${NODES[@]}"; do
                lan_exec "$n" ip -o addr show dev eth0 |
                        awk -v n="$n" '$4 ~ /\/(32|128)$/ { sub(/\/.*/, "", $4); print $4, n }'
        done | sort
}
# Waits (bounded, 15 s) until each address is held by exactly one node.
settled() {
        local i
        for ((i = 0; i < 75; i++)); do
                held >"$tmp/held"
                [ "$(wc -l <"$tmp/held")" -eq "$N" ] &&
                        [ "$(cut -d' ' -f1 "$tmp/held" | sort -u | wc -l)" -eq "$N" ] && return 0
                sleep 0.2
        done
        return 1
}

for n in "${NODES[@]}"; do
        client_serve "$n" "$n"
        daemon_conf "$tmp/$n" "$n" "$PEERS" || { echo "Bail out! config"; exit 1; }
done
for n in "${NODES[@]}"; do
        start_node "$n" || { echo "Bail out! $n did not start"; exit 1; }
done
settled || { echo "Bail out! the cluster did not settle: $(tr '\n' ' ' <"$tmp/held")"; exit 1; }
tap_diag "layout: $(awk '{ print $2 }' "$tmp/held" | sort | uniq -c | tr '\n' ' ')"

# the judges, for the whole run (stopped by SIGTERM at its end)
MAX_MS=$(((CHAOS_SECONDS + 120) * 1000))
arp_probe_start probe "$tmp/prober.out" "$MAX_MS" "${ADDR4[@]}"
client_start client "$tmp/client.out" "$MAX_MS" "${ADDRS[@]}"
# short socket clients, reconnecting all the time
(
        ok=0 fail=0
        for ((k = 0; k < 1000000; k++)); do
                [ -e "$tmp/stop" ] && break
                n=node$((RANDOM % CHAOS_NODES + 1))
                if timeout 5 "$PY" "$CTL" "$tmp/$n/mlbd.sock" --until '"op": *"status"' --timeout 2 \
                        "$TEST_HELLO" '{"op":"status","id":"st"}' >/dev/null 2>&1; then
                        ok=$((ok + 1))
                else
                        fail=$((fail + 1))
                fi
                sleep 0.1
        done
        echo "$ok $fail" >"$tmp/sockets.out"
) &
SOCK_PID=$!
LAN_PIDS+=("$SOCK_PID")
sleep 1

KINDS=(kill9 term linkdown partition reload)
declare -A FAULTS
for k in "${KINDS[@]}"; do FAULTS[$k]=0; done
unsettled=0
end=$((SECONDS + CHAOS_SECONDS))
while ((SECONDS < end)); do
        rnd 0 $((${#KINDS[@]} - 1))
        kind=${KINDS[$RND]}
        rnd 1 "$CHAOS_NODES"
        n=node$RND
        event "$kind $n"
        case $kind in
        kill9)
                stop_node "$n" KILL
                lan_exec "$n" "$MLBD" -c "$tmp/$n/mlbd.conf" --flush >/dev/null 2>&1
                rnd 3 20
                sleep "$((RND / 10)).$((RND % 10))"
                start_node "$n" || tap_diag "$n did not restart after kill -9"
                ;;
        term)
                stop_node "$n" TERM || tap_diag "$n: SIGTERM exit status $?"
                start_node "$n" || tap_diag "$n did not restart after SIGTERM"
                ;;
        linkdown)
                lan_exec "$n" ip link set eth0 down
                rnd 10 30
                sleep "$((RND / 10)).$((RND % 10))"
                lan_exec "$n" ip link set eth0 up
                # an administrative down flushes the host's own IPv6 addresses (Linux,
                # keep_addr_on_down = 0); its network manager puts them back on up, as
                # lan_setup made them: without its /64 the node has no IPv6 route at all
                lan_exec "$n" ip -6 addr replace "$(lan_ip6 "$n")/64" dev eth0 nodad
                ;;
        partition)
                lan_link "$n" down
                rnd 10 30
                sleep "$((RND / 10)).$((RND % 10))"
                lan_link "$n" up
                ;;
        reload)
                if grep -q '^log_level = debug' "$tmp/$n/mlbd.conf"; then
                        sed -i 's/^log_level = debug/log_level = info/' "$tmp/$n/mlbd.conf"
                else
                        sed -i 's/^log_level = info/log_level = debug/' "$tmp/$n/mlbd.conf"
                fi
                kill -HUP "${PID[$n]}"
                sleep 0.5
                daemon_status "$tmp/$n" >/dev/null || tap_diag "$n does not answer after SIGHUP"
                ;;
        esac
        event "end $kind $n"
        FAULTS[$kind]=$((FAULTS[$kind] + 1))
        if ! settled; then
                unsettled=$((unsettled + 1))
                tap_diag "not settled 15 s after $kind $n: $(tr '\n' ' ' <"$tmp/held")"
        fi
        rnd 2 15
        sleep "$((RND / 10)).$((RND % 10))"
done
event "end of faults"
sleep 1

# the leader's view of the allocations at the end
services=$(daemon_ctl "$tmp/node1" --until '"op": *"services"' --timeout 5 "$TEST_HELLO" \
        '{"op":"services","id":"s"}' | grep '"op": *"services"')
json_get "$services" '"\n".join(sorted(s["namespace"] + "/" + s["name"] + " " + " ".join(s["addresses"]) for s in j["services"]))' \
        >"$tmp/alloc.end" 2>/dev/null

touch "$tmp/stop"
wait "$SOCK_PID" 2>/dev/null
forget "$SOCK_PID"
client_stop "$PROBE_PID"
client_stop "$CLIENT_PID"

# --- figures ---
faults=
for k in "${KINDS[@]}"; do faults+="$k=${FAULTS[$k]} "; done
read -r sock_ok sock_fail <"$tmp/sockets.out"
tap_diag "figures: faults ${faults}; not settled within 15 s: $unsettled; socket clients ${sock_ok:-0} answered, ${sock_fail:-0} not (their node was down)"
client_report "$tmp/prober.out"
client_report "$tmp/client.out"

# The fault just before absolute time $1 (ms): "KIND NODE at +MS" (relative to $2).
fault_before() {
        awk -v t="$1" -v t0="$2" '$1 <= t && $2 != "end" { last = sprintf("%s %s at +%d ms", $2, $3, $1 - t0) }
                END { print (last ? last : "before any fault") }' "$tmp/events"
}
# check OUT FIELD AT_FIELD BOUND WHAT: one violation line per address over BOUND
violations() {
        local out=$1 field=$2 at=$3 bound=$4 what=$5 t0 a v t
        t0=$(client_summary "$out" start_unix_ms)
        while read -r a; do
                v=$(client_field "$out" "$a" "$field")
                t=$(client_field "$out" "$a" "$at")
                if [ "${v:-99999}" -gt "$bound" ]; then
                        echo "violation: $a $what ${v:-?} ms (> $bound) from +${t:-?} ms, after $(fault_before $((t0 + ${t:-0})) "$t0")"
                fi
        done < <(awk '$1 != "summary" { print $1 }' "$out")
}
violations "$tmp/prober.out" longest_double_ms double_at_ms "$DOUBLE_BOUND" "answered by two nodes for" >"$tmp/v.double"
violations "$tmp/prober.out" longest_unanswered_ms unanswered_at_ms "$DARK_BOUND" "unanswered for" >"$tmp/v.dark"
violations "$tmp/client.out" longest_gap_ms gap_at_ms "$DARK_BOUND" "lost by the cached client for" >"$tmp/v.lost"
cat "$tmp"/*/bridge.*.log 2>/dev/null | "$PY" -c '
import json, sys
want = dict(l.split() for l in open(sys.argv[1]))
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    op = m.get("op")
    if op == "allocated" and " ".join(m.get("addresses", [])) != want.get(m.get("service")):
        print("violation: allocated", m.get("service"), m.get("addresses"))
    elif op == "released":
        print("violation: released", m.get("service"), m.get("addresses", ""))
    elif op == "allocation_failed":
        print("refused:", m.get("service"), m.get("reason"))
' "$tmp/alloc.want" | sort | uniq -c | sed 's/^ *//' >"$tmp/v.notes"
grep 'violation:' "$tmp/v.notes" >"$tmp/v.alloc"
# A node that cannot announce says so (allocation_failed, e.g. while its link is down):
# not an allocation change; shown, and judged by the losses it causes.
grep 'refused:' "$tmp/v.notes" | while IFS= read -r line; do tap_diag "allocation_failed to a bridge: $line"; done
sort -o "$tmp/alloc.want" "$tmp/alloc.want"
cmp -s "$tmp/alloc.want" "$tmp/alloc.end" ||
        echo "violation: the leader's services reply at the end: $(tr '\n' ';' <"$tmp/alloc.end")" >>"$tmp/v.alloc"
for f in double dark lost alloc; do
        while IFS= read -r line; do tap_diag "$line"; done <"$tmp/v.$f"
done

tap_diag "figures: prober longest double $(client_summary "$tmp/prober.out" longest_double_ms) ms, longest unanswered $(client_summary "$tmp/prober.out" longest_unanswered_ms) ms; client lost $(client_summary "$tmp/client.out" lost) of $(client_summary "$tmp/client.out" sent), longest gap $(client_summary "$tmp/client.out" longest_gap_ms) ms"
tap_ok "the judges ran (prober and client figures for every address)" \
        [ "$(grep -vc '^summary' "$tmp/prober.out")" = "${#ADDR4[@]}" ] && [ "$(grep -vc '^summary' "$tmp/client.out")" = "$N" ]
tap_is "$(wc -l <"$tmp/v.double")" 0 "never two nodes answering longer than $DOUBLE_BOUND ms (addresses over it)"
tap_is "$(wc -l <"$tmp/v.dark")" 0 "no address unanswered longer than $DARK_BOUND ms (addresses over it)"
tap_is "$(wc -l <"$tmp/v.lost")" 0 "no address lost by the cached client longer than $DARK_BOUND ms (addresses over it)"
tap_is "$(wc -l <"$tmp/v.alloc")" 0 "no allocation changed (violations)"
answers() { kill -0 "${PID[$1]}" 2>/dev/null && daemon_status "$tmp/$1" >/dev/null; }
for n in "${NODES[@]}"; do
        tap_ok "$n runs and answers" answers "$n"
done
echo "# seed $SEED"
tap_done
