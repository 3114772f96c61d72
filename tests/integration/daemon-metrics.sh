#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd's /metrics on [metrics] listen (issue 14): it passes `promtool check metrics`, and its
# values follow what the daemon does: a Service's address counted in use in its pool and
# announced by this node (speaker_announced), garp_count gratuitous ARPs counted, the
# client's requests (ARP, and NS for an IPv6 address) counted per address, and the
# kernel's answers to them (ARP replies, solicited NAs) but not mlbd's own gratuitous
# announcements (ARP announcements, unsolicited NAs) as responses sent, a refused
# reload counted (last_reload_successful 0) and a good one (1); a reload that moves the
# endpoint is refused. A listen address that cannot be bound is a startup error naming
# it; `listen =` empty serves nothing. Under a line-rate flood of ARP requests for the
# address (every one answered by the kernel, so every reply reaches the reply socket)
# /metrics still answers and the counts keep rising (figures: packets, counts, CPU).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root curl promtool python3 arping
FLOOD=${top_builddir:-.}/tests/integration/flood-tool
[ -x "$FLOOD" ] || { echo "Bail out! tests/integration/flood-tool is not built"; exit 1; }

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
URL=http://192.0.2.1:7472/metrics
scrape() { lan_exec client curl -sf --max-time 3 "$URL"; }
# value NAME{LABELS}: the sample's value in the last scrape ($tmp/m), "" if absent
value() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/m"; }

daemon_conf "$tmp" node1
printf '\n[metrics]\nlisten = 192.0.2.1:7472\n' >>"$tmp/mlbd.conf"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo web u1)")" >/dev/null
tap_ok "192.0.2.150 on eth0" wait_addr node1 192.0.2.150 5
# once its 3 gratuitous ARPs are out (and seen by the reply tap), none counts as a response
for _ in $(seq 50); do
        scrape >"$tmp/m" 2>/dev/null
        [ "$(value 'mlbd_layer2_gratuitous_sent{ip="192.0.2.150"}')" = 3 ] && break
        sleep 0.1
done
tap_is "$(value 'mlbd_layer2_responses_sent{ip="192.0.2.150"}')" 0 "gratuitous ARPs are not responses"
# ARP requests for the address from the client: the kernel of node1 answers each
lan_exec client "$PY" "${top_srcdir:-.}/tests/lib/arp-ask.py" eth0 192.0.2.150 50 1 2>&1 | sed "s/^/# arp-ask: /"
sleep 0.5

scrape >"$tmp/m"
tap_ok "GET /metrics answers" test -s "$tmp/m"
tap_ok "promtool check metrics passes" bash -c 'promtool check metrics <"$1" >"$1.lint" 2>&1' _ "$tmp/m"
[ -s "$tmp/m.lint" ] && sed 's/^/# promtool: /' "$tmp/m.lint"
tap_ok "content type is the 0.0.4 text format" bash -c \
        'ip netns exec "$1" curl -sfI "$2" | grep -qi "^content-type: text/plain; version=0.0.4"' _ "$(lan_ns client)" "$URL"
