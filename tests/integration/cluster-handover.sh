#!/bin/bash
# SPDX-License-Identifier: MIT
# Planned restarts hand an address over and back (issue 9 item 9): the node that lets go
# must not send one more announcement for it once the other node owns it, or a client
# with a neighbour cache follows it and is then left pointing at a node that removes the
# address. Two nodes, one Service address (192.0.2.150); long announcement bursts
# (garp_count 100, 20 ms apart: 2 s) so that every handover falls inside the other
# node's burst. The owner X gets SIGTERM and is started again at once: Y takes over
# (its burst starts), X returns and takes it back while Y's burst would still run;
# then X gets SIGTERM again inside its own return burst and Y takes over once more.
# Judged from a capture at the switch: the gratuitous ARPs for the address, by sender,
# form exactly the runs Y, X, Y (before the fix: the letting-go node's burst went on
# during its 50 ms linger, e.g. Y X Y X Y ...), and a client sending UDP every 10 ms
# through its own ARP cache loses nothing.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/pair.sh"
. "$(dirname "$0")/../lib/client.sh"
lan_require_root tcpdump
[ -x "$CACHED_CLIENT" ] || { echo "Bail out! $CACHED_CLIENT is not built"; exit 1; }

pair_lan UDP "$CLIENT_PORT" || { echo "Bail out! the LAN or the configuration failed"; exit 1; }
for n in node1 node2; do
        sed -i 's/^garp_count = .*/garp_count = 100/; s/^garp_interval_ms = .*/garp_interval_ms = 20/' \
                "$tmp/$n/mlbd.conf"
        client_serve "$n" "$n"
done
for n in node1 node2; do start_node "$n" || { echo "Bail out! $n did not start"; exit 1; }; done
for ((i = 0; i < 100; i++)); do [[ $(holder) =~ ^node[12]$ ]] && break; sleep 0.1; done
X=$(holder)
tap_ok "one node holds $VIP ($X)" eval '[[ $X =~ ^node[12]$ ]]'
[[ $X =~ ^node[12]$ ]] || tap_done
Y=node1
[ "$X" = node1 ] && Y=node2
sleep 2.5 # X's own first burst is over

lan_capture_start br0 "$tmp/arp.pcap"
client_start client "$tmp/client.out" 15000 "$VIP"
sleep 0.5
stop_node "$X"
start_node "$X" || tap_diag "$X did not restart"
tap_ok "$X took $VIP back" wait_holder "$X"
sleep 0.3 # inside X's return burst (2 s)
stop_node "$X"
tap_ok "$Y holds $VIP after the second SIGTERM" wait_holder "$Y"
sleep 2.5 # Y's burst ends
client_stop "$CLIENT_PID"
lan_capture_stop
start_node "$X" || tap_diag "$X did not restart"

# the senders of the gratuitous ARPs (who-has VIP tell VIP), in order, as runs
mac_x=$(lan_mac "$X")
mac_y=$(lan_mac "$Y")
tcpdump -n -e -r "$tmp/arp.pcap" "arp and arp[14:4] = arp[24:4]" 2>/dev/null |
        awk -v vip="$VIP" '$0 ~ "tell " vip "," { print $2 }' >"$tmp/garps"
runs=$(awk -v x="$mac_x" -v y="$mac_y" '{
        n = ($1 == x) ? "X" : ($1 == y) ? "Y" : "?"
        if (n != last) { printf "%s%s", sep, n; sep = " " } ; last = n
} END { print "" }' "$tmp/garps")
tap_diag "gratuitous ARPs for $VIP: $(wc -l <"$tmp/garps") (X = $X, Y = $Y); runs by sender: $runs"
tap_is "$runs" "Y X Y" "the node letting go sends no announcement after the new owner's first"
client_report "$tmp/client.out"
tap_is "$(client_field "$tmp/client.out" "$VIP" lost)" 0 "the client through its ARP cache lost nothing"
tap_done
