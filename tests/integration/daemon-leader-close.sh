#!/bin/bash
# SPDX-License-Identifier: MIT
# The connection that made mlbd the leader closes just after an upsert's reply (a bridge
# that restarts, a client that quits): the Service it sent while it led must still be
# allocated. The reconcile that upsert scheduled and the connection's hang-up can be
# pending in the same wakeup, in either order; mlbd once ended the leadership first, and the
# Service stayed pending with no leader to decide it (1 run in 10 of daemon-overrun.sh; here,
# without the fix, 2 runs in 6 left 1-3 of the 41 Services pending).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
# 1. the hang-up is there when the upsert is read: mlbd is stopped while a client sends
# hello, leader and an upsert at once and shuts its sending side; on SIGCONT one read
# brings the lines and the replies still go out
kill -STOP "$DAEMON_PID"
daemon_ctl "$tmp" --half-close --timeout 5 "$HELLO" "$LEADER" \
        "$(upsert_msg 100 "$(svc_json demo first u-first)")" >"$tmp/first.out" &
ctl=$!
sleep 0.3
kill -CONT "$DAEMON_PID"
wait "$ctl"
tap_ok "the half-closed client got its upsert reply" grep -q '"id": *100' "$tmp/first.out"
# 2. the usual order: the client closes once the upsert's reply is read
rounds=40 replied=0
for ((k = 0; k < rounds; k++)); do
        out=$(daemon_session "$tmp" '"id": *100' "$(upsert_msg 100 "$(svc_json demo "s$k" "u$k")")")
        grep -q '"id": *100' <<<"$out" && replied=$((replied + 1))
done
tap_is "$replied" "$rounds" "each of $rounds sessions (leader, upsert, close) got its upsert reply"
services() {
        daemon_ctl "$tmp" --until '"id": *"sv"' --timeout 5 "$TEST_HELLO" '{"op":"services","id":"sv"}'
}
held=0
for ((i = 0; i < 50; i++)); do
        held=$(services | "$PY" -c 'import json, sys
for l in sys.stdin:
    j = json.loads(l.split("< ", 1)[-1]) if "{" in l else {}
    if j.get("id") == "sv":
        print(sum(1 for s in j["services"] if s["addresses"]))' | tail -1)
        [ "${held:-0}" -eq $((rounds + 1)) ] && break
        sleep 0.1
done
tap_is "$held" $((rounds + 1)) "every Service upserted just before its leader connection closed holds an address"
tap_is "$(grep -c 'The connection that made this node the leader closed' "$tmp/mlbd.log.run")" $((rounds + 1)) \
        "each close ended the leadership"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
daemon_stop TERM
tap_done
