# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# daemon.sh: run the real mlbd in a namespace LAN host, for integration tests. Source it
# after lan.sh and lan_setup; it defines functions only.
#
#   MLBD, CTL                     the daemon binary and tests/lib/ctl.py (overridable)
#   daemon_conf DIR NODE [PEERS]  write DIR/mlbd.conf (socket DIR/mlbd.sock, state DIR/state,
#                                 garp_count 3, 50 ms apart, [cluster] peers = PEERS (no
#                                 PEERS: NODE alone; "" = members from Nodes) and
#                                 key_file = $DAEMON_KEY or DIR/cluster.key, made with
#                                 `mlbd --gen-key` if missing) and DIR/pools.yaml (pool "cheap":
#                                 192.0.2.150-192.0.2.200, 2001:db8::150-2001:db8::1ff)
#   daemon_start HOST DIR [LOG]   start `mlbd -c DIR/mlbd.conf` in HOST (lan_bg, PID in
#                                 DAEMON_PID), wait (bounded, 10 s) until the socket answers
#                                 a status request; log to LOG (default DIR/mlbd.log, appended)
#   MLBD_WRAPPER                  words put in front of the daemon by daemon_start, e.g.
#                                 "valgrind --error-exitcode=99 --log-file=DIR/vg.%p"
#                                 (scripts/test VALGRIND=1); the PID stays the daemon's;
#                                 DAEMON_START_S (10) bounds the wait for the socket
#   daemon_stop [SIG]             send SIG (default TERM) to DAEMON_PID and wait (bounded 10 s)
#   daemon_status DIR             hello + status on a fresh connection; prints the status line
#   daemon_ctl DIR ARGS...        ctl.py DIR/mlbd.sock ARGS... (prints every line received)
#   daemon_session DIR UNTIL MSG...
#                                 hello (subscribed, as the bridge) + leader + MSG..., until a
#                                 line matches UNTIL (10 s at most)
#   svc_json NS NAME UID [EXTRA]  a LoadBalancer Service object (selector app=nginx, TCP 80);
#                                 EXTRA is spliced into the spec, e.g. '"ipFamilies":["IPv6"]'
#   upsert_msg ID OBJECT          {"op":"upsert","id":ID,"kind":"Service","object":OBJECT}
#   host_has_addr HOST ADDR       ADDR is on HOST's eth0 (any prefix length)
#   wait_addr HOST ADDR [S]       wait (bounded) until host_has_addr; wait_no_addr likewise
#   addr_protos HOST              "IFNAME ADDR/LEN proto N" lines (tests/lib/ifa-proto.py)
#   tap_todo_is GOT WANT DESC WHY like tap_is for a known daemon bug (TAP "# TODO")
#   not CMD...                    succeed when CMD fails (for tap_ok)
#   host_has_addr_any HOST ADDR   ADDR is on any of HOST's interfaces
#   json_get JSON EXPR            evaluate a Python expression on the parsed JSON `j`

MLBD=${MLBD:-${top_builddir:-.}/mlbd}
CTL=${CTL:-${top_srcdir:-$(dirname "${BASH_SOURCE[0]}")/../..}/tests/lib/ctl.py}
PY=/usr/bin/python3
DAEMON_PID=

