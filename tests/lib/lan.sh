# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lan.sh: a namespace LAN for integration tests, plus a tiny TAP producer. Source it from
# a bash test; it defines functions only (and traps nothing until lan_setup).
#
#   lan_require_root TOOL...    not root: print "1..0 # SKIP ..." and exit 0; root but a
#                               tool missing: "Bail out!" and exit 1 (a real failure)
#   lan_setup NAME...           switch namespace with br0 (stp 0, forward_delay 0) and one
#                               namespace per host, joined by veth (eth0 in the host, swN
#                               on the bridge); host N (1-based) gets MAC 00:00:5e:00:53:0N,
#                               192.0.2.N/24 and 2001:db8::N/64 (nodad), everything up
#   lan_exec HOST CMD...        run CMD in HOST's namespace ("sw" is the switch)
#   lan_ns HOST                 print the namespace name; lan_mac/lan_ip4/lan_ip6 HOST too
#   lan_bg HOST OUT CMD...      run CMD in the background with stdout+stderr to OUT; the PID
#                               is saved for cleanup and left in LAN_LAST_PID
#   lan_wait_for FILE REGEX [S] wait until FILE has a line matching REGEX (default 5 s)
#   wait_for SECS CMD...        run CMD every 0.1 s until it succeeds, for at most SECS
#   lan_link HOST up|down       set HOST's switch port (swN on br0) up or down, i.e. pull
#                               or plug its cable at the switch; HOST's eth0 loses carrier
#   lan_capture_start IFACE FILE / lan_capture_stop
#                               tcpdump in the switch namespace (by PID), ready on return
#   lan_cleanup                 kill saved PIDs, delete the namespaces (installed as EXIT trap)
#   tap_ok DESC CMD...          "ok N - DESC" if CMD succeeds, else "not ok"; tap_is GOT
#                               WANT DESC; tap_diag MSG; tap_done (prints the plan, exits)
#
# Namespace names are "mlbdt-$$-NAME", unique per run, so runs never collide and a
# leftover from a killed run cannot break the next one. Only documentation addresses
# (RFC 5737, RFC 3849) and documentation MACs (RFC 7042) are used.

LAN_PREFIX="mlbdt-$$-"
LAN_HOSTS=()
LAN_PIDS=()
LAN_NAMESPACES=()
LAN_CAPTURE_PID=
LAN_LAST_PID=
LAN_TMP=
TAP_N=0
TAP_FAILED=0

tap_ok() {
        local desc=$1
        shift
        TAP_N=$((TAP_N + 1))
        if "$@"; then
                echo "ok $TAP_N - $desc"
        else
                echo "not ok $TAP_N - $desc"
                TAP_FAILED=$((TAP_FAILED + 1))
        fi
}

tap_is() {
        local got=$1 want=$2 desc=$3
        TAP_N=$((TAP_N + 1))
        if [ "$got" = "$want" ]; then
                echo "ok $TAP_N - $desc"
        else
                echo "not ok $TAP_N - $desc"
                echo "#   got:  '$got'"
                echo "#   want: '$want'"
                TAP_FAILED=$((TAP_FAILED + 1))
        fi
}

tap_diag() {
        local line
        while IFS= read -r line; do echo "# $line"; done <<<"$*"
}

tap_done() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
        exit $?
}

lan_require_root() {
        local t
        if [ "$(id -u)" -ne 0 ]; then
                echo "1..0 # SKIP needs root (network namespaces)"
                exit 0
        fi
        for t in ip tcpdump "$@"; do
                if ! command -v "$t" >/dev/null 2>&1; then
                        echo "Bail out! root but $t is missing (apt-get install it)"
                        exit 1
                fi
        done
}

lan_ns() {
        echo "${LAN_PREFIX}$1"
}

lan_index() {
        local i
        for i in "${!LAN_HOSTS[@]}"; do
                if [ "${LAN_HOSTS[$i]}" = "$1" ]; then
                        echo $((i + 1))
                        return 0
                fi
        done
        echo "lan: unknown host $1" >&2
        return 1
}

lan_mac() { printf '00:00:5e:00:53:%02x\n' "$(lan_index "$1")"; }
lan_ip4() { echo "192.0.2.$(lan_index "$1")"; }
lan_ip6() { echo "2001:db8::$(lan_index "$1")"; }

lan_exec() {
        local host=$1
        shift
        ip netns exec "$(lan_ns "$host")" "$@"
}

lan_cleanup() {
        local pid ns
        if [ -n "$LAN_CAPTURE_PID" ]; then
                kill "$LAN_CAPTURE_PID" 2>/dev/null
                wait "$LAN_CAPTURE_PID" 2>/dev/null
                LAN_CAPTURE_PID=
        fi
        for pid in "${LAN_PIDS[@]}"; do
                kill "$pid" 2>/dev/null
        done
        for pid in "${LAN_PIDS[@]}"; do
                wait "$pid" 2>/dev/null
        done
        LAN_PIDS=()
        for ns in "${LAN_NAMESPACES[@]}"; do
                ip netns del "$ns" 2>/dev/null
        done
        LAN_NAMESPACES=()
        if [ -n "$LAN_TMP" ]; then
                if [ "$TAP_FAILED" -gt 0 ] && [ -n "${LAN_KEEP_ON_FAILURE:-}" ]; then
                        echo "# kept $LAN_TMP (LAN_KEEP_ON_FAILURE)"
                else
                        rm -rf "$LAN_TMP"
                fi
                LAN_TMP=
        fi
}

