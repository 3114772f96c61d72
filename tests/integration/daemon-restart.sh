#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd keeps its allocations across restarts: after SIGTERM a new mlbd, with no client at
# all, puts 192.0.2.150 back on eth0 from its state file. After kill -9, `mlbd --flush`
# removes only the addresses mlbd tagged (a manual 198.51.100.7/32 stays), and the next
# start brings the address back again.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)

daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
out=$(daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo nginx-service u1)")")
tap_ok "Service allocated and assigned to node1" grep -q '"node_assigned".*192\.0\.2\.150' <<<"$out"
tap_ok "192.0.2.150 on eth0" wait_addr node1 192.0.2.150 5
st=$(daemon_status "$tmp")
tap_is "$(json_get "$st" 'j["owned"]')" "['192.0.2.150']" "status owns 192.0.2.150"
tap_ok "a state file was written" [ -n "$(ls -A "$tmp/state")" ]

daemon_stop TERM
tap_is "$?" 0 "mlbd exits 0 on SIGTERM"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not restart"; exit 1; }
start=$(date +%s%N)
wait_addr node1 192.0.2.150 5
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
tap_ok "after restart without any client, 192.0.2.150 is on eth0 (${ms} ms after the socket answered)" [ "$rc" -eq 0 ]
tap_is "$(addr_protos node1 | grep '^eth0 192\.0\.2\.150/')" "eth0 192.0.2.150/32 proto 109" "restored as /32, tagged"
st=$(daemon_status "$tmp")
tap_diag "$st"
tap_is "$(json_get "$st" 'j["owned"]')" "['192.0.2.150']" "status after restart owns 192.0.2.150"

lan_exec node1 ip addr add 198.51.100.7/32 dev eth0
daemon_stop KILL
tap_ok "kill -9 leaves the address behind" host_has_addr node1 192.0.2.150
lan_exec node1 "$MLBD" -c "$tmp/mlbd.conf" --flush >"$tmp/flush.log" 2>&1
rc=$?
tap_diag "$(cat "$tmp/flush.log")"
tap_is "$rc" 0 "mlbd --flush exits 0"
tap_ok "--flush removed 192.0.2.150" not host_has_addr node1 192.0.2.150
tap_ok "--flush kept the manual 198.51.100.7/32" host_has_addr node1 198.51.100.7
tap_ok "--flush kept node1's own 192.0.2.1/24" host_has_addr node1 192.0.2.1
tap_is "$(addr_protos node1 | grep -c 'proto 109$')" 0 "no tagged address left"

daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start after --flush"; exit 1; }
tap_ok "started again: 192.0.2.150 comes back" wait_addr node1 192.0.2.150 5
tap_ok "manual 198.51.100.7 still there" host_has_addr node1 198.51.100.7
daemon_stop TERM
tap_done