daemon_conf() {
        local dir=$1 node=$2 peers key=${DAEMON_KEY:-$1/cluster.key}
        # No PEERS: a lone node, which names itself (an empty list means "the Nodes of the
        # first full sync", and such a node takes nothing before that sync).
        if [ $# -ge 3 ]; then peers=$3; else peers="$node=192.0.2.254"; fi
        mkdir -p "$dir/state" || return 1
        [ -s "$key" ] || "$MLBD" --gen-key "$key" >/dev/null || return 1
        cat >"$dir/mlbd.conf" <<EOF
[mlbd]
node_name = $node
pools = $dir/pools.yaml
pools_dir = $dir/pools.d
socket = $dir/mlbd.sock
socket_group = root
state_dir = $dir/state
log_level = debug

[announce]
garp_count = 3
garp_interval_ms = 50

[cluster]
listen = 0.0.0.0:7947
peers = $peers
key_file = $key
EOF
        cat >"$dir/pools.yaml" <<EOF
pools:
  - name: cheap
    addresses:
      - 192.0.2.150-192.0.2.200
      - 2001:db8::150-2001:db8::1ff
    auto_assign: true
EOF
}

daemon_start() {
        local host=$1 dir=$2 log=${3:-$2/mlbd.log} i
        # lan_bg truncates its output file; keep earlier runs' lines in $log.
        # shellcheck disable=SC2086 # MLBD_WRAPPER is a list of words
        lan_bg "$host" "$log.run" ${MLBD_WRAPPER:-} "$MLBD" -c "$dir/mlbd.conf"
        DAEMON_PID=$LAN_LAST_PID
        for ((i = 0; i < ${DAEMON_START_S:-10} * 10; i++)); do
                if [ -S "$dir/mlbd.sock" ] &&
                        daemon_status "$dir" | grep -q '"op": *"status"'; then
                        return 0
                fi
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.1
        done
        echo "# mlbd did not come up; its log:"
        sed 's/^/#   /' "$log.run"
        return 1
}

daemon_stop() {
        local sig=${1:-TERM} i
        [ -n "$DAEMON_PID" ] || return 0
        kill -"$sig" "$DAEMON_PID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
                echo "# mlbd (pid $DAEMON_PID) ignored SIG$sig for 10 s"
                kill -KILL "$DAEMON_PID" 2>/dev/null
        fi
        { wait "$DAEMON_PID"; } 2>/dev/null
        local rc=$?
        DAEMON_PID=
        return $rc
}

# One status request on a fresh connection (as "mlbd-test", not subscribed).
daemon_status() {
        daemon_ctl "$1" --until '"op": *"status"' --timeout 2 "$TEST_HELLO" \
                '{"op":"status","id":"st"}' 2>/dev/null | grep '"op": *"status"'
}

daemon_ctl() {
        local dir=$1
        shift
        "$PY" "$CTL" "$dir/mlbd.sock" "$@"
}

HELLO='{"op":"hello","id":1,"version":1,"client":"mlbd-bridge","node":"node1","subscribe":true}'
TEST_HELLO='{"op":"hello","id":"h","version":1,"client":"mlbd-test"}'
LEADER='{"op":"leader","id":2,"leader":true}'

daemon_session() {
        local dir=$1 until=$2
        shift 2
        daemon_ctl "$dir" --until "$until" --timeout 10 --wait 10 "$HELLO" "$LEADER" "$@"
}

svc_json() {
        local ns=$1 name=$2 uid=$3 extra=${4:+,$4}
        printf '{"metadata":{"namespace":"%s","name":"%s","uid":"%s"},"spec":{"type":"LoadBalancer","selector":{"app":"nginx"},"ports":[{"protocol":"TCP","port":80}]%s}}' \
                "$ns" "$name" "$uid" "$extra"
}

upsert_msg() {
        printf '{"op":"upsert","id":%s,"kind":"Service","object":%s}' "$1" "$2"
}

host_has_addr() {
        lan_exec "$1" ip -o addr show dev eth0 | grep -q " $2/"
}

wait_addr() {
        local i
        for ((i = 0; i < ${3:-5} * 10; i++)); do
                host_has_addr "$1" "$2" && return 0
                sleep 0.1
        done
        return 1
}

wait_no_addr() {
        local i
        for ((i = 0; i < ${3:-5} * 10; i++)); do
                host_has_addr "$1" "$2" || return 0
                sleep 0.1
        done
        return 1
}

# HOST's addresses with their IFA_PROTO ("IFNAME ADDR/LEN proto N"), by ifa-proto.py.
addr_protos() {
        lan_exec "$1" "$PY" "$(dirname "${BASH_SOURCE[0]}")/ifa-proto.py"
}

# A check of a known daemon bug: "not ok N - DESC # TODO REASON" does not fail the run
# (automake counts it XFAIL); once the bug is fixed it shows up as XPASS.
tap_todo_is() {
        local got=$1 want=$2 desc=$3 reason=$4
        TAP_N=$((TAP_N + 1))
        if [ "$got" = "$want" ]; then
                echo "ok $TAP_N - $desc # TODO $reason"
        else
                echo "not ok $TAP_N - $desc # TODO $reason"
                echo "#   got:  '$got'"
                echo "#   want: '$want'"
        fi
}

# For tap_ok: succeed when CMD fails ("!" is not a command "$@" can run).
not() { ! "$@"; }

# HOST has ADDR on any interface.
host_has_addr_any() {
        lan_exec "$1" ip -o addr show | grep -q " $2/"
}

json_get() {
        "$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}
