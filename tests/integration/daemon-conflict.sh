#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd refuses to announce an address somebody else already uses: the client holds
# 192.0.2.150, so the conflict probe sees its ARP reply and the Service gets
# allocation_failed naming the client's MAC; nothing lands on node1. A Service whose
# status already shows an address outside every pool (203.0.113.9) is never announced.
# A claim by another host on an owned address is logged and counted; mlbd keeps it and
# defends it at once (an observer's neighbour cache comes back to node1), at most once a
# second. A refusal is not forever: the address is probed again (5 s, then doubling) with
# an allocation_failed each time it is still in use, at once when the Service changes or
# on a reload, and taken once the other host let it go.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client observer || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MACC=$(lan_mac client)
MAC1=$(lan_mac node1)
neigh_mac() { lan_exec observer ip neigh show "$1" dev eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'; }
lan_exec client ip addr add 192.0.2.150/24 dev eth0

daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }

out=$(daemon_session "$tmp" '"(allocation_failed|node_assigned)"' \
        "$(upsert_msg 3 "$(svc_json demo nginx-service u1)")")
tap_diag "$out"
fail=$(grep '"op": *"allocation_failed"' <<<"$out")
tap_ok "the first Service gets allocation_failed" [ -n "$fail" ]
reason=$(json_get "${fail:-{\}}" 'j.get("reason","")' 2>/dev/null)
tap_ok "reason says 'in use on the network by $MACC' (got: $reason)" \
        grep -q "in use on the network by $MACC" <<<"$reason"
tap_ok "no node_assigned" not grep -q '"node_assigned"' <<<"$out"
sleep 0.5 # longer than the probe; the address must not turn up late
tap_ok "192.0.2.150 is not on node1" not host_has_addr node1 192.0.2.150
tap_ok "the client still owns 192.0.2.150" host_has_addr client 192.0.2.150

# A status address outside every pool: never announced.
obj='{"metadata":{"namespace":"demo","name":"foreign","uid":"u2"},"spec":{"type":"LoadBalancer","selector":{"app":"x"},"ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.9"}]}}}'
out=$(daemon_session "$tmp" '"(allocation_failed|node_assigned)".*demo/foreign' "$(upsert_msg 4 "$obj")")
tap_diag "$out"
tap_ok "Service with status 203.0.113.9 (in no pool) gets allocation_failed" \
        grep -q '"op": *"allocation_failed".*demo/foreign' <<<"$out"
sleep 0.5
tap_ok "203.0.113.9 is on none of node1's interfaces" not host_has_addr_any node1 203.0.113.9
tap_is "$(addr_protos node1 | grep -c 'proto 109$')" 0 "node1 has no address tagged by mlbd"
st=$(daemon_status "$tmp")
tap_diag "$st"
tap_is "$(json_get "$st" 'j["owned"]')" "[]" "status: mlbd owns no address"

# While owned, a foreign claim is logged and counted, and mlbd keeps the address (RFC 5227
# §2.4: never fight forever). Two owned addresses share one listening ARP socket.
# (until the first allocation: the leader allocates both in one reconcile, then may go)
out=$(daemon_session "$tmp" '"op": *"allocated"' "$(upsert_msg 5 "$(svc_json demo one u3)")" \
        "$(upsert_msg 6 "$(svc_json demo two u4)")")
tap_diag "$out"
owned=""
for ((i = 0; i < 50; i++)); do # both probes done (bounded: 5 s)
        owned=$(json_get "$(daemon_status "$tmp")" '" ".join(j["owned"])')
        [ "$(wc -w <<<"$owned")" -eq 2 ] && break
        sleep 0.1
done
read -r a1 a2 <<<"$owned"
tap_ok "two more Services own two addresses ($owned)" [ -n "$a2" ]
# /proc/net/packet of node1's namespace: type 2 (SOCK_DGRAM), protocol 0806 (ARP)
arp_sockets=$(lan_exec node1 awk 'NR > 1 && $3 == 2 && $4 == "0806"' /proc/net/packet | wc -l)
tap_is "$arp_sockets" 1 "one listening ARP socket on node1 for both owned addresses"
lan_exec client "$NET_TOOL" announce eth0 "$a2" 2 20 >/dev/null
sleep 0.3
tap_is "$(grep -c "$a2 is claimed on the LAN by $MACC" "$tmp/mlbd.log.run")" 1 \
        "the client's claim on $a2 is logged once at warning level (repeats at debug)"
