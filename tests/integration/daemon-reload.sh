#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGHUP re-reads the pools file: a good new file changes the pools (seen by a "pools"
# request); a broken one changes nothing (same pools reply, the address stays on eth0) and
# the log names FILE:LINE:COL. What a reload cannot apply (node_name, listen, socket,
# socket_group, state_dir) refuses the reload, naming the key; the key file is read again
# (a missing one refuses the reload, a new one is used: a peer on the new key is heard).
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

# --- what a reload cannot apply, and the cluster key ---
reload_reply() { # a reload over the socket; prints "OP ERROR DETAIL"
        daemon_ctl "$tmp" --until '"id": *"rl"' --timeout 5 "$TEST_HELLO" '{"op":"reload","id":"rl"}' |
                grep '"id": *"rl"' | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(j["op"], j.get("error", "-"), j.get("detail", "-"))'
}
daemon_conf "$tmp" node1 # the files as at the start (pools.yaml is broken above)
cp "$tmp/mlbd.conf" "$tmp/mlbd.conf.good"
sed -i 's/^node_name = .*/node_name = node9/' "$tmp/mlbd.conf"
out=$(reload_reply)
tap_diag "$out"
tap_ok "node_name changed: the reload is refused, naming the key" \
        grep -q '^error reload_failed node_name cannot change on reload ("node1" -> "node9"); restart mlbd' <<<"$out"
tap_is "$(json_get "$(daemon_status "$tmp")" 'j["node"]')" node1 "still node1"
cp "$tmp/mlbd.conf.good" "$tmp/mlbd.conf"
sed -i 's/^listen = 0.0.0.0:7947/listen = 0.0.0.0:7948/' "$tmp/mlbd.conf"
out=$(reload_reply)
tap_diag "$out"
tap_ok "listen changed: refused, naming the key" grep -q '^error reload_failed listen cannot change on reload' <<<"$out"
cp "$tmp/mlbd.conf.good" "$tmp/mlbd.conf"
sed -i "s|^key_file = .*|key_file = $tmp/missing.key|" "$tmp/mlbd.conf"
out=$(reload_reply)
tap_diag "$out"
tap_ok "key_file missing: refused, naming the file" grep -q "^error reload_failed cluster key: $tmp/missing.key" <<<"$out"

# a peer (in the client namespace) with a key of its own: forged until node1 reloads with it
PID1=$DAEMON_PID
PEERS="node1=192.0.2.1, node2=192.0.2.2"
daemon_conf "$tmp/n2" node2 "$PEERS" || { echo "Bail out! config"; exit 1; }
daemon_start client "$tmp/n2" || { echo "Bail out! node2 did not start"; exit 1; }
PID2=$DAEMON_PID
DAEMON_PID=$PID1
sed "s|^peers = .*|peers = $PEERS|" "$tmp/mlbd.conf.good" >"$tmp/mlbd.conf"
out=$(reload_reply)
tap_ok "peers added by a reload" grep -q '^reload ' <<<"$out"
node2_state() {
        local j
        j=$(daemon_ctl "$tmp" --until '"op": *"peers"' --timeout 3 "$TEST_HELLO" '{"op":"peers","id":"p"}' | grep '"op": *"peers"')
        json_get "$j" '" ".join(([p["state"] for p in j["peers"] if p["name"] == "node2"][0], str(j["heartbeats_dropped"]["forged"] > 0)))'
}
sleep 1
tap_is "$(node2_state)" "dead True" "node2 on another key: node1 counts its heartbeats forged"
sed -i "s|^key_file = .*|key_file = $tmp/n2/cluster.key|" "$tmp/mlbd.conf"
out=$(reload_reply)
tap_diag "$out"
tap_ok "key rotation: the reload succeeds" grep -q '^reload ' <<<"$out"
st=
for ((i = 0; i < 30; i++)); do
        st=$(node2_state)
        [ "${st%% *}" = alive ] && break
        sleep 0.1
done
tap_is "${st%% *}" alive "node1 uses the new key: node2 alive"
tap_ok "the log says the key changed" grep -q "Cluster key changed ($tmp/n2/cluster.key)" "$log"
DAEMON_PID=$PID2
daemon_stop TERM
DAEMON_PID=$PID1
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