tap_is "$(value 'mlbd_build_info{version="'"$(awk '/PACKAGE_VERSION/ {gsub(/"/,"",$3); print $3}' "${top_builddir:-.}/config.h")"'"}')" 1 "build_info names the version"
tap_is "$(value 'mlbd_allocator_addresses_in_use_total{pool="cheap"}')" 1 "one address of pool cheap in use"
tap_is "$(value 'mlbd_allocator_addresses_total{pool="cheap"}')" 227 "pool cheap has 51 + 176 addresses"
tap_is "$(value 'mlbd_speaker_announced{ip="192.0.2.150",node="node1",protocol="layer2",service="demo/web"}')" 1 \
        "speaker_announced names the address, node and Service"
tap_is "$(value 'mlbd_layer2_gratuitous_sent{ip="192.0.2.150"}')" 3 "garp_count = 3 gratuitous ARPs counted"
req=$(value 'mlbd_layer2_requests_received{ip="192.0.2.150"}')
tap_diag "requests received $req"
tap_ok "the client's ARP requests are counted (>= 10 in 1 s at 50 ms)" test "${req:-0}" -ge 10
resp=$(value 'mlbd_layer2_responses_sent{ip="192.0.2.150"}')
tap_diag "responses sent $resp"
tap_ok "each request got a reply, counted ($resp >= $req)" test "${resp:-0}" -ge "${req:-1}"
# arping: the replies the client receives are all counted
got=$(lan_exec client arping -c 5 -w 5 -I eth0 192.0.2.150 2>&1 | sed -n 's/^Received \([0-9]*\) response.*/\1/p')
sleep 0.3
scrape >"$tmp/m"
resp2=$(value 'mlbd_layer2_responses_sent{ip="192.0.2.150"}')
tap_diag "arping: $got replies received; responses sent $resp -> $resp2"
tap_ok "arping got its 5 replies" test "${got:-0}" -eq 5
tap_ok "responses sent rose by at least the replies arping got" test "$((resp2 - resp))" -ge "${got:-1}"
tap_is "$(value 'mlbd_services{state="allocated"}')" 1 "one Service allocated"

# IPv6: a second Service gets 2001:db8::150; the client's neighbour solicitation for it
# (its first ping) is counted, and the unsolicited NAs as gratuitous announcements
daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 5 "$(svc_json demo web6 u6 '"ipFamilies":["IPv6"]')")" >/dev/null
tap_ok "2001:db8::150 on eth0" wait_addr node1 2001:db8::150 5
for _ in $(seq 50); do
        scrape >"$tmp/m" 2>/dev/null
        [ "$(value 'mlbd_layer2_gratuitous_sent{ip="2001:db8::150"}')" = 3 ] && break
        sleep 0.1
done
tap_is "$(value 'mlbd_layer2_gratuitous_sent{ip="2001:db8::150"}')" 3 "IPv6: 3 unsolicited NAs counted"
tap_is "$(value 'mlbd_layer2_responses_sent{ip="2001:db8::150"}')" 0 "IPv6: unsolicited NAs are not responses"
lan_exec client ping -6 -c 2 -i 0.2 -W 1 2001:db8::150 >/dev/null 2>&1
sleep 0.3
scrape >"$tmp/m"
req6=$(value 'mlbd_layer2_requests_received{ip="2001:db8::150"}')
tap_ok "IPv6: the client's neighbour solicitation is counted ($req6)" test "${req6:-0}" -ge 1
resp6=$(value 'mlbd_layer2_responses_sent{ip="2001:db8::150"}')
tap_ok "IPv6: the kernel's solicited NA is counted ($resp6 >= $req6)" test "${resp6:-0}" -ge "${req6:-1}"
tap_is "$(value 'mlbd_speaker_announced{ip="2001:db8::150",node="node1",protocol="layer2",service="demo/web6"}')" 1 \
        "IPv6: speaker_announced"
tap_is "$(value 'mlbd_services{state="allocated"}')" 2 "two Services allocated"

# A line-rate ARP flood for 192.0.2.150 (3 s): the kernel answers each request, so both
# packet sockets wake at line rate; the loop must still serve /metrics.
req0=$(value 'mlbd_layer2_requests_received{ip="192.0.2.150"}')
resp0=$(value 'mlbd_layer2_responses_sent{ip="192.0.2.150"}')
cpu() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }
cpu0=$(cpu)
lan_bg client "$tmp/flood.log" "$FLOOD" arp eth0 3 50000000 192.0.2.150
FLOOD_PID=$LAN_LAST_PID
sleep 1
t0=$(date +%s%N)
lan_exec client curl -sf --max-time 10 "$URL" >"$tmp/m"
rc=$?
t1=$(date +%s%N)
tap_ok "/metrics answers during the flood ($(((t1 - t0) / 1000000)) ms)" test "$rc" -eq 0 -a -s "$tmp/m"
wait "$FLOOD_PID" 2>/dev/null
cpu1=$(cpu)
sleep 0.3
scrape >"$tmp/m"
req1=$(value 'mlbd_layer2_requests_received{ip="192.0.2.150"}')
resp1=$(value 'mlbd_layer2_responses_sent{ip="192.0.2.150"}')
tap_diag "ARP flood for 192.0.2.150: $(cat "$tmp/flood.log"); requests received +$((req1 - req0)), responses sent +$((resp1 - resp0)); mlbd used $((cpu1 - cpu0)) CPU ticks (of $(getconf CLK_TCK)/s) in ~3 s"
tap_ok "responses sent kept rising under the flood (+$((resp1 - resp0)))" test "$((resp1 - resp0))" -gt 0
tap_is "$(value 'mlbd_config_last_reload_successful')" 1 "start counts as a good configuration"

