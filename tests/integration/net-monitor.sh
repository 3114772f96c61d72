#!/bin/bash
# SPDX-License-Identifier: MIT
# The netlink monitor (on sd-event) reports address removals done by someone else
# (`ip addr del`), our own additions with their tag, and link down/up changes.
. "$(dirname "$0")/../lib/lan.sh"
lan_require_root

lan_setup n1 || { echo "Bail out! lan_setup failed"; exit 1; }
T() { lan_exec n1 "$NET_TOOL" "$@"; }
fails_alive() { ! kill -0 "$1" 2>/dev/null; }
out=$(lan_tmpdir)/monitor.out

lan_bg n1 "$out" "$NET_TOOL" monitor 20000
tap_ok "monitor subscribed" lan_wait_for "$out" '^ready$'

T add eth0 192.0.2.100
T add eth0 2001:db8::100
tap_ok "reports our IPv4 addition with its tag" \
        lan_wait_for "$out" '^addr-new eth0 192\.0\.2\.100/32 proto 109$'
tap_ok "reports our IPv6 addition with its tag" \
        lan_wait_for "$out" '^addr-new eth0 2001:db8::100/128 proto 109$'

lan_exec n1 ip addr del 192.0.2.100/32 dev eth0
lan_exec n1 ip addr del 2001:db8::100/128 dev eth0
tap_ok "reports 'ip addr del' of 192.0.2.100" \
        lan_wait_for "$out" '^addr-del eth0 192\.0\.2\.100/32 proto 109$'
tap_ok "reports 'ip addr del' of 2001:db8::100" \
        lan_wait_for "$out" '^addr-del eth0 2001:db8::100/128 proto 109$'

lan_exec n1 ip link set eth0 down
tap_ok "reports link down" lan_wait_for "$out" '^link-down eth0$'
lan_exec n1 ip link set eth0 up
tap_ok "reports link up" lan_wait_for "$out" '^link-up eth0$'
# Up again is reported once, not for every RTM_NEWLINK the kernel sends.
sleep 0.3
tap_is "$(grep -c '^link-up eth0$' "$out")" 1 "one link-up for one change"
# An address added by hand is reported with proto 0 (not ours).
lan_exec n1 ip addr add 192.0.2.201/32 dev eth0
tap_ok "reports a manual addition untagged" \
        lan_wait_for "$out" '^addr-new eth0 192\.0\.2\.201/32 proto 0$'
# Monitor stops by itself after N events.
out2=$(lan_tmpdir)/monitor2.out
lan_bg n1 "$out2" "$NET_TOOL" monitor 20000 1
pid=$LAN_LAST_PID
lan_wait_for "$out2" '^ready$'
lan_exec n1 ip addr del 192.0.2.201/32 dev eth0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
tap_ok "monitor with a limit exits after it" fails_alive "$pid"
tap_done
