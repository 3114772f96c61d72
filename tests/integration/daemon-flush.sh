#!/bin/bash
# SPDX-License-Identifier: MIT
# `mlbd --flush` after kill -9 removes what mlbd put on the interfaces and nothing else, in
# both modes:
# - a kernel that drops IFA_PROTO (before Linux 5.18; MLBD_TEST_NO_IFA_PROTO=1 makes mlbd
#   behave as on one): mlbd's addresses are untagged; flush removes what state_dir/
#   state.json says this node owned and is still on that interface as a /32 or /128, and
#   nothing else (not a hand-added /32 or /128, not the same address on another interface
#   or with another prefix, nothing from a state file of another node);
# - a kernel that keeps the tag: flush removes the tagged addresses only; an untagged
#   address stays even when state.json lists it.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
# a second interface on node1 (a veth pair kept inside it: no dummy module here)
lan_exec node1 ip link add lan1 type veth peer name lan1p
lan_exec node1 ip link set lan1 up
lan_exec node1 ip link set lan1p up

on() { # DEV ADDR/LEN: exactly this address and prefix is on DEV of node1
        lan_exec node1 ip -o addr show dev "$1" | awk '{print $4}' | grep -qxF "$2"
}
proto() { # ADDR/LEN on eth0: its IFA_PROTO, by the independent raw dump
        addr_protos node1 | awk -v a="$1" '$1 == "eth0" && $2 == a { print $4 }'
}
state_lists() { # DIR ADDR...: state.json lists each ADDR as owned (bounded wait, 5 s)
        local dir=$1 i a ok
        shift
        for ((i = 0; i < 50; i++)); do
                ok=1
                for a in "$@"; do
                        grep -q "\"address\": *\"$a\"" "$dir/state/state.json" 2>/dev/null || ok=
                done
                [ -n "$ok" ] && return 0
                sleep 0.1
        done
        return 1
}
own_two() { # DIR: mlbd in DIR owns 192.0.2.150 and 2001:db8::150
        daemon_session "$1" '"node_assigned".*2001:db8::150' \
                "$(upsert_msg 3 "$(svc_json demo web4 u4)")" \
                "$(upsert_msg 4 "$(svc_json demo web6 u6 '"ipFamilies":["IPv6"]')")" >/dev/null
        wait_addr node1 192.0.2.150 5 && wait_addr node1 2001:db8::150 5
}
flush() { # DIR [ENV=VALUE]: mlbd --flush, output in DIR/flush.log; returns its exit status
        local dir=$1 rc
        shift
        lan_exec node1 env "$@" "$MLBD" -c "$dir/mlbd.conf" --flush >"$dir/flush.log" 2>&1
        rc=$?
        tap_diag "$(cat "$dir/flush.log")"
        return $rc
}

# ---- old kernel: no IFA_PROTO ----
old=$tmp/old
daemon_conf "$old" node1
export MLBD_TEST_NO_IFA_PROTO=1
daemon_start node1 "$old" || { echo "Bail out! mlbd did not start"; exit 1; }
unset MLBD_TEST_NO_IFA_PROTO
tap_ok "old-kernel mode: mlbd owns 192.0.2.150 and 2001:db8::150" own_two "$old"
tap_is "$(proto 192.0.2.150/32)" 0 "old-kernel mode: 192.0.2.150/32 added untagged"
tap_is "$(proto 2001:db8::150/128)" 0 "old-kernel mode: 2001:db8::150/128 added untagged"
tap_ok "state.json lists both as owned" state_lists "$old" 192.0.2.150 2001:db8::150

lan_exec node1 ip addr add 198.51.100.7/32 dev eth0           # foreign
lan_exec node1 ip addr add 192.0.2.151/32 dev eth0            # in the pool, not owned
lan_exec node1 ip addr add 2001:db8::151/128 dev eth0 nodad   # in the pool, not owned
daemon_stop KILL
lan_exec node1 ip addr add 192.0.2.150/32 dev lan1 # owned, but on another interface
lan_exec node1 ip addr add 192.0.2.150/24 dev eth0 # owned, but not as a /32
# What an old kernel leaves behind: untagged addresses (so already when mlbd honoured
# the test mode; put back untagged here so the flush is judged on exactly that).
lan_exec node1 ip addr del 192.0.2.150/32 dev eth0
lan_exec node1 ip addr add 192.0.2.150/32 dev eth0 noprefixroute
lan_exec node1 ip addr del 2001:db8::150/128 dev eth0
lan_exec node1 ip addr add 2001:db8::150/128 dev eth0 nodad noprefixroute
tap_is "$(addr_protos node1 | grep -c 'proto 109$')" 0 "no address tagged before the flush"

