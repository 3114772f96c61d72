# SPDX-License-Identifier: MIT
# pair.sh: two mlbd nodes (node1, node2) sharing one Service address, for the handover
# tests. Sourced after lan.sh and daemon.sh; the test sets tmp (lan_tmpdir), VIP (the
# address), SYNC (a sync message with id 3 that holds the Service) and `declare -A PID`,
# and writes $tmp/NODE/mlbd.conf.
#   start_node NODE     start mlbd on NODE, record its PID, send SYNC; fails if no reply
#   stop_node NODE      SIGTERM, wait for the exit
#   holder              the nodes that hold VIP on eth0, space separated
#   wait_holder NODE    wait (bounded, 10 s) until exactly NODE holds VIP
start_node() {
        daemon_start "$1" "$tmp/$1" || return 1
        PID[$1]=$DAEMON_PID
        daemon_ctl "$tmp/$1" --until '"id": *3' --timeout 10 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3'
}
stop_node() {
        DAEMON_PID=${PID[$1]}
        daemon_stop TERM
        PID[$1]=
}
holder() {
        local n out=
        for n in node1 node2; do host_has_addr "$n" "$VIP" && out+="$n "; done
        echo "${out% }"
}
wait_holder() {
        local i
        for ((i = 0; i < 100; i++)); do
                [ "$(holder)" = "$1" ] && return 0
                sleep 0.1
        done
        return 1
}
