#!/bin/bash
# SPDX-License-Identifier: MIT
# docs/metrics.md lists every series the endpoints emit, and only those (issue 14): mlbd's
# /metrics (one node with a Service, its bridge connected) and mlbd-bridge's (against the
# real control plane, tests/lib/kube.sh) are scraped, the metric names of their # TYPE
# lines compared with the names in the document's tables: the rows above the
# "## mlbd-bridge" heading for mlbd, those below it for the bridge, both ways. Both
# endpoints pass promtool check metrics with everything in use. The document's example
# alerts pass promtool check rules, and every metric they name is one mlbd emits.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root curl promtool python3
kube_require
DOC=${top_srcdir:-.}/docs/metrics.md

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
kubectl create namespace mlbd-system >/dev/null 2>&1
kubectl create namespace demo >/dev/null 2>&1
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
daemon_conf "$tmp/node1" node1 || { echo "Bail out! config"; exit 1; }
printf '\n[metrics]\nlisten = 192.0.2.1:7472\n' >>"$tmp/node1/mlbd.conf"
daemon_start node1 "$tmp/node1" || { echo "Bail out! mlbd did not start"; exit 1; }
bridge_start node1 "$tmp/node1"
bridge_wait_log "$tmp/node1" 'serving /healthz, /readyz and /metrics on 127\.0\.0\.1:[0-9]+$' 10 ||
        { echo "Bail out! the bridge does not serve"; exit 1; }
port=$(sed -nE 's/.*serving \/healthz, \/readyz and \/metrics on 127\.0\.0\.1:([0-9]+)$/\1/p' "$tmp/node1/bridge.log" | tail -1)
kubectl -n demo create service loadbalancer web --tcp=80:80 >/dev/null
ip=$(wait_svc_ip demo web 30)
tap_ok "the Service got an address through the bridge ($ip)" test -n "$ip"
tap_ok "on node1" wait_addr node1 "${ip%% *}" 5

lan_exec node1 curl -sf --max-time 3 http://192.0.2.1:7472/metrics >"$tmp/mlbd.prom"
curl -sf --max-time 3 "http://127.0.0.1:$port/metrics" >"$tmp/bridge.prom"
for w in mlbd bridge; do
        tap_ok "$w: /metrics passes promtool check metrics" bash -c 'promtool check metrics <"$1" >"$1.lint" 2>&1' _ "$tmp/$w.prom"
        sed 's/^/# promtool: /' "$tmp/$w.prom.lint"
done
tap_ok "mlbd: mlbd_bridges_connected 1" grep -qx 'mlbd_bridges_connected 1' "$tmp/mlbd.prom"

# names emitted: the metric of each # TYPE line
emitted() { sed -n 's/^# TYPE \([a-zA-Z_:][a-zA-Z0-9_:]*\) .*/\1/p' "$1" | sort -u; }
# names documented: the first cell of each table row, `name`, above / below the heading
documented() { # above|below
        awk -v part="$1" '/^## mlbd-bridge$/ { below = 1 }
                /^\| `[a-z0-9_]+` \|/ && ((part == "below") == (below == 1)) {
                        split($0, c, "`"); print c[2] }' "$DOC" | grep -E '^mlbd_' | sort -u
}
for pair in "mlbd above" "bridge below"; do
        set -- $pair
        emitted "$tmp/$1.prom" >"$tmp/$1.emitted"
        documented "$2" >"$tmp/$1.documented"
        tap_ok "$1: the document lists $(wc -l <"$tmp/$1.documented") metrics" test -s "$tmp/$1.documented"
        undoc=$(comm -23 "$tmp/$1.emitted" "$tmp/$1.documented" | tr '\n' ' ')
        unemitted=$(comm -13 "$tmp/$1.emitted" "$tmp/$1.documented" | tr '\n' ' ')
        tap_is "$undoc" "" "$1: every series it emits is in docs/metrics.md"
        tap_is "$unemitted" "" "$1: every metric docs/metrics.md lists for it is emitted"
done

# the yaml block under "## Example alerts"
awk '/^## Example alerts/ { a = 1; next } a && /^```yaml/ { y = 1; next } y && /^```/ { exit } y' \
        "$DOC" >"$tmp/alerts.yml"
tap_ok "the example alerts ($(grep -c -- '- alert:' "$tmp/alerts.yml")) pass promtool check rules" \
        bash -c 'promtool check rules "$1" >"$1.lint" 2>&1' _ "$tmp/alerts.yml"
sed 's/^/# promtool: /' "$tmp/alerts.yml.lint"
named=$(grep -v '^ *#' "$tmp/alerts.yml" | grep -oE 'mlbd_[a-z0-9_]+' | sort -u)
tap_ok "they name metrics ($(echo $named))" test -n "$named"
tap_is "$(comm -23 <(echo "$named") "$tmp/mlbd.emitted" | tr '\n' ' ')" "" "every metric they name is one mlbd emits"
tap_done
