#!/bin/bash
# SPDX-License-Identifier: MIT
# Pre-vetting (docs/cluster.md "Pre-vetting"): the leader probes ahead of demand the
# addresses its allocator hands out next, so a new Service is told "allocated" without
# waiting for a probe. One leader session (hello, leader, full sync) held open: after the
# pre-vets, Services a, b and c are each allocated well within a probe's time (a probe
# takes 250-320 ms) and no probe for their addresses follows the upserts (the capture
# holds the pre-vet's 2 ARP probes per address, no more). The client already uses
# 192.0.2.152, the third address of the pool: pre-vetting finds it (a probe conflict,
# counted and logged, the client's MAC named) and it is never handed out: c gets .153,
# and with the pool narrowed to .150-.153 by a reload, d finds the pool exhausted rather
# than get .152. The narrowed pool drops the pre-vets of the addresses it lost: widened
# again, d gets .154 only after a probe of its own (the vet from before is gone).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root tcpdump curl
STEPS=${top_srcdir:-$(dirname "$0")/../..}/tests/lib/ctl-steps.py
MLBCTL=${top_builddir:-.}/mlbctl

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MACC=$(lan_mac client)
MAC1=$(lan_mac node1)
lan_exec client ip addr add 192.0.2.152/24 dev eth0 # a host already using a pool address

daemon_conf "$tmp" node1 || { echo "Bail out! config"; exit 1; }
printf '\n[metrics]\nlisten = 192.0.2.1:7472\n' >>"$tmp/mlbd.conf"
cp "$tmp/pools.yaml" "$tmp/pools.wide"
sed 's/192.0.2.150-192.0.2.200/192.0.2.150-192.0.2.153/; s/2001:db8::150-2001:db8::1ff/2001:db8::150-2001:db8::153/' \
        "$tmp/pools.wide" >"$tmp/pools.narrow"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
metrics="ip netns exec $(lan_ns node1) curl -sf --max-time 3 http://192.0.2.1:7472/metrics"

lan_capture_start br0 "$tmp/prevet.pcap"
svc() { upsert_msg "$2" "$(svc_json demo "$1" "u$2")"; }
"$PY" "$STEPS" "$tmp/mlbd.sock" >"$tmp/session.out" 2>&1 <<EOF
> $HELLO
> $LEADER
> {"op":"sync","id":3,"services":[],"endpointslices":[],"nodes":[],"namespaces":[]}
until "id": *3 5
sleep 2
run $metrics >$tmp/m1
run date +%s.%N >$tmp/t_upsert
> $(svc a 4)
until "op": *"allocated".*"demo/a" 5
> $(svc b 5)
until "op": *"allocated".*"demo/b" 5
> $(svc c 6)
until "op": *"allocated".*"demo/c" 5
sleep 1
run $metrics >$tmp/m2
run ip netns exec $(lan_ns node1) ip -o addr show dev eth0 >$tmp/addrs2
run cp $tmp/pools.narrow $tmp/pools.yaml
> {"op":"reload","id":7}
until "id": *7 5
sleep 0.5
> $(svc d 8)
until "op": *"allocation_failed".*"demo/d" 5
sleep 0.5
run $metrics >$tmp/m3
run date +%s.%N >$tmp/t_widen
run cp $tmp/pools.wide $tmp/pools.yaml
> {"op":"reload","id":9}
until "op": *"allocated".*"demo/d" 5
sleep 0.5
> {"op":"services","id":10}
until "id": *10 5
run date +%s.%N >$tmp/t_delete
> {"op":"delete","id":11,"kind":"Service","namespace":"demo","name":"a"}
until "op": *"released".*"demo/a" 5
sleep 1
run $metrics >$tmp/m4
EOF
rc=$?
sleep 0.3 # the session closed: node1 is no longer the leader
$metrics >"$tmp/m5"
lan_capture_stop
tap_diag "$(cat "$tmp/session.out")"
tap_is "$rc" 0 "the session ran to its end"

# Allocated well within a probe's time (a probe takes 250-320 ms)
mapfile -t el < <(sed -n 's/^# elapsed //p' "$tmp/session.out")
for i in 1 2 3; do
        tap_ok "Service $(echo a b c | cut -d' ' -f$i) allocated within 200 ms of its upsert (${el[$i]} ms)" \
                awk -v t="${el[$i]:-9999}" 'BEGIN { exit !(t < 200) }'
done
tap_ok "a got 192.0.2.150" grep -q '"op": *"allocated".*"demo/a".*"192\.0\.2\.150"' "$tmp/session.out"
tap_ok "b got 192.0.2.151" grep -q '"op": *"allocated".*"demo/b".*"192\.0\.2\.151"' "$tmp/session.out"
tap_ok "c got 192.0.2.153: .152, which the client uses, was skipped" \
        grep -q '"op": *"allocated".*"demo/c".*"192\.0\.2\.153"' "$tmp/session.out"
tap_ok "no Service was ever given 192.0.2.152" not grep -q '"allocated".*"192\.0\.2\.152"' "$tmp/session.out"
tap_ok "nor was anyone told it failed before the pool was narrowed" \
        not grep -q '"allocation_failed".*"demo/[abc]"' "$tmp/session.out"
