#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGHUP re-reads the pools file: a good new file changes the pools (seen by a "pools"
# request); a broken one changes nothing (same pools reply, the address stays on eth0) and
# the log names FILE:LINE:COL.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
log=$tmp/mlbd.log.run
pools_reply() {
        daemon_ctl "$tmp" --until '"op": *"pools"' --timeout 2 "$TEST_HELLO" '{"op":"pools","id":"p"}' |
                grep '"op": *"pools"' | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps([[p["name"], p["ranges"]] for p in j["pools"]]))'
}

daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
out=$(daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo nginx-service u1)")")
tap_ok "192.0.2.150 on eth0" wait_addr node1 192.0.2.150 5
before=$(pools_reply)
tap_diag "pools: $before"
tap_ok "pools reply names pool cheap with 192.0.2.150-192.0.2.200" grep -q '"cheap", \["192.0.2.150-192.0.2.200"' <<<"$before"

# A good new file: one more pool.
cat >>"$tmp/pools.yaml" <<'EOF2'
  - name: extra
    addresses:
      - 198.51.100.16/28
    auto_assign: false
EOF2
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
        after=$(pools_reply)
        [ "$after" != "$before" ] && break
        sleep 0.1
done
tap_diag "pools: $after"
tap_ok "SIGHUP with a good file: pool extra (198.51.100.16/28) appears" grep -q '"extra", \["198.51.100.16/28"\]' <<<"$after"
tap_ok "192.0.2.150 still on eth0" host_has_addr node1 192.0.2.150

# A broken file: a range whose end is below its start, on line 4, column 9.
cp "$tmp/pools.yaml" "$tmp/pools.good"
cat >"$tmp/pools.yaml" <<'EOF2'
pools:
  - name: cheap
    addresses:
      - 192.0.2.150-192.0.2.20
EOF2
lines_before=$(wc -l <"$log")
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
        tail -n +$((lines_before + 1)) "$log" | grep -q "pools.yaml:[0-9]*:[0-9]*" && break
        sleep 0.1
done
new=$(tail -n +$((lines_before + 1)) "$log")
tap_diag "$new"
tap_ok "the log names $tmp/pools.yaml:LINE:COL" grep -q "$tmp/pools.yaml:4:[0-9][0-9]*" <<<"$new"
tap_is "$(pools_reply)" "$after" "pools reply unchanged"
tap_ok "192.0.2.150 still on eth0" host_has_addr node1 192.0.2.150
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
out=$(daemon_session "$tmp" '"node_assigned".*demo/second' "$(upsert_msg 4 "$(svc_json demo second u2)")")
tap_ok "allocation still uses the good pools (second Service gets 192.0.2.151)" \
        grep -q '"allocated".*192\.0\.2\.151' <<<"$out"
tap_done
