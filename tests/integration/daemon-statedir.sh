#!/bin/bash
# SPDX-License-Identifier: MIT
# state_dir must be this daemon's own: mlbd refuses to start, naming the directory and the
# reason, when it is writable by group or others or owned by another user (whoever can
# write there could plant a state.json or rewind the incarnation), and when the
# incarnation file cannot be written (a restart could reuse the incarnation, so peers
# would drop its heartbeats as replays). A good state_dir: the incarnation file is 0600.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
d=$tmp/node1
daemon_conf "$d" node1 "node1=192.0.2.1" || { echo "Bail out! config"; exit 1; }

# Runs mlbd (PID kept for the cleanup); RC is its exit status, its output is in $d/out.
# A daemon that (wrongly) comes up is stopped by PID once its socket answers.
run_mlbd() {
        local pid i
        rm -f "$d/mlbd.sock"
        lan_bg node1 "$d/out" "$MLBD" -c "$d/mlbd.conf"
        pid=$LAN_LAST_PID
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                if [ -S "$d/mlbd.sock" ] && daemon_status "$d" >/dev/null; then
                        kill -TERM "$pid"
                        break
                fi
                sleep 0.1
        done
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid"
        RC=$?
}

chmod 0777 "$d/state"
run_mlbd
tap_ok "state_dir mode 0777: mlbd exits with an error (status $RC)" [ "$RC" = 1 ]
tap_ok "and says why, naming the directory" \
        grep -q "state_dir $d/state is writable by group or others (mode 0777)" "$d/out"
sed 's/^/#   /' "$d/out" | grep -i state_dir | head -3

chmod 0750 "$d/state"
chown 4242:4242 "$d/state"
run_mlbd
tap_ok "state_dir owned by uid 4242: mlbd exits with an error (status $RC)" [ "$RC" = 1 ]
tap_ok "and says why" grep -q "state_dir $d/state is owned by uid 4242" "$d/out"
chown 0:0 "$d/state"

rm -f "$d/state/incarnation"
mkdir "$d/state/incarnation"
run_mlbd
tap_ok "incarnation file cannot be written: mlbd exits with an error (status $RC)" [ "$RC" = 1 ]
tap_ok "and names the file" grep -q "Cannot write $d/state/incarnation" "$d/out"
rm -rf "$d/state/incarnation" "$d/mlbd.sock"
daemon_start node1 "$d" || { echo "Bail out! mlbd did not start with a good state_dir"; exit 1; }
tap_is "$(stat -c %a "$d/state/incarnation")" 600 "with a good state_dir it runs; incarnation is mode 0600"
daemon_stop
tap_is "$(find "$d/state" -name '*.tmp.*' | wc -l)" 0 "no temporary file left in state_dir"
tap_done
