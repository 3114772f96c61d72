#!/bin/bash
# SPDX-License-Identifier: MIT
# Draining (docs/cluster.md "Draining"; issue 9 item 9, the connections under way at a
# planned restart): a TCP connection a client opened on the node letting go must not be
# reset when the client's neighbour cache moves to the new owner. Two nodes, one Service
# address (192.0.2.150, TCP 80) on a dual-stack HTTP server on each node that answers
# every request after 30 ms, and a client (prober http) that opens a connection every
# 10 ms through its own ARP cache: about three connections are under way at any moment,
# so every handover meets some. Three planned restarts of the owner X (SIGTERM: Y takes
# over; X starts again and takes it back), first with drain_ms = 0 (the behaviour before
# draining: connections under way are reset, which shows that the test sees it), then
# with the default drain_ms: no request may fail, both nodes must have answered, and no
# nftables table of mlbd may be left once the handovers are over. Then the tables an
# earlier run left (a hush that would keep the address dark) are deleted at start and by
# mlbd --flush.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/pair.sh"
lan_require_root nft python3
PROBER=${top_builddir:-.}/tests/bench/prober
[ -x "$PROBER" ] || { echo "Bail out! $PROBER is not built"; exit 1; }
RESTARTS=3

pair_lan TCP 80 || { echo "Bail out! the LAN or the configuration failed"; exit 1; }
for n in node1 node2; do
        lan_bg "$n" "$tmp/$n/http.log" python3 "$(dirname "$0")/../lib/slow-http.py" "$n" 0.03
done
set_drain() {
        local n
        for n in node1 node2; do
                sed -i '/^drain_ms = /d' "$tmp/$n/mlbd.conf"
                [ -n "$1" ] && sed -i "s/^\[cluster\]$/[cluster]\ndrain_ms = $1/" "$tmp/$n/mlbd.conf"
        done
}
# "yes" while node $1's network namespace has an nftables table named mlbd
has_tables() { lan_exec "$1" nft list tables 2>/dev/null | grep -q ' mlbd$' && echo yes || echo no; }
summary_field() { # FILE WORD: the number after WORD in the prober's summary line
        grep -o "$2 [0-9]*" "$1" | head -1 | cut -d' ' -f2
}

# One run: both nodes up, the client on, RESTARTS planned restarts of the owner X.
# Leaves the prober's summary in $tmp/$1.http.
run() {
        local tag=$1 i p
        for n in node1 node2; do start_node "$n" || { tap_diag "$n did not start"; return 1; }; done
        for ((i = 0; i < 100; i++)); do [[ $(holder) =~ ^node[12]$ ]] && break; sleep 0.1; done
        X=$(holder)
        [[ $X =~ ^node[12]$ ]] || { tap_diag "nobody holds $VIP ($X)"; return 1; }
        Y=node1
        [ "$X" = node1 ] && Y=node2
        lan_bg client "$tmp/$tag.http" "$PROBER" http "$VIP" 80 10 120000 2000
        p=$LAN_LAST_PID
        sleep 0.5
        for ((i = 0; i < RESTARTS; i++)); do
                stop_node "$X"
                wait_holder "$Y" || tap_diag "$tag: $Y did not take $VIP over (holder: $(holder))"
                start_node "$X" || tap_diag "$tag: $X did not restart"
                wait_holder "$X" || tap_diag "$tag: $X did not take $VIP back (holder: $(holder))"
                sleep 0.5
        done
        kill -TERM "$p" 2>/dev/null
        for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        tap_diag "$tag ($X, $Y): $(cat "$tmp/$tag.http")"
}
stop_all() { for n in node1 node2; do [ -n "${PID[$n]}" ] && stop_node "$n"; done; }

set_drain 0
run nodrain
stop_all
failed=$(summary_field "$tmp/nodrain.http" failed)
reset=$(summary_field "$tmp/nodrain.http" reset)
tap_ok "without draining, connections under way are reset (failed ${failed:-?}, reset ${reset:-?})" \
        eval '[ "${failed:-0}" -ge 1 ] && [ "${reset:-0}" -ge 1 ]'

set_drain ""
run drain
requests=$(summary_field "$tmp/drain.http" requests)
tap_ok "with draining, the client's requests were made (${requests:-0})" \
        eval '[ "${requests:-0}" -ge 200 ]'
tap_is "$(summary_field "$tmp/drain.http" failed)" 0 "with draining, no request failed"
tap_ok "both nodes answered" eval 'grep -q "node1=[1-9]" "$tmp/drain.http" && grep -q "node2=[1-9]" "$tmp/drain.http"'
tap_ok "the node letting go kept the address for its connections" \
        eval 'cat "$tmp"/node?/mlbd.log* | grep -q "no longer answering for it; keeping it"'
tap_ok "and removed it once they were over" eval 'cat "$tmp"/node?/mlbd.log* | grep -q "drained in [0-9]* ms"'
sleep 1
tap_is "$(has_tables node1) $(has_tables node2)" "no no" "no nftables table of mlbd is left after the handovers"
stop_all

# what an earlier run left: a hush that would keep the address dark on node1
lan_exec node1 nft -f - <<EOF
table arp mlbd {
        set hush { type ipv4_addr; elements = { $VIP }; }
        chain hush_in { type filter hook input priority 0; arp daddr ip @hush drop; }
}
EOF
tap_is "$(has_tables node1)" yes "a leftover table on node1"
start_node node1 || tap_diag "node1 did not start"
tap_is "$(has_tables node1)" no "mlbd deletes it at start"
stop_all
lan_exec node1 nft add table ip mlbd
lan_exec node1 "$MLBD" -c "$tmp/node1/mlbd.conf" --flush >/dev/null 2>&1
tap_is "$(has_tables node1)" no "mlbd --flush deletes it"
tap_done