for a in 150 151 153; do tap_ok "192.0.2.$a was on node1" grep -q "inet 192\.0\.2\.$a/" "$tmp/addrs2"; done
tap_ok "192.0.2.152 was not" not grep -q "inet 192\.0\.2\.152/" "$tmp/addrs2"
tap_ok "and is not now" not host_has_addr node1 192.0.2.152

# The capture: the probes came before the upserts (pre-vetting), none after them
probe() { printf 'arp and arp[6:2] = 1 and arp[14:4] = 0 and arp[24:4] = 0xc00002%02x' "$1"; }
garp() { printf 'arp and arp[6:2] = 1 and arp[14:4] = 0xc00002%02x and arp[24:4] = 0xc00002%02x' "$1" "$1"; }
t_up=$(cat "$tmp/t_upsert")
t_del=$(cat "$tmp/t_delete")
between() { # probes of address .$1 sent by node1 between times $2 and $3
        tcpdump -tt -n -r "$tmp/prevet.pcap" "ether src $MAC1 and $(probe "$1")" 2>/dev/null |
                awk -v a="$2" -v b="$3" '$1 > a && $1 <= b' | wc -l
}
late_probes() { between "$1" "$t_up" "$t_del"; } # after the first upsert, before the delete
for a in 150 151 153; do
        hex=$(printf '%x' "$a")
        tap_is "$(between "0x$hex" 0 "$t_up")" 2 "192.0.2.$a: the 2 ARP probes of its pre-vet"
        tap_is "$(late_probes "0x$hex")" 0 "192.0.2.$a: none after the upserts"
        tap_is "$(lan_capture_count "$tmp/prevet.pcap" "ether src $MAC1 and $(garp "0x$hex")")" 3 \
                "192.0.2.$a: announced (3 gratuitous ARPs)"
done
tap_is "$(lan_capture_count "$tmp/prevet.pcap" "ether src $MAC1 and $(garp 0x98)")" 0 \
        "192.0.2.152: never announced by node1"

# The conflict: counted and logged like any probe conflict
m() { awk -v k="$2" '$1 == k { print $2 }' "$tmp/$1"; }
tap_diag "$(grep '^mlbd_prevet\|^mlbd_probe_conflicts' "$tmp/m1" "$tmp/m2" "$tmp/m3")"
tap_ok "mlbd_probe_conflicts_total counts the pre-vet's conflict" \
        awk -v n="$(m m1 mlbd_probe_conflicts_total)" 'BEGIN { exit !(n >= 1) }'
tap_is "$(m m1 'mlbd_prevet_addresses{state="in_use"}')" 1 "before the Services: 1 address found in use"
tap_is "$(m m1 'mlbd_prevet_addresses{state="vetted"}')" 32 "and 16 IPv4 + 16 IPv6 vetted"
tap_is "$(m m2 'mlbd_prevet_addresses{state="vetted"}')" 32 "after 3 Services: 32 vetted again"
ev=$(lan_exec node1 "$MLBCTL" -s "$tmp/mlbd.sock" events)
tap_diag "$ev"
tap_ok "mlbctl events: the conflict on 192.0.2.152 names the client's MAC" \
        grep -Eq "conflict +192\.0\.2\.152 .*in use on the network by $MACC" <<<"$ev"

# Narrowed to .150-.153: exhausted, rather than hand out .152; the lost pre-vets dropped
tap_ok "with the pool narrowed, d gets allocation_failed: no available addresses" \
        grep -q '"op": *"allocation_failed".*"demo/d".*no available addresses' "$tmp/session.out"
tap_is "$(m m3 'mlbd_prevet_addresses{state="vetted"}')" 4 "the narrowed pool: only its 4 free IPv6 addresses vetted"
tap_is "$(m m3 'mlbd_prevet_addresses{state="in_use"}')" 1 "and .152 still known in use"
tap_ok "widened again, d gets 192.0.2.154" grep -q '"op": *"allocated".*"demo/d".*"192\.0\.2\.154"' "$tmp/session.out"
t_up=$(cat "$tmp/t_widen")
tap_is "$(late_probes 0x9a)" 2 "after a probe of its own (the pre-vet of .154 was dropped with the narrowing)"
tap_ok "services: none holds 192.0.2.152" not grep -q '"id": *10.*192\.0\.2\.152' "$tmp/session.out"
# Released: the address leaves the interface although it is the next to hand out (and so
# pre-vetted again)
tap_ok "a deleted: 192.0.2.150 is released" grep -q '"op": *"released".*"demo/a"' "$tmp/session.out"
tap_ok "and no longer on node1" not host_has_addr node1 192.0.2.150
tap_is "$(m m4 mlbd_addresses_owned)" 3 "node1 owns 3 addresses (b, c, d)"
tap_is "$(m m4 'mlbd_prevet_addresses{state="vetted"}')" 32 "and 192.0.2.150 is pre-vetted again (32 vetted)"
tap_is "$(between 0x96 "$t_del" 9999999999)" 2 "192.0.2.150: probed again after the release"
tap_is "$(m m5 'mlbd_prevet_addresses{state="vetted"}')" 0 "no longer the leader: nothing pre-vetted"
tap_is "$(m m5 mlbd_addresses_owned)" 3 "and the Services' addresses stay"
tap_done