flush "$old" MLBD_TEST_NO_IFA_PROTO=1
tap_is "$?" 0 "old-kernel mode: mlbd --flush exits 0"
tap_ok "... removed the owned 192.0.2.150/32" not on eth0 192.0.2.150/32
tap_ok "... removed the owned 2001:db8::150/128" not on eth0 2001:db8::150/128
tap_ok "... kept the foreign 198.51.100.7/32" on eth0 198.51.100.7/32
tap_ok "... kept the unowned 192.0.2.151/32" on eth0 192.0.2.151/32
tap_ok "... kept the unowned 2001:db8::151/128" on eth0 2001:db8::151/128
tap_ok "... kept 192.0.2.150/32 on lan1 (state.json says eth0)" on lan1 192.0.2.150/32
tap_ok "... kept 192.0.2.150/24 on eth0 (not a /32)" on eth0 192.0.2.150/24
tap_ok "... kept node1's own 192.0.2.1/24" on eth0 192.0.2.1/24
tap_ok "... kept node1's own 2001:db8::1/64" on eth0 2001:db8::1/64
tap_ok "... says it removed 2 addresses from the state file" \
        grep -q 'Removed 2 addresses' "$old/flush.log"

flush "$old" MLBD_TEST_NO_IFA_PROTO=1
tap_is "$?" 0 "old-kernel mode: a second flush exits 0"
tap_ok "... and says it removed 0" grep -q 'Removed 0 addresses' "$old/flush.log"

# A state file another node wrote (a copied state_dir) is not this node's word.
lan_exec node1 ip addr add 192.0.2.152/32 dev eth0 noprefixroute
cat >"$old/state/state.json" <<EOF
{"version":1,"node":"node2","allocations":[],"owned":[{"address":"192.0.2.152","interface":"eth0"}]}
EOF
flush "$old" MLBD_TEST_NO_IFA_PROTO=1
tap_is "$?" 1 "old-kernel mode: a state file of node2 makes flush fail"
tap_ok "... and kept the 192.0.2.152/32 it lists" on eth0 192.0.2.152/32
tap_ok "... naming the file's node" grep -q 'node2' "$old/flush.log"

# Not in the way of the next mlbd taking 192.0.2.150 again.
lan_exec node1 ip addr del 192.0.2.150/32 dev lan1
lan_exec node1 ip addr del 192.0.2.150/24 dev eth0
lan_exec node1 ip addr del 192.0.2.150/32 dev eth0 2>/dev/null        # left by a failed flush
lan_exec node1 ip addr del 2001:db8::150/128 dev eth0 2>/dev/null

# ---- kernel with IFA_PROTO: the tag decides ----
new=$tmp/new
daemon_conf "$new" node1
daemon_start node1 "$new" || { echo "Bail out! mlbd did not start"; exit 1; }
tap_ok "normal mode: mlbd owns 192.0.2.150 and 2001:db8::150" own_two "$new"
tap_is "$(proto 192.0.2.150/32)" 109 "normal mode: 192.0.2.150/32 tagged"
tap_is "$(proto 2001:db8::150/128)" 109 "normal mode: 2001:db8::150/128 tagged"
tap_ok "state.json lists both as owned" state_lists "$new" 192.0.2.150 2001:db8::150
daemon_stop KILL
# An untagged address state.json lists: not mlbd's on a kernel that keeps the tag.
lan_exec node1 ip addr del 2001:db8::150/128 dev eth0
lan_exec node1 ip addr add 2001:db8::150/128 dev eth0 nodad noprefixroute

flush "$new"
tap_is "$?" 0 "normal mode: mlbd --flush exits 0"
tap_ok "... removed the tagged 192.0.2.150/32" not on eth0 192.0.2.150/32
tap_ok "... kept the untagged 2001:db8::150/128 although state.json lists it" \
        on eth0 2001:db8::150/128
tap_ok "... kept the foreign 198.51.100.7/32" on eth0 198.51.100.7/32
tap_ok "... kept the unowned 192.0.2.151/32" on eth0 192.0.2.151/32
tap_ok "... kept 192.0.2.152/32" on eth0 192.0.2.152/32
tap_ok "... kept node1's own 192.0.2.1/24" on eth0 192.0.2.1/24
tap_is "$(addr_protos node1 | grep -c 'proto 109$')" 0 "no tagged address left"
tap_done