tap_ok "and counted: the second claim too" grep -q "$a2 claimed again by $MACC (2)" "$tmp/mlbd.log.run"
tap_is "$(grep -c "$a1 is claimed" "$tmp/mlbd.log.run")" 0 "no claim is reported against $a1"
tap_ok "node1 keeps $a2" host_has_addr node1 "$a2"

# The defence, judged by a host with a neighbour cache: the observer talks to $a2 (entry
# for node1), the client claims $a2 (the observer's entry follows it), node1 answers at
# once and the observer's entry is node1's again.
sleep 1 # past the defence interval of the claims above
lan_exec observer sysctl -qw net.ipv4.conf.eth0.arp_accept=1
lan_exec observer ping -c1 -W1 "$a2" >/dev/null
tap_is "$(neigh_mac "$a2")" "$MAC1" "the observer's neighbour cache maps $a2 to node1"
lan_capture_start sw1 "$tmp/defend.pcap"
lan_exec client "$NET_TOOL" announce eth0 "$a2" 1 0 >/dev/null
sleep 0.7 # two heartbeat intervals of grace, then the defence
lan_capture_stop
garp2="ether src $MAC1 and arp and arp[14:4] = 0x$(printf '%02x' ${a2//./ })"
tap_ok "node1 defends $a2 on the wire after the claim" [ "$(lan_capture_count "$tmp/defend.pcap" "$garp2")" -ge 1 ]
tap_is "$(neigh_mac "$a2")" "$MAC1" "and the observer's cache maps $a2 to node1 again"
lan_capture_start sw1 "$tmp/flood.pcap"
lan_exec client "$NET_TOOL" announce eth0 "$a2" 50 20 >/dev/null # 50 claims in 1 s
sleep 1.2
lan_capture_stop
n=$(lan_capture_count "$tmp/flood.pcap" "$garp2")
tap_diag "50 claims in 1 s: node1 sent $n announcements for $a2"
tap_ok "a flood of claims is answered at most once a second (+ one trailing), not once per claim" \
        eval '[ "$n" -ge 1 ] && [ "$n" -le 9 ]'
tap_is "$(neigh_mac "$a2")" "$MAC1" "after the flood the observer's cache maps $a2 to node1"
tap_ok "claims are logged at warning at most once per 10 s" \
        [ "$(grep -c "$a2: host $MACC also claims" "$tmp/mlbd.log.run")" -le 2 ]

# The refused 192.0.2.150 is probed again: still in use after 5 s (a second
# allocation_failed, counted), at once when the Service changes, then free after the
# client let it go and a reload.
for ((i = 0; i < 100; i++)); do grep -q 'seen by 2 probes' "$tmp/mlbd.log.run" && break; sleep 0.1; done
tap_ok "192.0.2.150 is probed again by itself and still refused (seen by 2 probes)" \
        grep -q '192\.0\.2\.150 is in use on the network by .*seen by 2 probes' "$tmp/mlbd.log.run"
out=$(daemon_session "$tmp" '"allocation_failed".*seen by 3 probes' \
        "$(upsert_msg 7 "$(svc_json demo nginx-service u1)")")
tap_ok "a changed Service is probed again at once: allocation_failed (seen by 3 probes)" \
        grep -q '"op": *"allocation_failed".*demo/nginx-service.*seen by 3 probes' <<<"$out"
tap_ok "192.0.2.150 is still not on node1" not host_has_addr node1 192.0.2.150
lan_exec client ip addr del 192.0.2.150/24 dev eth0
kill -HUP "$DAEMON_PID"
tap_ok "after the client let it go and a reload, 192.0.2.150 is on node1" wait_addr node1 192.0.2.150 3
st=$(daemon_status "$tmp")
tap_ok "status: node1 owns 192.0.2.150" grep -q '192\.0\.2\.150' <<<"$(json_get "$st" 'j["owned"]')"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
