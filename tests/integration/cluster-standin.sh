#!/bin/bash
# SPDX-License-Identifier: MIT
# An owner that cannot hold its address (alive, but with no IPv6 route on its LAN side:
# every add fails) must not leave it dark: the node that holds it keeps it until the
# owner holds it, and past the stand-in grace (2 x dead_after_ms + 1 s) stands in for
# it; once the owner can hold it again it takes it back, make before break. Judged by a
# client with a neighbour cache (ping6 through the kernel).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root ping

NODES=(node1 node2)
lan_setup node1 node2 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2"
VIP=2001:db8::150
declare -A PID
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "$PEERS" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! $n did not start"; exit 1; }
        PID[$n]=$DAEMON_PID
done
SVC='{"metadata":{"namespace":"demo","name":"v6","uid":"u1"},"spec":{"type":"LoadBalancer","ipFamilies":["IPv6"],"ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"'$VIP'"}]}}}'
SYNC='{"op":"sync","id":3,"services":['$SVC'],"endpointslices":[],"nodes":[],"namespaces":[]}'
for n in "${NODES[@]}"; do
        daemon_ctl "$tmp/$n" --until '"id": *3' --timeout 5 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3' ||
                { echo "Bail out! sync to $n"; exit 1; }
done
holder() { local n; for n in "${NODES[@]}"; do host_has_addr "$n" "$VIP" && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'; }
for ((i = 0; i < 50; i++)); do [ -n "$(holder)" ] && break; sleep 0.1; done
owner=$(holder)
for other in "${NODES[@]}"; do [ "$other" != "$owner" ] && break; done
tap_ok "one node holds $VIP ($owner)" eval '[ -n "$owner" ] && [ "$owner" = "${owner// /}" ]'

# the owner crashes; while it is down its IPv6 configuration goes (no route any more).
# It crashes after state.json records the allocation (written at most every 100 ms): it
# knows the Service on its return without a bridge's sync.
for ((i = 0; i < 50; i++)); do grep -q "$VIP" "$tmp/$owner/state/state.json" 2>/dev/null && break; sleep 0.1; done
DAEMON_PID=${PID[$owner]}
daemon_stop KILL
lan_exec "$owner" "$MLBD" -c "$tmp/$owner/mlbd.conf" --flush >/dev/null 2>&1
tap_ok "after kill -9 of $owner, $other holds $VIP" wait_addr "$other" "$VIP" 5
lan_exec "$owner" ip -6 addr del "$(lan_ip6 "$owner")/64" dev eth0
lan_bg client "$tmp/ping.out" ping -6 -n -i 0.01 -W 0.2 -w 8 "$VIP"
PING=$LAN_LAST_PID
daemon_start "$owner" "$tmp/$owner" || { echo "Bail out! $owner did not restart"; exit 1; }
PID[$owner]=$DAEMON_PID
sleep 4 # past the stand-in grace (2 x 400 ms + 1 s)
tap_ok "$owner, back but unable, says why (no interface/route for $VIP)" \
        grep -q "no interface to announce $VIP on" "$tmp/$owner/mlbd.log.run"
tap_is "$(holder)" "$other" "$other still holds $VIP (it stands in for $owner)"
wait "$PING"
lost=$(grep -o '[0-9.]*% packet loss' "$tmp/ping.out" | cut -d% -f1)
tap_diag "$(tail -2 "$tmp/ping.out")"
tap_ok "a client pinging $VIP every 10 ms through its cache lost under 5% in those 8 s (${lost:-?}%)" \
        awk -v l="${lost:-100}" 'BEGIN { exit !(l < 5) }'

# the owner's IPv6 comes back: its retry takes the address, the stand-in lets go
lan_exec "$owner" ip -6 addr add "$(lan_ip6 "$owner")/64" dev eth0 nodad
for ((i = 0; i < 150; i++)); do [ "$(holder)" = "$owner" ] && break; sleep 0.1; done
tap_is "$(holder)" "$owner" "with its route back, $owner takes $VIP back and $other lets go"
for n in "${NODES[@]}"; do tap_ok "$n still running" kill -0 "${PID[$n]}"; done
tap_done
