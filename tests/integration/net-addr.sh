#!/bin/bash
# SPDX-License-Identifier: MIT
# Addresses through rtnetlink: add with /32 or /128, nodad, noprefixroute and our IFA_PROTO
# tag; errors come back from the kernel; flush removes exactly the tagged addresses; links
# and the interface choice for an address (subnet first, then the default route).
. "$(dirname "$0")/../lib/lan.sh"
lan_require_root /usr/bin/python3
PROTO_JUDGE="$(dirname "$0")/../lib/ifa-proto.py"

lan_setup n1 || { echo "Bail out! lan_setup failed"; exit 1; }
T() { lan_exec n1 "$NET_TOOL" "$@"; }
addr_line() { lan_exec n1 ip -o addr show dev eth0 | grep -F " $1 "; }
has() { [[ "$1" == *"$2"* ]]; }
fails() { ! "$@" 2>/dev/null; }
proto_of() { lan_exec n1 /usr/bin/python3 "$PROTO_JUDGE" | awk -v a="$1" '$2 == a { print $4 }'; }

tap_ok "add 192.0.2.100" T add eth0 192.0.2.100
tap_ok "add 2001:db8::100" T add eth0 2001:db8::100
tap_ok "IPv4 is a /32 with noprefixroute" has "$(addr_line 192.0.2.100/32)" noprefixroute
line6=$(addr_line 2001:db8::100/128)
tap_ok "IPv6 is a /128 with nodad" has "$line6" nodad
tap_ok "IPv6 is noprefixroute" has "$line6" noprefixroute
tap_ok "IPv6 is not tentative" fails has "$line6" tentative
tap_is "$(proto_of 192.0.2.100/32)" 109 "IPv4 tagged IFA_PROTO 0x6d (raw netlink dump)"
tap_is "$(proto_of 2001:db8::100/128)" 109 "IPv6 tagged IFA_PROTO 0x6d (raw netlink dump)"
tap_is "$(proto_of 192.0.2.1/24)" 0 "the host's own address carries no tag"
tap_is "$(lan_exec n1 ip -6 route show 2001:db8::100)" "" "no prefix route for the /128"
tap_ok "own dump agrees on tag and flags (permanent|nodad|noprefixroute)" \
        grep -qx 'eth0 2001:db8::100/128 proto 109 flags 0x282' <<<"$(T dump)"

err=$(T add eth0 192.0.2.100 2>&1)
tap_ok "adding twice fails" [ $? -ne 0 ]
tap_ok "... with the kernel's EEXIST" has "$err" "File exists"
err=$(T del eth0 192.0.2.199 2>&1)
tap_ok "deleting an absent address fails with EADDRNOTAVAIL" \
        has "$err" "Cannot assign requested address"
err=$(T add eth0 192.0.2.300 2>&1)
tap_ok "bad address refused with a message" has "$err" 'invalid address "192.0.2.300"'

# Flush: only tagged addresses go; manual ones (even /32 and /128) stay.
lan_exec n1 ip addr add 192.0.2.200/32 dev eth0
lan_exec n1 ip addr add 2001:db8::200/128 dev eth0 nodad
tap_ok "add 192.0.2.101" T add eth0 192.0.2.101
tap_is "$(T flush)" "removed 3" "flush removes the three tagged addresses"
left=$(lan_exec n1 ip -o addr show dev eth0 | awk '{print $4}' | grep -v '^fe80' | sort | tr '\n' ' ')
tap_is "$left" "192.0.2.1/24 192.0.2.200/32 2001:db8::1/64 2001:db8::200/128 " \
        "manual and host addresses stay"
tap_is "$(T flush)" "removed 0" "second flush finds nothing"

# Links.
tap_is "$(T links | awk '$2 == "eth0" { print $3, $4 }')" "00:00:5e:00:53:01 up" "eth0 MAC and up"

# Interface for an address: the subnet holding it, else the default route's.
lan_exec n1 ip link add up0 type veth peer name up1
lan_exec n1 ip link set up0 up
lan_exec n1 ip link set up1 up
lan_exec n1 ip addr add 203.0.113.1/24 dev up0
lan_exec n1 ip addr add 198.51.100.77/32 dev eth0 # a /32 is no subnet
tap_is "$(T route-iface 192.0.2.150)" eth0 "192.0.2.150 -> eth0 (subnet)"
tap_is "$(T route-iface 203.0.113.9)" up0 "203.0.113.9 -> up0 (subnet)"
tap_ok "198.51.100.7 without default route is unreachable" fails T route-iface 198.51.100.7
lan_exec n1 ip route add default via 203.0.113.254 dev up0
tap_is "$(T route-iface 198.51.100.7)" up0 "198.51.100.7 -> up0 (default route)"
tap_is "$(T route-iface 192.0.2.150)" eth0 "subnet still wins over the default route"
tap_is "$(T route-iface 2001:db8::150)" eth0 "2001:db8::150 -> eth0 (subnet)"
tap_ok "2001:db8:1::5 without IPv6 default route is unreachable" fails T route-iface 2001:db8:1::5
lan_exec n1 ip -6 route add default via fe80::1 dev up0
tap_is "$(T route-iface 2001:db8:1::5)" up0 "2001:db8:1::5 -> up0 (IPv6 default route)"
tap_is "$(T route-iface 192.0.2.150 203.0.113.9 198.51.100.7 2001:db8::150 2001:db8:1::5 | tr '\n' ' ')" \
        "eth0 up0 up0 eth0 up0 " "one cache for many addresses agrees with each alone"

# Last: taking eth0 down also drops its IPv6 addresses (keep_addr_on_down=0).
lan_exec n1 ip link set eth0 down
tap_is "$(T links | awk '$2 == "eth0" { print $4 }')" "down" "eth0 down"

tap_done
