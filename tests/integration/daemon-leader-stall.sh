#!/bin/bash
# SPDX-License-Identifier: MIT
# A new leader's pre-vetting must not stall the event loop (issue 9 item 17, issue 12
# item 9(a)). Becoming leader, mlbd probes the next 16 free addresses per pool and family
# at once (docs/cluster.md "Pre-vetting"); here 4 pools, 128 probes. Each probe's packet
# socket, when closed, waits for an RCU grace period in the kernel (15-25 ms): closed in
# the loop, 32 of them held it 250-545 ms, past dead_after_ms, and peers took the
# leader's addresses (seen in bridge-outage.sh). They are closed by a closer thread
# (daemon/packet.h). Checks, from a capture at the switch: the heartbeats node1 sends
# to its peer keep coming, the longest gap under 300 ms (interval 100 ms, dead_after
# 400 ms), while the probes run.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root tcpdump
STEPS=${top_srcdir:-$(dirname "$0")/../..}/tests/lib/ctl-steps.py

lan_setup node1 node2 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
daemon_conf "$tmp" node1 "node1=192.0.2.1, node2=192.0.2.2" || { echo "Bail out! config"; exit 1; }
{
        echo "pools:"
        for i in 0 1 2 3; do
                printf '  - name: p%d\n    addresses:\n      - 192.0.2.%d-192.0.2.%d\n      - 2001:db8::%d:0-2001:db8::%d:ff\n' \
                        "$i" $((100 + 32 * i)) $((131 + 32 * i)) $((i + 1)) $((i + 1))
        done
} >"$tmp/pools.yaml"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
sleep 1
lan_capture_start br0 "$tmp/hb.pcap"
"$PY" "$STEPS" "$tmp/mlbd.sock" >"$tmp/session.out" 2>&1 <<EOT
> $HELLO
> $LEADER
> {"op":"sync","id":3,"services":[],"endpointslices":[],"nodes":[],"namespaces":[]}
until "id": *3 5
sleep 4
EOT
lan_capture_stop
probes=$(grep -c 'probe .*: probing' "$tmp/mlbd.log.run")
tap_ok "the new leader pre-vetted every pool's next addresses ($probes probes, want 128)" [ "$probes" -ge 128 ]
read -r n gap < <(tcpdump -nn -tt -r "$tmp/hb.pcap" 'udp port 7947 and src host 192.0.2.1' 2>/dev/null |
        awk '{ if (p) { g = ($1 - p) * 1000; if (g > m) m = g } p = $1; n++ } END { printf "%d %d\n", n, m }')
tap_ok "heartbeats kept coming while the probes ran ($n in about 5 s)" [ "${n:-0}" -ge 30 ]
tap_ok "the longest gap between two heartbeats is under 300 ms ($gap ms; dead_after 400 ms)" [ "${gap:-9999}" -lt 300 ]
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
