#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd never takes an address that is someone else's on this host or in the cluster, and
# never removes an address it did not add. A pool holds node1's own 192.0.2.1, its
# default gateway 192.0.2.2 (the host gw), 192.0.2.77 and 2001:db8::77 put on node1 by
# hand (`ip addr add`, no mlbd tag), and the InternalIP/ExternalIP of the Node node2;
# each Service asking for one of them gets allocation_failed with the reason and nothing
# is added; so does one whose address is added by hand while mlbd probes it; the
# leader's own allocation skips node2's addresses; after the Services are deleted the
# hand-added addresses are still there. The same as on a kernel without IFA_PROTO
# (MLBD_TEST_NO_IFA_PROTO=1), where mlbd also adopts its own untagged address after a
# crash and restart.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 gw || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
lan_exec node1 ip route add default via 192.0.2.2 dev eth0 || { echo "Bail out! route"; exit 1; }
lan_exec node1 ip addr add 192.0.2.77/32 dev eth0 || { echo "Bail out! addr"; exit 1; }
lan_exec node1 ip addr add 2001:db8::77/128 dev eth0 nodad || { echo "Bail out! addr6"; exit 1; }

daemon_conf "$tmp" node1 "node1=192.0.2.1"
cat >"$tmp/pools.yaml" <<EOF
pools:
  - name: hosts
    auto_assign: false
    addresses:
      - 192.0.2.1-192.0.2.2
      - 192.0.2.77
      - 192.0.2.88
      - 2001:db8::77
  - name: lan
    addresses:
      - 192.0.2.160-192.0.2.170
EOF
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }

NODE2='{"metadata":{"name":"node2"},"status":{"addresses":[{"type":"Hostname","address":"node2"},{"type":"InternalIP","address":"192.0.2.160"},{"type":"ExternalIP","address":"192.0.2.161"}],"conditions":[{"type":"Ready","status":"True"}]}}'
out=$(daemon_ctl "$tmp" --until '"id": *"n2"' --timeout 5 "$TEST_HELLO" \
        "{\"op\":\"upsert\",\"id\":\"n2\",\"kind\":\"Node\",\"object\":$NODE2}")
tap_ok "the Node node2 (InternalIP 192.0.2.160, ExternalIP 192.0.2.161) is accepted" \
        grep -q '"id": *"n2".*"result": *"created"' <<<"$out"

# Service NAME UID ADDR [EXTRA] asks for ADDR; prints the reason of its allocation_failed (or
# "allocated ..." / "nothing" when there was none).
ask() {
        local name=$1 uid=$2 addr=$3 extra=${4:+,$4} out line
        out=$(daemon_session "$tmp" "\"(allocation_failed|node_assigned)\".*demo/$name" \
                "$(upsert_msg 3 "$(svc_json demo "$name" "$uid" "\"loadBalancerIP\":\"$addr\"$extra")")")
        tap_diag "$out" >&2
        line=$(grep "\"op\": *\"allocation_failed\".*demo/$name" <<<"$out" | tail -1)
        if [ -n "$line" ]; then
                json_get "$line" 'j["reason"]'
        elif grep -q "\"op\": *\"allocated\".*demo/$name" <<<"$out"; then
                echo "allocated $addr"
        else
                echo nothing
        fi
}
tagged() { addr_protos node1 | grep -c "^eth0 $1/.* proto 109$"; }

# The leader's own pick skips the Node's addresses: 192.0.2.162, not .160 or .161.
out=$(daemon_session "$tmp" '"(allocation_failed|node_assigned)".*demo/auto' \
        "$(upsert_msg 3 "$(svc_json demo auto u7)")")
tap_diag "$out"
tap_ok "a Service without a request is allocated 192.0.2.162 (after node2's two)" \
        grep -q '"op": *"allocated".*demo/auto.*192\.0\.2\.162' <<<"$out"
tap_ok "192.0.2.162 appears on node1's eth0" wait_addr node1 192.0.2.162 5

tap_is "$(ask own u1 192.0.2.1)" \
        "address 192.0.2.1 is already on eth0 of node1 (not added by mlbd)" \
        "node1's own address: allocation_failed, already on eth0"
tap_is "$(ask gateway u2 192.0.2.2)" "address 192.0.2.2 is the default gateway of node1" \
        "node1's default gateway: allocation_failed, the default gateway"
tap_is "$(ask byhand u3 192.0.2.77)" \
        "address 192.0.2.77 is already on eth0 of node1 (not added by mlbd)" \
        "an address added by hand: allocation_failed, not added by mlbd"
tap_is "$(ask byhand6 u4 2001:db8::77 '"ipFamilies":["IPv6"]')" \
        "address 2001:db8::77 is already on eth0 of node1 (not added by mlbd)" \
        "an IPv6 address added by hand: allocation_failed, not added by mlbd"
tap_is "$(ask internal u5 192.0.2.160)" "address 192.0.2.160 is node2's InternalIP" \
        "node2's InternalIP: allocation_failed, the Node's InternalIP"
tap_is "$(ask external u6 192.0.2.161)" "address 192.0.2.161 is node2's ExternalIP" \
        "node2's ExternalIP: allocation_failed, the Node's ExternalIP"
sleep 0.5 # longer than a probe: nothing may turn up late
tap_is "$(lan_exec node1 ip -o -4 addr show dev eth0 | awk '{print $4}' | sort | tr '\n' ' ')" \
        "192.0.2.1/24 192.0.2.162/32 192.0.2.77/32 " \
        "node1's eth0 holds only its own IPv4 addresses and mlbd's 192.0.2.162"
