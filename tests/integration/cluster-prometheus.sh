#!/bin/bash
# SPDX-License-Identifier: MIT
# A real Prometheus (Debian prometheus; its own scratch directory, scrape interval 1 s, run
# in the client's namespace so it reaches the nodes' [metrics] listen addresses) scrapes a
# 3-node LAN cluster with two Services, and its HTTP query API returns what the cluster
# does: every node counts the two addresses in use in pool cheap, speaker_announced names
# the node that holds each address (and only it), and after a kill -9 of the owner of
# 192.0.2.150 each survivor's mlbd_takeovers_total{cause="peer_dead"} rose by the number
# of addresses it took from it, with a takeover latency observed for each.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root curl prometheus python3

NODES=(node1 node2 node3)
lan_setup node1 node2 node3 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
export DAEMON_KEY=$tmp/cluster.key
PEERS="node1=192.0.2.1, node2=192.0.2.2, node3=192.0.2.3"
VIPS=(192.0.2.150 192.0.2.151)
svc() { # NAME UID IP
        printf '{"metadata":{"namespace":"demo","name":"%s","uid":"%s"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"%s"}]}}}' "$1" "$2" "$1" "$3"
}
declare -A PID
i=0
for n in "${NODES[@]}"; do
        i=$((i + 1))
        daemon_conf "$tmp/$n" "$n" "$PEERS"
        printf '\n[metrics]\nlisten = 192.0.2.%s:7472\n' "$i" >>"$tmp/$n/mlbd.conf"
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! mlbd on $n did not start"; exit 1; }
        PID[$n]=$DAEMON_PID
done
for n in "${NODES[@]}"; do
        daemon_ctl "$tmp/$n" --until '"id": *4' --timeout 5 "$TEST_HELLO" \
                "$(upsert_msg 3 "$(svc web u1 192.0.2.150)")" "$(upsert_msg 4 "$(svc api u2 192.0.2.151)")" |
                grep -q '"id": *4' || { echo "Bail out! upsert on $n failed"; exit 1; }
done

holder() { # VIP [EXCEPT]: the one node holding VIP, or fails
        local v=$1 not=${2:-} n h=() i
        for ((i = 0; i < 100; i++)); do
                h=()
                for n in "${NODES[@]}"; do
                        [ "$n" = "$not" ] && continue
                        host_has_addr "$n" "$v" && h+=("$n")
                done
                [ "${#h[@]}" -eq 1 ] && { echo "${h[0]}"; return 0; }
                sleep 0.1
        done
        echo "none-or-many:${h[*]}"
        return 1
}
own150=$(holder 192.0.2.150) || { echo "Bail out! 192.0.2.150: $own150"; exit 1; }
own151=$(holder 192.0.2.151) || { echo "Bail out! 192.0.2.151: $own151"; exit 1; }
tap_diag "192.0.2.150 on $own150, 192.0.2.151 on $own151"

mkdir -p "$tmp/prom"
cat >"$tmp/prom/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: mlbd
    static_configs:
      - targets: ['192.0.2.1:7472', '192.0.2.2:7472', '192.0.2.3:7472']
EOF2
lan_bg client "$tmp/prom/log" prometheus --config.file="$tmp/prom/prometheus.yml" \
        --storage.tsdb.path="$tmp/prom/data" --web.listen-address=127.0.0.1:9090
PROM_PID=$LAN_LAST_PID
tap_ok "prometheus is ready" lan_wait_for "$tmp/prom/log" 'Server is ready to receive web requests' 30

# query EXPR: "labelvalue=value" lines of an instant query, sorted (LABEL is $QL, default node)
query() {
        lan_exec client curl -sf --max-time 3 --data-urlencode "query=$1" \
                http://127.0.0.1:9090/api/v1/query |
                "$PY" -c 'import json,sys
j = json.load(sys.stdin)
for r in sorted(j["data"]["result"], key=lambda r: sorted(r["metric"].items())):
    print("%s=%s" % (r["metric"].get(sys.argv[1], ""), r["value"][1]))' "${QL:-node}"
}
# wait_query EXPR WANT: until the query prints WANT (bounded, 20 s); prints the last answer
wait_query() {
        local got i
        for ((i = 0; i < 40; i++)); do
                got=$(query "$1")
                [ "$got" = "$2" ] && break
                sleep 0.5
        done
        echo "$got"
}
i2n() { sed 's/^192\.0\.2\.1:7472=/node1=/; s/^192\.0\.2\.2:7472=/node2=/; s/^192\.0\.2\.3:7472=/node3=/'; }

