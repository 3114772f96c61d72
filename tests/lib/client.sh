# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# client.sh: a client with a neighbour cache (tests/lib/cached-client), its responders and
# a fresh-ARP prober, for integration and chaos tests. Source it after lan.sh and
# lan_setup; it defines functions only. Every process is started with lan_bg (PID saved
# for lan_cleanup) and stopped by its PID.
#
#   CACHED_CLIENT, CLIENT_PORT    the binary and the UDP port (7001) (overridable)
#   client_serve HOST NAME        the responder on HOST: answers each datagram on
#                                 CLIENT_PORT with NAME, from the address asked (v4 and v6)
#   client_start HOST OUT MS ADDR...
#                                 from HOST, a datagram to each ADDR every 10 ms for MS
#                                 through the kernel (HOST's own ARP/ND cache); figures to
#                                 OUT when it ends; PID in CLIENT_PID
#   arp_probe_start HOST OUT MS ADDR...
#                                 from HOST's eth0, a fresh ARP who-has for each IPv4 ADDR
#                                 every 10 ms for MS, answers per MAC; PID in PROBE_PID
#   client_wait PID [S]           wait (bounded, S s, default 30) until PID has ended
#   client_stop PID               SIGTERM (it ends early and prints its figures), then wait
#   client_field OUT ADDR FIELD   FIELD of ADDR's line (e.g. lost, longest_gap_ms)
#   client_summary OUT FIELD      FIELD of the summary line
#   client_names OUT ADDR         answered_by of ADDR with MACs replaced by lan host names
#   client_report OUT             OUT's lines as TAP diagnostics (MACs named)

CACHED_CLIENT=${CACHED_CLIENT:-${top_builddir:-.}/tests/lib/cached-client}
CLIENT_PORT=${CLIENT_PORT:-7001}
CLIENT_PID=
PROBE_PID=

client_serve() {
        lan_bg "$1" "$(lan_tmpdir)/serve-$1.log" "$CACHED_CLIENT" serve "$CLIENT_PORT" "$2"
}

client_start() {
        local host=$1 out=$2 ms=$3
        shift 3
        lan_bg "$host" "$out" "$CACHED_CLIENT" udp "$ms" "$CLIENT_PORT" "$@"
        CLIENT_PID=$LAN_LAST_PID
}

arp_probe_start() {
        local host=$1 out=$2 ms=$3
        shift 3
        lan_bg "$host" "$out" "$CACHED_CLIENT" arp eth0 "$ms" "$@"
        PROBE_PID=$LAN_LAST_PID
}

# Waits until PID has ended (it ends by itself after its duration); bounded.
client_wait() {
        local pid=$1 secs=${2:-30} i p keep=()
        for ((i = 0; i < secs * 10; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        local rc=$?
        # Reaped: drop it from lan_cleanup's list (the PID may be reused).
        for p in "${LAN_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
        LAN_PIDS=("${keep[@]}")
        return $rc
}

client_stop() {
        kill -TERM "$1" 2>/dev/null
        client_wait "$1" 5
}

client_field() {
        awk -v a="$2" -v f="$3" '$1 == a { for (i = 2; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' "$1"
}

client_summary() {
        client_field "$1" summary "$2"
}

# Replaces the lan hosts' MACs by their names ("00:00:5e:00:53:02" -> "node2").
client_name_macs() {
        local h args=()
        for h in "${LAN_HOSTS[@]}"; do args+=(-e "s/$(lan_mac "$h")/$h/g"); done
        sed "${args[@]}"
}

client_names() {
        client_field "$1" "$2" answered_by | client_name_macs
}

client_report() {
        client_name_macs <"$1" | while IFS= read -r line; do tap_diag "$line"; done
}
