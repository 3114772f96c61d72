#!/bin/bash
# SPDX-License-Identifier: MIT
# Conflict probe on a namespace LAN: an address another host already has gives CONFLICT
# with that host's MAC (IPv4 ARP probe, IPv6 DAD-style NS); a free one gives FREE after
# the configured probes; a competing probe from another host is a conflict too (RFC 5227
# §2.1.1, RFC 4862 §5.4.3), including the kernel's own DAD.
. "$(dirname "$0")/../lib/lan.sh"
lan_require_root

lan_setup n1 n2 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MAC1=$(lan_mac n1)
MAC2=$(lan_mac n2)
P() { lan_exec n2 "$NET_TOOL" probe eth0 "$@"; }
ms() { echo $(($(date +%s%N) / 1000000)); }

# The daemon's short timings: 3 probes 50 ms apart, then 100 ms of silence.
lan_exec n1 ip addr add 192.0.2.100/32 dev eth0
out=$(P 192.0.2.100 3 50 100 2>/dev/null); rc=$?
tap_is "$out" "conflict $MAC1" "IPv4 address held by n1: conflict with n1's MAC"
tap_is "$rc" 2 "exit code 2 for a conflict"

lan_capture_start br0 "$tmp/v4.pcap"
t0=$(ms)
out=$(P 192.0.2.101 3 50 100); rc=$?
t1=$(ms)
lan_capture_stop
tap_is "$out/$rc" "free/0" "IPv4 free address: free"
tap_ok "free only after 2 gaps + wait (>= 200 ms, took $((t1 - t0)) ms)" [ $((t1 - t0)) -ge 200 ]
probe="ether src $MAC2 and ether dst ff:ff:ff:ff:ff:ff and arp and arp[6:2] = 1 and arp[14:4] = 0 and arp[24:4] = 0xc0000265"
tap_is "$(lan_capture_count "$tmp/v4.pcap" "$probe")" 3 "3 RFC 5227 probes (sender IP 0.0.0.0) on the wire"

lan_exec n1 ip addr add 2001:db8::100/128 dev eth0 nodad
out=$(P 2001:db8::100 3 50 100 2>/dev/null); rc=$?
tap_is "$out/$rc" "conflict $MAC1/2" "IPv6 address held by n1: conflict with n1's MAC"

lan_capture_start br0 "$tmp/v6.pcap"
out=$(P 2001:db8::101 2 50 100); rc=$?
lan_capture_stop
tap_is "$out/$rc" "free/0" "IPv6 free address: free"
ns="ether src $MAC2 and ether dst 33:33:ff:00:01:01 and ip6 src :: and ip6 dst ff02::1:ff00:101 and ip6[7] = 255 and ip6[40] = 135 and ip6[60:4] = 0x101"
tap_is "$(lan_capture_count "$tmp/v6.pcap" "$ns")" 2 "2 DAD NS from :: to the solicited-node group"
tap_is "$(tcpdump -n -vv -r "$tmp/v6.pcap" "ether src $MAC2 and icmp6 and ip6[40] = 135" 2>/dev/null | grep -c 'icmp6 sum ok')" 2 \
        "NS checksums valid"

# Competing probes: n2 probes slowly; n1 probes the same address meanwhile.
lan_bg n2 "$tmp/slow4" "$NET_TOOL" probe eth0 192.0.2.102 3 300 1000
pid=$LAN_LAST_PID
sleep 0.2
lan_exec n1 "$NET_TOOL" probe eth0 192.0.2.102 1 0 0 >/dev/null
wait "$pid"
tap_is "$(grep -v '^<' "$tmp/slow4")" "conflict $MAC1" "IPv4: a competing ARP probe from n1 is a conflict"

lan_bg n2 "$tmp/slow6" "$NET_TOOL" probe eth0 2001:db8::102 3 300 1000
pid=$LAN_LAST_PID
sleep 0.2
lan_exec n1 "$NET_TOOL" probe eth0 2001:db8::102 1 0 0 >/dev/null
wait "$pid"
tap_is "$(grep -v '^<' "$tmp/slow6")" "conflict $MAC1" "IPv6: a competing DAD NS from n1 is a conflict"

# The kernel's own DAD on n1 (an address added without nodad) is seen as a probe.
lan_exec n1 sysctl -qw net.ipv6.conf.eth0.accept_dad=1 net.ipv6.conf.eth0.dad_transmits=1
# One NS at once, then listen: a later NS of ours would make n1 give up its DAD silently.
lan_bg n2 "$tmp/dad" "$NET_TOOL" probe eth0 2001:db8::103 1 0 2500
pid=$LAN_LAST_PID
sleep 0.1
lan_exec n1 ip addr add 2001:db8::103/128 dev eth0
wait "$pid"
tap_is "$(grep -v '^<' "$tmp/dad")" "conflict $MAC1" "IPv6: n1's kernel DAD for the address is a conflict"

# Our own address is not a conflict with ourselves.
lan_exec n2 "$NET_TOOL" add eth0 192.0.2.104
out=$(P 192.0.2.104 2 50 100)
tap_is "$out" "free" "an address only we hold probes free"

err=$(P 192.0.2.105 3 50 2>&1)
tap_ok "wrong argument count refused with usage" grep -q usage <<<"$err"
err=$(P 192.0.2.105 3 70000 100 2>&1)
tap_ok "gap out of range refused" grep -q 'invalid number "70000"' <<<"$err"
tap_done
