#!/bin/bash
# SPDX-License-Identifier: MIT
# `mlbctl events` and `mlbctl services --watch` (issue 14) against a real mlbd on a
# namespace LAN. A conflict (the client already uses 192.0.2.150), a foreign claim (the
# client announces 192.0.2.151, which node1 holds), a refused reload and a release (the
# Service deleted) each show in `mlbctl events` with an RFC 3339 time, the address and the
# message, in the order they happened, also as --json. `services --watch` prints the table
# at once and again after each change the daemon notifies (allocated, failed, released),
# and not while nothing changes (no polling).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root python3
MLBCTL=${top_builddir:-.}/mlbctl

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
ctl() { lan_exec node1 "$MLBCTL" -s "$tmp/mlbd.sock" "$@"; }
heads() { grep -c '^NAMESPACE/NAME' "$tmp/watch.out"; }
wait_heads() { # N: until the watch printed at least N tables (bounded, 5 s)
        local i
        for ((i = 0; i < 50; i++)); do
                [ "$(heads)" -ge "$1" ] && return 0
                sleep 0.1
        done
        return 1
}

lan_bg node1 "$tmp/watch.out" "$MLBCTL" -s "$tmp/mlbd.sock" services --watch
tap_ok "services --watch prints the table at once" wait_heads 1
sleep 2
tap_is "$(heads)" 1 "and nothing more while nothing changes (2 s)"

# A conflict: the client uses 192.0.2.150 already.
lan_exec client ip addr add 192.0.2.150/32 dev eth0
daemon_session "$tmp" '"allocation_failed"' "$(upsert_msg 3 "$(svc_json demo clash u1)")" >/dev/null
tap_ok "the watch prints again after the failure" wait_heads 2
tap_ok "showing demo/clash failed" grep -q 'demo/clash .*failed' "$tmp/watch.out"
lan_exec client ip addr del 192.0.2.150/32 dev eth0

# A Service that gets 192.0.2.151; then the client claims that address.
n=$(heads)
daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 4 "$(svc_json demo web u2)")" >/dev/null
tap_ok "192.0.2.151 on node1" wait_addr node1 192.0.2.151 5
tap_ok "the watch prints again after the allocation" wait_heads $((n + 1))
tap_ok "showing demo/web allocated 192.0.2.151" grep -q 'demo/web .*allocated .*192.0.2.151' "$tmp/watch.out"
lan_exec client "$PY" -c '
import sys
from scapy.all import ARP, Ether, get_if_hwaddr, sendp
mac = get_if_hwaddr("eth0")
sendp(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=mac, psrc="192.0.2.151", hwdst="ff:ff:ff:ff:ff:ff", pdst="192.0.2.151"), iface="eth0", verbose=False)'

# A refused reload.
cp "$tmp/pools.yaml" "$tmp/pools.good"
echo "  - name: [broken" >>"$tmp/pools.yaml"
kill -HUP "$DAEMON_PID"
lan_wait_for "$tmp/mlbd.log.run" 'Reload failed' 5
cp "$tmp/pools.good" "$tmp/pools.yaml"

# A release: the Service is deleted.
n=$(heads)
daemon_ctl "$tmp" --until '"id": *5' --timeout 5 "$TEST_HELLO" \
        '{"op":"delete","id":5,"kind":"Service","namespace":"demo","name":"web"}' >/dev/null
tap_ok "192.0.2.151 removed" wait_no_addr node1 192.0.2.151 5
tap_ok "the watch prints again after the release" wait_heads $((n + 1))

out=$(ctl events); rc=$?
sed 's/^/# /' <<<"$out"
tap_is "$rc" 0 "mlbctl events exits 0"
tap_ok "a table with TIME TYPE ADDRESS PEER MESSAGE" grep -q '^TIME  *TYPE  *ADDRESS  *PEER  *MESSAGE' <<<"$out"
tap_ok "the conflict on 192.0.2.150, naming the client's MAC" grep -Eq "conflict +192\.0\.2\.150 .*in use on the network by $(lan_mac client)" <<<"$out"
tap_ok "the foreign claim on 192.0.2.151" grep -Eq 'foreign_claim +192\.0\.2\.151 .*also claims' <<<"$out"
tap_ok "the refused reload" grep -Eq 'reload_failed +- +- +Reload failed' <<<"$out"
tap_ok "the release of 192.0.2.151" grep -Eq 'release +192\.0\.2\.151 ' <<<"$out"
json=$(ctl --json events)
tap_is "$(json_get "$json" '" ".join(e["type"] for e in j["events"])')" \
        "conflict foreign_claim reload_failed release" "--json: the four, oldest first"
tap_ok "--json: times are RFC 3339 UTC with milliseconds" bash -c \
        'grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$" <<<"$1"' _ \
        "$(json_get "$json" 'j["events"][0]["time"]')"
out=$(ctl events --watch 2>&1); rc=$?
tap_is "$rc" 2 "--watch with another command exits 2"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
daemon_stop
tap_done
