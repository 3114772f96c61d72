#!/bin/bash
# SPDX-License-Identifier: MIT
# Announcement burst on the wire, judged by a capture in the switch and by a client's
# neighbour table: an address moves from n1 to n2 (make before break's takeover step);
# a burst of N from n2 puts exactly N gratuitous ARPs / N unsolicited NAs (Override, not
# Solicited, hop limit 255, to ff02::1) on the LAN, and the client, which had n1's MAC for
# the address, maps it to n2's MAC without sending anything itself.
. "$(dirname "$0")/../lib/lan.sh"
lan_require_root

lan_setup n1 n2 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MAC1=$(lan_mac n1)
MAC2=$(lan_mac n2)
has() { [[ "$1" == *"$2"* ]]; }
# Any datagram makes the client resolve the address (bash's /dev/udp; no ping needed).
poke() { lan_exec client bash -c "echo x >/dev/udp/$1/9" 2>/dev/null; }
neigh_mac() { lan_exec client ip neigh show "$1" dev eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'; }

# --- IPv4: 3 gratuitous ARPs, 100 ms apart ---
lan_exec n1 ip addr add 192.0.2.100/32 dev eth0
poke 192.0.2.100
sleep 0.2
tap_is "$(neigh_mac 192.0.2.100)" "$MAC1" "client learnt 192.0.2.100 at n1"
lan_exec n1 ip addr del 192.0.2.100/32 dev eth0
lan_exec n2 "$NET_TOOL" add eth0 192.0.2.100

lan_capture_start br0 "$tmp/v4.pcap"
start=$(date +%s%N)
out=$(lan_exec n2 "$NET_TOOL" announce eth0 192.0.2.100 3 100)
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
lan_capture_stop
tap_is "$out" "sent 3" "burst reports 3 sent"
tap_ok "3 packets 100 ms apart take at least 200 ms (took ${elapsed_ms} ms)" [ "$elapsed_ms" -ge 200 ]
# RFC 5227 announcement: request, sender IP = target IP = address, from n2, broadcast.
garp="ether src $MAC2 and ether dst ff:ff:ff:ff:ff:ff and arp and arp[6:2] = 1 and arp[14:4] = 0xc0000264 and arp[24:4] = 0xc0000264"
tap_is "$(lan_capture_count "$tmp/v4.pcap" "$garp")" 3 "exactly 3 gratuitous ARPs on the wire"
tap_is "$(lan_capture_count "$tmp/v4.pcap" "arp and ether src $MAC2")" 3 "and no other ARP from n2"
tap_is "$(neigh_mac 192.0.2.100)" "$MAC2" "client now maps 192.0.2.100 to n2 (no traffic of its own)"

# --- IPv6: 4 unsolicited NAs, 50 ms apart ---
lan_exec n1 ip addr add 2001:db8::100/128 dev eth0 nodad
poke 2001:db8::100
sleep 0.2
tap_is "$(neigh_mac 2001:db8::100)" "$MAC1" "client learnt 2001:db8::100 at n1"
lan_exec n1 ip addr del 2001:db8::100/128 dev eth0
lan_exec n2 "$NET_TOOL" add eth0 2001:db8::100

lan_capture_start br0 "$tmp/v6.pcap"
out=$(lan_exec n2 "$NET_TOOL" announce eth0 2001:db8::100 4 50)
lan_capture_stop
tap_is "$out" "sent 4" "burst reports 4 sent"
# NA (136), hop limit 255, to ff02::1 (MAC 33:33:00:00:00:01), Override set, Solicited and
# Router clear, target 2001:db8::100, from n2's link-local address.
na="ether src $MAC2 and ether dst 33:33:00:00:00:01 and ip6 dst ff02::1 and ip6[6] = 58 and ip6[7] = 255 and ip6[40] = 136 and ip6[44] & 0xe0 = 0x20 and ip6[48:4] = 0x20010db8 and ip6[52:4] = 0 and ip6[56:4] = 0 and ip6[60:4] = 0x100 and ip6 src net fe80::/64"
tap_is "$(lan_capture_count "$tmp/v6.pcap" "$na")" 4 "exactly 4 unsolicited NAs with Override on the wire"
tap_is "$(lan_capture_count "$tmp/v6.pcap" "icmp6 and ether src $MAC2 and ip6[40] = 136")" 4 "and no other NA from n2"
# tcpdump checks the ICMPv6 checksum and the target link-layer address option.
dec=$(tcpdump -n -vv -r "$tmp/v6.pcap" "ether src $MAC2 and icmp6 and ip6[40] = 136" 2>/dev/null)
tap_is "$(grep -c 'icmp6 sum ok' <<<"$dec")" 4 "tcpdump -vv verifies all 4 ICMPv6 checksums"
tap_is "$(grep -c "tgt is 2001:db8::100, Flags \[override\]" <<<"$dec")" 4 "tcpdump decodes target and override flag"
tap_is "$(grep -c "destination link-address option (2), length 8 (1): $MAC2" <<<"$dec")" 4 "target link-layer option carries n2's MAC"
tap_is "$(neigh_mac 2001:db8::100)" "$MAC2" "client now maps 2001:db8::100 to n2"

# The client's traffic for the address now goes to n2.
lan_capture_start br0 "$tmp/after.pcap"
poke 192.0.2.100
poke 2001:db8::100
lan_capture_stop
tap_is "$(lan_capture_count "$tmp/after.pcap" "udp dst port 9 and ether dst $MAC2")" 2 "client datagrams go to n2's MAC"
tap_is "$(lan_capture_count "$tmp/after.pcap" "udp dst port 9 and ether dst $MAC1")" 0 "none to n1's MAC"

# --- a bad burst is refused, nothing sent ---
err=$(lan_exec n2 "$NET_TOOL" announce eth0 192.0.2.100 0 100 2>&1)
tap_ok "count 0 refused" has "$err" "Invalid argument"


tap_done