tap_is "$(tagged '192\.0\.2\.[0-9]*')$(tagged 2001:db8::77)" "10" "only 192.0.2.162 is tagged by mlbd"

# Added by hand while mlbd probes it: the add finds it there (EEXIST). It is not mlbd's
# (no tag), so it is refused, not adopted, and later not removed.
log=$tmp/mlbd.log.run
daemon_session "$tmp" '"(allocation_failed|node_assigned)".*demo/race' \
        "$(upsert_msg 3 "$(svc_json demo race u8 '"loadBalancerIP":"192.0.2.88"')")" >"$tmp/race.out" &
race=$!
for ((i = 0; i < 250; i++)); do # the probe runs for 250 ms at least after this line
        grep -q 'announce 192\.0\.2\.88: probing on eth0' "$log" && break
        sleep 0.02
done
lan_exec node1 ip addr add 192.0.2.88/32 dev eth0
wait "$race"
tap_diag "$(cat "$tmp/race.out")"
tap_ok "the probe of 192.0.2.88 had started when it was added by hand" \
        grep -q 'announce 192\.0\.2\.88: probing on eth0' "$log"
line=$(grep '"op": *"allocation_failed".*demo/race' "$tmp/race.out" | tail -1)
tap_is "$(json_get "${line:-{\}}" 'j.get("reason", "none")')" \
        "address 192.0.2.88 is already on eth0 of node1 (not added by mlbd)" \
        "added by hand during the probe: allocation_failed, not added by mlbd"
tap_is "$(tagged '192\.0\.2\.88')" 0 "192.0.2.88 is not tagged by mlbd"

# Deleting the Services leaves every address mlbd did not add where it was.
for s in own:u1 gateway:u2 byhand:u3 byhand6:u4 internal:u5 external:u6 auto:u7 race:u8; do
        daemon_ctl "$tmp" --until '"id": *"d"' --timeout 5 "$TEST_HELLO" \
                "{\"op\":\"delete\",\"id\":\"d\",\"kind\":\"Service\",\"namespace\":\"demo\",\"name\":\"${s%%:*}\",\"uid\":\"${s##*:}\"}" >/dev/null
done
tap_ok "192.0.2.162 (mlbd's) leaves node1's eth0" wait_no_addr node1 192.0.2.162 5
sleep 0.3
tap_ok "192.0.2.77 (added by hand) is still on eth0" host_has_addr node1 192.0.2.77
tap_ok "192.0.2.88 (added by hand during the probe) is still on eth0" host_has_addr node1 192.0.2.88
tap_ok "2001:db8::77 (added by hand) is still on eth0" host_has_addr node1 2001:db8::77
tap_ok "192.0.2.1/24 is still on eth0" grep -q ' 192\.0\.2\.1/24 ' <<<"$(lan_exec node1 ip -o addr show dev eth0)"
tap_ok "node1's default route via 192.0.2.2 is still there" \
        grep -q 'default via 192.0.2.2' <<<"$(lan_exec node1 ip route show default)"

# A kernel without IFA_PROTO (MLBD_TEST_NO_IFA_PROTO=1: mlbd adds its addresses untagged,
# as /32 nodad noprefixroute): a hand-added /32 is still refused, and after a crash
# (kill -9) the restarted mlbd adopts its own untagged 192.0.2.165 instead of refusing it.
daemon_stop
export MLBD_TEST_NO_IFA_PROTO=1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd (no IFA_PROTO) did not start"; exit 1; }
tap_is "$(ask byhand u9 192.0.2.77)" \
        "address 192.0.2.77 is already on eth0 of node1 (not added by mlbd)" \
        "without IFA_PROTO: the address added by hand is still refused"
tap_is "$(ask mine u10 192.0.2.165)" "allocated 192.0.2.165" "without IFA_PROTO: 192.0.2.165 is allocated"
tap_ok "192.0.2.165 appears on node1's eth0" wait_addr node1 192.0.2.165 5
tap_is "$(addr_protos node1 | grep '^eth0 192\.0\.2\.165/')" "eth0 192.0.2.165/32 proto 0" "untagged"
daemon_stop KILL
daemon_start node1 "$tmp" || { echo "Bail out! mlbd (no IFA_PROTO) did not restart"; exit 1; }
for ((i = 0; i < 30; i++)); do
        owned=$(json_get "$(daemon_status "$tmp")" 'j["owned"]')
        [ "$owned" = "['192.0.2.165']" ] && break
        sleep 0.1
done
tap_is "$owned" "['192.0.2.165']" "after kill -9 and a restart, mlbd owns its own untagged 192.0.2.165 again"
tap_ok "and refused nothing" not grep -q 'announce: address 192\.0\.2\.165 .*not added by mlbd' "$log"
# a full sync without the Service (restored allocations wait for the first one)
daemon_ctl "$tmp" --until '"id": *"s"' --timeout 5 "$TEST_HELLO" \
        '{"op":"sync","id":"s","services":[],"endpointslices":[],"nodes":[],"namespaces":[]}' >/dev/null
tap_ok "a full sync without its Service removes 192.0.2.165" wait_no_addr node1 192.0.2.165 5
tap_ok "192.0.2.77 (added by hand) is still on eth0" host_has_addr node1 192.0.2.77
unset MLBD_TEST_NO_IFA_PROTO

daemon_stop
tap_done
