#!/bin/bash
# SPDX-License-Identifier: MIT
# The running mlbd on a namespace LAN: a LoadBalancer Service fed over the control socket
# gets 192.0.2.150 (then 2001:db8::150 for an IPv6 Service); the address sits on node1's
# eth0 as /32 (/128) noprefixroute with mlbd's protocol tag, exactly garp_count (3)
# gratuitous ARPs / unsolicited NAs cross the switch, the client learns node1's MAC for it
# and reaches a real HTTP server on node1 through it.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root busybox curl

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MAC1=$(lan_mac node1)
neigh_mac() { lan_exec client ip neigh show "$1" dev eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'; }

# The client accepts gratuitous ARP for addresses it has no entry for yet, so its
# neighbour table shows what the announcement said before any traffic.
lan_exec client sysctl -qw net.ipv4.conf.eth0.arp_accept=1

daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
mkdir -p "$tmp/www"
echo "hello from nginx-service" >"$tmp/www/index.html"
lan_bg node1 "$tmp/httpd.log" busybox httpd -f -p 8080 -h "$tmp/www"

# --- IPv4 ---
lan_capture_start sw1 "$tmp/v4.pcap"
out=$(daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo nginx-service u1)")")
tap_diag "$out"
tap_ok "notification allocated 192.0.2.150" grep -q '"op": *"allocated".*192\.0\.2\.150' <<<"$out"
tap_ok "notification node_assigned" grep -q '"op": *"node_assigned"' <<<"$out"
tap_ok "192.0.2.150 appears on node1's eth0" wait_addr node1 192.0.2.150 5
line=$(lan_exec node1 ip -o addr show dev eth0 | grep ' 192\.0\.2\.150/')
tap_diag "$line"
tap_ok "it is a /32" grep -q 'inet 192\.0\.2\.150/32 ' <<<"$line"
tap_ok "with noprefixroute" grep -q noprefixroute <<<"$line"
tap_is "$(addr_protos node1 | grep '^eth0 192\.0\.2\.150/32 ')" "eth0 192.0.2.150/32 proto 109" "tagged proto 0x6d"
sleep 0.5 # 3 GARPs 50 ms apart are long done; nothing more must follow
lan_capture_stop
garp="ether src $MAC1 and ether dst ff:ff:ff:ff:ff:ff and arp and arp[6:2] = 1 and arp[14:4] = 0xc0000296 and arp[24:4] = 0xc0000296"
tap_is "$(lan_capture_count "$tmp/v4.pcap" "$garp")" 3 "exactly 3 gratuitous ARPs for 192.0.2.150 on the wire"
tap_is "$(neigh_mac 192.0.2.150)" "$MAC1" "client's neighbour table maps 192.0.2.150 to node1 (no traffic of its own)"
got=$(lan_exec client curl -s --max-time 5 http://192.0.2.150:8080/)
tap_is "$got" "hello from nginx-service" "curl from the client to http://192.0.2.150:8080/"

# --- IPv6 ---
lan_capture_start sw1 "$tmp/v6.pcap"
out=$(daemon_session "$tmp" '"node_assigned"' \
        "$(upsert_msg 3 "$(svc_json demo nginx-v6 u2 '"ipFamilies":["IPv6"]')")")
tap_diag "$out"
tap_ok "notification allocated 2001:db8::150" grep -q '"op": *"allocated".*2001:db8::150' <<<"$out"
tap_ok "2001:db8::150 appears on node1's eth0" wait_addr node1 2001:db8::150 5
line=$(lan_exec node1 ip -o addr show dev eth0 | grep ' 2001:db8::150/')
tap_diag "$line"
tap_ok "it is a /128 noprefixroute" grep -q 'inet6 2001:db8::150/128 .*noprefixroute' <<<"$line"
tap_is "$(addr_protos node1 | grep '^eth0 2001:db8::150/128 ')" "eth0 2001:db8::150/128 proto 109" "tagged proto 0x6d"
sleep 0.5
lan_capture_stop
na="ether src $MAC1 and ip6 dst ff02::1 and ip6[40] = 136 and ip6[44] & 0xe0 = 0x20 and ip6[48:4] = 0x20010db8 and ip6[52:4] = 0 and ip6[56:4] = 0 and ip6[60:4] = 0x150"
tap_ok "unsolicited NA (Override) for 2001:db8::150 on the wire" [ "$(lan_capture_count "$tmp/v6.pcap" "$na")" -ge 1 ]
tap_is "$(lan_capture_count "$tmp/v6.pcap" "$na")" 3 "exactly garp_count (3) of them"
got=$(lan_exec client curl -s -g --max-time 5 'http://[2001:db8::150]:8080/')
tap_is "$got" "hello from nginx-service" "curl -g 'http://[2001:db8::150]:8080/' from the client"
tap_is "$(neigh_mac 2001:db8::150)" "$MAC1" "client's neighbour entry maps 2001:db8::150 to node1"
tap_ok "192.0.2.150 still on node1" host_has_addr node1 192.0.2.150

# --- release: a Service deleted, a Service no longer of type LoadBalancer ---
out=$(daemon_session "$tmp" '"op": *"released".*demo/nginx-service' \
        '{"op":"delete","id":3,"kind":"Service","namespace":"demo","name":"nginx-service","uid":"u1"}')
tap_diag "$out"
tap_ok "deleting the Service: notification released with 192.0.2.150" \
        grep -q '"op": *"released".*"demo/nginx-service".*"192\.0\.2\.150"' <<<"$out"
tap_ok "192.0.2.150 leaves node1's eth0" wait_no_addr node1 192.0.2.150 5
tap_ok "2001:db8::150 stays (its Service is still there)" host_has_addr node1 2001:db8::150
out=$(daemon_session "$tmp" '"op": *"released".*demo/nginx-v6' \
        "$(upsert_msg 3 '{"metadata":{"namespace":"demo","name":"nginx-v6","uid":"u2"},"spec":{"type":"ClusterIP","ports":[{"protocol":"TCP","port":80}]}}')")
tap_diag "$out"
tap_ok "type LoadBalancer -> ClusterIP: released with 2001:db8::150" \
        grep -q '"op": *"released".*"demo/nginx-v6".*"2001:db8::150"' <<<"$out"
tap_ok "2001:db8::150 leaves node1's eth0" wait_no_addr node1 2001:db8::150 5
sleep 0.2
tap_is "$(json_get "$(daemon_status "$tmp")" 'j["owned"]')" "[]" "status: nothing owned"
tap_ok "state.json holds no allocation any more" not grep -q '192\.0\.2\.150\|2001:db8::150' "$tmp/state/state.json"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