want=$(printf 'node1=1\nnode2=1\nnode3=1')
tap_is "$(wait_query 'up{job="mlbd"} * 0 + 1' "$(printf '=1\n=1\n=1')" | wc -l)" 3 "three targets scraped"
QL=instance
got=$(wait_query 'mlbd_allocator_addresses_in_use_total{pool="cheap"}' \
        "$(printf '192.0.2.1:7472=2\n192.0.2.2:7472=2\n192.0.2.3:7472=2')" | i2n)
tap_is "$got" "$(printf 'node1=2\nnode2=2\nnode3=2')" "every node: 2 addresses in use in pool cheap (2 Services allocated)"
tap_is "$(QL=node query 'count(mlbd_services{state="allocated"} == 2)')" "=3" "every node counts 2 allocated Services"
QL=node
tap_is "$(wait_query 'mlbd_speaker_announced{ip="192.0.2.150"}' "$own150=1")" "$own150=1" \
        "speaker_announced for 192.0.2.150 names $own150 alone"
tap_is "$(wait_query 'mlbd_speaker_announced{ip="192.0.2.151"}' "$own151=1")" "$own151=1" \
        "speaker_announced for 192.0.2.151 names $own151 alone"
tap_is "$(QL=service query 'mlbd_speaker_announced{ip="192.0.2.150"}')" "demo/web=1" "and the Service demo/web"
tap_is "$(QL= query 'sum(mlbd_peers_alive)')" "=6" "each node sees 2 live peers"

# What the owner of .150 holds goes to the survivors: count, per survivor, what it takes.
victim=$own150
held=()
for v in "${VIPS[@]}"; do host_has_addr "$victim" "$v" && held+=("$v"); done
QL=instance
before=$(query 'mlbd_takeovers_total{cause="peer_dead"}' | i2n)
tap_diag "takeovers (peer_dead) before: $(echo $before)"
kill -9 "${PID[$victim]}"
lan_exec "$victim" "$MLBD" -c "$tmp/$victim/mlbd.conf" --flush >/dev/null 2>&1
declare -A took
for v in "${held[@]}"; do
        n=$(holder "$v" "$victim") || { tap_ok "$v taken over ($n)" false; continue; }
        took[$n]=$((${took[$n]:-0} + 1))
done
want=""
for n in "${NODES[@]}"; do
        [ "$n" = "$victim" ] && continue
        b=$(sed -n "s/^$n=//p" <<<"$before")
        want+="$n=$((${b:-0} + ${took[$n]:-0}))"$'\n'
done
want=${want%$'\n'}
got=$(wait_query "mlbd_takeovers_total{cause=\"peer_dead\",instance!=\"192.0.2.${victim#node}:7472\"}" \
        "$(sed 's/^node\([0-9]\)=/192.0.2.\1:7472=/' <<<"$want")" | i2n)
tap_is "$got" "$want" "each survivor's takeover counter rose by the addresses it took from $victim (${#held[@]})"
got=$(QL= query "sum(mlbd_takeover_latency_seconds_count{instance!=\"192.0.2.${victim#node}:7472\"})")
tap_ok "a takeover latency is observed per address taken ($got)" test "${got#=}" -ge "${#held[@]}"
new150=$(holder 192.0.2.150 "$victim")
QL=node
tap_is "$(wait_query 'mlbd_speaker_announced{ip="192.0.2.150"}' "$new150=1")" "$new150=1" \
        "speaker_announced now names $new150"
tap_is "$(QL= wait_query 'sum(mlbd_peers_alive)' "=2")" "=2" "the survivors each see 1 live peer"
kill "$PROM_PID" 2>/dev/null
tap_done
