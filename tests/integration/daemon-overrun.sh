#!/bin/bash
# SPDX-License-Identifier: MIT
# Lost netlink events: while mlbd is stopped (SIGSTOP), two thousand link changes overflow
# its monitor socket (ENOBUFS), then its address is removed by hand, so the removal is
# never seen as an event. After SIGCONT mlbd must notice the overrun, find the missing address
# with one dump, put it back and announce it; the address that is still there is left
# alone (not removed, not added twice).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
out=$(daemon_session "$tmp" '"id": *4' "$(upsert_msg 3 "$(svc_json demo web u1)")" \
        "$(upsert_msg 4 "$(svc_json demo api u2)")")
tap_ok "192.0.2.150 is owned" wait_addr node1 192.0.2.150 5
tap_ok "192.0.2.151 is owned" wait_addr node1 192.0.2.151 5
lan_exec node1 ip link add flap0 type veth peer name flap1 || { echo "Bail out! veth"; exit 1; }
kill -STOP "$DAEMON_PID"
for ((i = 0; i < 1000; i++)); do echo "link set flap0 up"; echo "link set flap0 down"; done >"$tmp/flap.batch"
lan_exec node1 ip -batch "$tmp/flap.batch" # the monitor's socket is full now
lan_exec node1 ip addr del 192.0.2.150/32 dev eth0
tap_ok "192.0.2.150 is gone while mlbd is stopped" not host_has_addr node1 192.0.2.150
kill -CONT "$DAEMON_PID"
tap_ok "after SIGCONT 192.0.2.150 is back on eth0" wait_addr node1 192.0.2.150 5
for ((i = 0; i < 50; i++)); do grep -q "monitor overrun" "$tmp/mlbd.log.run" && break; sleep 0.1; done
tap_ok "mlbd saw the overrun" grep -q "netlink monitor overrun" "$tmp/mlbd.log.run"
tap_ok "the removal itself was never an event (it was lost)" \
        not grep -q "192.0.2.150: removed from eth0 by someone else" "$tmp/mlbd.log.run"
tap_ok "192.0.2.151 still there" host_has_addr node1 192.0.2.151
tap_is "$(lan_exec node1 ip -o addr show dev eth0 | grep -c '192\.0\.2\.15[01]/32')" 2 \
        "each address once"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
daemon_stop TERM
tap_done