# A broken pools file: the reload is refused and counted.
cp "$tmp/pools.yaml" "$tmp/pools.good"
echo "  - name: [broken" >>"$tmp/pools.yaml"
kill -HUP "$DAEMON_PID"
lan_wait_for "$tmp/mlbd.log.run" 'Reload failed' 5
scrape >"$tmp/m"
tap_is "$(value 'mlbd_config_reloads_total{result="failure"}')" 1 "the refused reload is counted"
tap_is "$(value 'mlbd_config_last_reload_successful')" 0 "last_reload_successful is 0"
cp "$tmp/pools.good" "$tmp/pools.yaml"
t0=$(date +%s)
kill -HUP "$DAEMON_PID"
lan_wait_for "$tmp/mlbd.log.run" 'Reloaded:' 5
scrape >"$tmp/m"
tap_is "$(value 'mlbd_config_reloads_total{result="success"}')" 1 "the good reload is counted"
tap_is "$(value 'mlbd_config_last_reload_successful')" 1 "last_reload_successful is 1 again"
ts=$(value 'mlbd_config_last_reload_success_timestamp_seconds')
tap_ok "its timestamp is now ($ts)" test "${ts%.*}" -ge "$((t0 - 1))"
tap_is "$(lan_exec client curl -s -o /dev/null -w '%{http_code}' "http://192.0.2.1:7472/nope")" 404 "unknown path: 404"
# Moving the endpoint needs a restart: a reload that changes it is refused, naming it.
sed -i 's/^listen = 192.0.2.1:7472$/listen = 192.0.2.1:7473/' "$tmp/mlbd.conf"
kill -HUP "$DAEMON_PID"
tap_ok "a reload that moves [metrics] listen is refused, naming it" \
        lan_wait_for "$tmp/mlbd.log.run" 'Reload failed: \[metrics\] listen cannot change on reload' 5
tap_ok "and /metrics still answers where it was" eval "scrape >/dev/null"
sed -i 's/^listen = 192.0.2.1:7473$/listen = 192.0.2.1:7472/' "$tmp/mlbd.conf"

# A second daemon on the same metrics address cannot bind it: a startup error naming it.
mkdir -p "$tmp/b"
daemon_conf "$tmp/b" node1
sed -i 's/^listen = 0.0.0.0:7947/listen = 0.0.0.0:7948/' "$tmp/b/mlbd.conf"
printf '\n[metrics]\nlisten = 192.0.2.1:7472\n' >>"$tmp/b/mlbd.conf"
lan_exec node1 timeout 10 "$MLBD" -c "$tmp/b/mlbd.conf" >"$tmp/b/log" 2>&1
rc=$?
tap_ok "a busy metrics address stops the start (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
tap_ok "the error names the address" grep -q '192.0.2.1:7472' "$tmp/b/log"
grep -i metrics "$tmp/b/log" | sed 's/^/# /'
daemon_stop

# listen = (empty): no HTTP at all.
sed -i 's/^listen = 192.0.2.1:7472$/listen =/' "$tmp/mlbd.conf"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not restart"; exit 1; }
tap_ok "listen = empty: nothing on port 7472" not lan_exec client curl -s --max-time 2 "$URL"
tap_ok "nor on the default 127.0.0.1:7472" not lan_exec node1 curl -s --max-time 2 http://127.0.0.1:7472/metrics
daemon_stop
tap_done
