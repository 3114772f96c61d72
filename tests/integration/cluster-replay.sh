#!/bin/bash
# SPDX-License-Identifier: MIT
# Replays after a restart: node1 (mlbd) hears node2 (played by hb-send.py from node2's
# address), node2 goes silent and is dead. node1 restarts (SIGTERM, then kill -9 after
# the periodic save): the same heartbeat re-sent from node2's address must be dropped as
# a replay, node2 stays dead; a newer one is accepted. The last accepted (incarnation,
# sequence) per peer is in state_dir/peers-seen (mode 0600).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 node2 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
d=$tmp/node1
export DAEMON_KEY=$tmp/cluster.key
daemon_conf "$d" node1 "node1=192.0.2.1, node2=192.0.2.2" || { echo "Bail out! config"; exit 1; }
HB="/usr/bin/python3 $(dirname "$0")/../lib/hb-send.py --key $DAEMON_KEY --name node2 --bind 192.0.2.2"

peers_json() {
        daemon_ctl "$d" --until '"op": *"peers"' --timeout 3 "$TEST_HELLO" '{"op":"peers","id":"p"}' | grep '"op": *"peers"'
}
node2_state() {
        json_get "$(peers_json)" '[p["state"] for p in j["peers"] if p["name"] == "node2"][0]'
}
replays() {
        json_get "$(peers_json)" 'j["heartbeats_dropped"]["replay"]'
}
wait_state() { # WANT
        local i s
        for ((i = 0; i < 30; i++)); do
                s=$(node2_state)
                [ "$s" = "$1" ] && break
                sleep 0.1
        done
        echo "$s"
}
send() { # INCARNATION SEQUENCE
        lan_exec node2 $HB --incarnation "$1" --sequence "$2" valid 192.0.2.1:7947
}
now_ms() { date +%s%3N; }
# "accepted" once node1 has taken a heartbeat from node2 since T0 (ms): judged by
# last_seen_ms, not by the state, which a single heartbeat holds at alive only for
# dead_after_ms — a slow poll would see it dead again.
accepted_since() { # T0
        local i ls
        for ((i = 0; i < 30; i++)); do
                ls=$(json_get "$(peers_json)" '[p["last_seen_ms"] for p in j["peers"] if p["name"] == "node2"][0]')
                [[ "$ls" =~ ^[0-9]+$ ]] && (($(now_ms) - ls >= $1)) && { echo accepted; return; }
                sleep 0.1
        done
        echo "not accepted"
}

daemon_start node1 "$d" || { echo "Bail out! node1 did not start"; exit 1; }
t0=$(now_ms)
send 5000 10
tap_is "$(accepted_since "$t0")" accepted "node1 accepts node2's heartbeat (5000, 10)"
tap_is "$(wait_state dead)" dead "node2 silent: dead"

daemon_stop
daemon_start node1 "$d" || { echo "Bail out! node1 did not restart"; exit 1; }
tap_is "$(stat -c %a "$d/state/peers-seen" 2>/dev/null)" 600 "state_dir/peers-seen written at stop, mode 0600"
r0=$(replays)
send 5000 10
sleep 0.3
tap_is "$(node2_state)" dead "after a restart (SIGTERM), node2's old heartbeat re-sent: node2 stays dead"
tap_is "$(($(replays) - r0))" 1 "and it is counted as a replay"
send 4999 99
sleep 0.3
tap_is "$(node2_state) $(($(replays) - r0))" "dead 2" "an older incarnation too"

t0=$(now_ms)
send 5000 11
tap_is "$(accepted_since "$t0")" accepted "a newer heartbeat (5000, 11) is accepted"
send 5000 20
sleep 3.5 # the periodic save (every 2 s at most) has run
daemon_stop KILL
daemon_start node1 "$d" || { echo "Bail out! node1 did not restart after kill -9"; exit 1; }
r0=$(replays)
send 5000 20
sleep 0.3
tap_is "$(node2_state) $(($(replays) - r0))" "dead 1" \
        "after kill -9, node2's last heartbeat (5000, 20) re-sent: still dead, a replay"
t0=$(now_ms)
send 5001 1
tap_is "$(accepted_since "$t0")" accepted "node2 restarted (incarnation 5001): accepted"
daemon_stop
tap_done