# A scratch directory removed by lan_cleanup (kept after a failed check when
# LAN_KEEP_ON_FAILURE is set). lan_setup makes it, so that `tmp=$(lan_tmpdir)` in a
# subshell still names the directory the cleanup removes.
lan_tmpdir() {
        if [ -z "$LAN_TMP" ]; then
                LAN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlbdt-$$.XXXXXX") || return 1
        fi
        echo "$LAN_TMP"
}

lan_setup() {
        local sw name ns i=0 mac
        trap lan_cleanup EXIT
        trap 'exit 130' INT TERM
        lan_tmpdir >/dev/null || return 1
        sw=$(lan_ns sw)
        ip netns add "$sw" || return 1
        LAN_NAMESPACES+=("$sw")
        # The switch has no IPv6 of its own, so captures hold only the hosts' packets.
        ip netns exec "$sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                net.ipv6.conf.default.disable_ipv6=1 || return 1
        ip -n "$sw" link set lo up || return 1
        ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
        ip -n "$sw" link set br0 up || return 1
        for name in "$@"; do
                i=$((i + 1))
                ns=$(lan_ns "$name")
                LAN_HOSTS+=("$name")
                mac=$(printf '00:00:5e:00:53:%02x' "$i")
                ip netns add "$ns" || return 1
                LAN_NAMESPACES+=("$ns")
                ip -n "$sw" link add "sw$i" type veth peer name eth0 netns "$ns" || return 1
                ip -n "$sw" link set "sw$i" master br0 up || return 1
                ip -n "$ns" link set lo up || return 1
                ip -n "$ns" link set eth0 address "$mac" || return 1
                # No DAD on the test link (link-local usable at once, tests not slowed).
                ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0 \
                        net.ipv6.conf.eth0.dad_transmits=0 || return 1
                ip -n "$ns" addr add "192.0.2.$i/24" dev eth0 || return 1
                ip -n "$ns" addr add "2001:db8::$i/64" dev eth0 nodad || return 1
                ip -n "$ns" link set eth0 up || return 1
        done
        # Wait (bounded) until every host's link is up with a usable link-local address.
        for name in "$@"; do
                for _ in $(seq 50); do
                        lan_exec "$name" ip -6 addr show dev eth0 scope link 2>/dev/null |
                                grep -q 'inet6 fe80' &&
                                ! lan_exec "$name" ip -6 addr show dev eth0 tentative |
                                grep -q inet6 && break
                        sleep 0.1
                done
        done
}

lan_bg() {
        local host=$1 out=$2
        shift 2
        # Not through the lan_exec function: a backgrounded function runs in a bash
        # subshell, so $! would be that shell and kill would leave CMD running. ip netns
        # exec execs CMD, so this PID is CMD's own.
        ip netns exec "$(lan_ns "$host")" "$@" >"$out" 2>&1 &
        LAN_LAST_PID=$!
        LAN_PIDS+=("$LAN_LAST_PID")
}

wait_for() {
        local s=$1 i
        shift
        for ((i = 0; i < s * 10; i++)); do "$@" && return 0; sleep 0.1; done
        return 1
}

lan_wait_for() {
        local file=$1 re=$2 secs=${3:-5} i
        for ((i = 0; i < secs * 20; i++)); do
                grep -Eq -- "$re" "$file" 2>/dev/null && return 0
                sleep 0.05
        done
        return 1
}

lan_link() {
        local i
        i=$(lan_index "$1") || return 1
        ip -n "$(lan_ns sw)" link set "sw$i" "$2"
}

lan_capture_start() {
        local iface=$1 file=$2
        ip netns exec "$(lan_ns sw)" tcpdump -i "$iface" --immediate-mode -U -n -w "$file" \
                >"$file.log" 2>&1 &
        LAN_CAPTURE_PID=$!
        lan_wait_for "$file.log" 'listening on' 5
}

lan_capture_stop() {
        [ -n "$LAN_CAPTURE_PID" ] || return 0
        sleep 0.2 # let the last packets cross the bridge
        kill -INT "$LAN_CAPTURE_PID" 2>/dev/null
        wait "$LAN_CAPTURE_PID" 2>/dev/null
        LAN_CAPTURE_PID=
}

# Packets in a capture matching a tcpdump filter.
lan_capture_count() {
        local file=$1
        shift
        tcpdump -n -r "$file" "$@" 2>/dev/null | wc -l
}

# Paths for tests run by make check (top_builddir/top_srcdir exported) or by hand.
NET_TOOL=${NET_TOOL:-${top_builddir:-.}/tests/integration/net-tool}
