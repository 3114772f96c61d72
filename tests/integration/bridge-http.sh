#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd-bridge's --listen endpoint against a real control plane (kube.sh) and one mlbd on
# a namespace LAN: the bridge starts while the API server is down and before mlbd, so
# /healthz is 200 while /readyz is 503 naming the unlisted kinds and mlbd; with the API
# server back, mlbd alone; once mlbd runs, /readyz turns 200 within seconds; /metrics passes
# `promtool check metrics` and shows the Lease held, mlbd connected and every kind listed;
# 404, 405 and HEAD; a bad --listen value exits 2 with a clear message, a port in use 1.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root curl promtool python3
kube_require

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
kubectl create namespace mlbd-system >/dev/null 2>&1
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
daemon_conf "$tmp/node1" node1 || { echo "Bail out! config"; exit 1; }

# a free loopback port, the kernel's choice (closed again before the bridge binds it)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# CODE BODY of a request (curl's exit status if it failed)
get() {
        local out code
        out=$(curl -s --max-time 3 -w '\n%{http_code}' "$@") || { echo "curl failed ($?)"; return 1; }
        code=${out##*$'\n'}
        echo "$code ${out%$'\n'*}"
}

# the bridge starts while the API server is down, and before mlbd
kube_stop_apiserver
BRIDGE_ARGS="--listen 127.0.0.1:$port" bridge_start node1 "$tmp/node1"
tap_ok "the bridge logs where it serves (127.0.0.1:$port)" \
        bridge_wait_log "$tmp/node1" "serving /healthz, /readyz and /metrics on 127\.0\.0\.1:$port\$" 10
tap_is "$(get "$url/healthz")" "200 ok" "API server down, no mlbd: /healthz is 200 ok"
tap_is "$(get "$url/readyz")" "503 not ready: Service, EndpointSlice, Node, Namespace not listed yet; not connected to mlbd at $tmp/node1/mlbd.sock" \
        "API server down, no mlbd: /readyz is 503 and says why"
kube_start_apiserver || { echo "Bail out! kube-apiserver restart"; exit 1; }
# the kinds get listed (after the informers' backoff), then the reason names mlbd only
for ((i = 0; i < 400; i++)); do
        r=$(get "$url/readyz")
        [[ $r != *"not listed yet"* ]] && break
        sleep 0.1
done
tap_ok "the API server back, the bridge lists all four kinds" \
        bash -c '[ "$(grep -cE "informer [A-Za-z]+: listed" "$1")" -ge 4 ]' _ "$tmp/node1/bridge.log"
tap_is "$r" "503 not ready: not connected to mlbd at $tmp/node1/mlbd.sock" \
        "listed, no mlbd: /readyz is 503 and names mlbd alone"
tap_ok "/metrics without mlbd: mlbd_bridge_mlbd_connected 0" \
        bash -c 'curl -s "$1/metrics" | grep -qx "mlbd_bridge_mlbd_connected 0"' _ "$url"
tap_is "$(get "$url/nope")" "404 not found" "an unknown path is 404"
tap_is "$(get -X POST -d x=1 "$url/healthz")" "405 method not allowed" "POST is 405"
tap_is "$(curl -s --max-time 3 -I "$url/readyz" | tr -d '\r' | sed -n '1p')" "HTTP/1.1 503 Service Unavailable" \
        "HEAD /readyz answers 503 too"

# mlbd comes up
t0=$(date +%s%N)
daemon_start node1 "$tmp/node1" || { echo "Bail out! mlbd"; exit 1; }
for ((i = 0; i < 100; i++)); do
        r=$(get "$url/readyz")
        [ "$r" = "200 ready" ] && break
        sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
tap_is "$r" "200 ready" "with mlbd running, /readyz is 200 ready"
tap_ok "within seconds of mlbd's start ($ms ms)" [ "$ms" -lt 10000 ]
tap_is "$(get "$url/healthz")" "200 ok" "/healthz is still 200 ok"

for ((i = 0; i < 100; i++)); do
        curl -s "$url/metrics" >"$tmp/metrics"
        grep -qx 'mlbd_bridge_leader 1' "$tmp/metrics" && break
        sleep 0.1
done
tap_diag "$(cat "$tmp/metrics")"
tap_ok "/metrics passes promtool check metrics" bash -c 'promtool check metrics <"$1" >"$1.lint" 2>&1' _ "$tmp/metrics"
[ -s "$tmp/metrics.lint" ] && tap_diag "$(cat "$tmp/metrics.lint")"
tap_is "$(curl -s -o /dev/null -w '%{content_type}' "$url/metrics")" "text/plain; version=0.0.4; charset=utf-8" \
        "/metrics has the text format's content type"
tap_ok "mlbd_bridge_leader 1 (the only bridge holds the Lease)" grep -qx 'mlbd_bridge_leader 1' "$tmp/metrics"
tap_ok "mlbd_bridge_mlbd_connected 1" grep -qx 'mlbd_bridge_mlbd_connected 1' "$tmp/metrics"
for k in Service EndpointSlice Node Namespace; do
        tap_ok "mlbd_bridge_informer_lists_total{kind=\"$k\"} >= 1" \
                awk -v m="mlbd_bridge_informer_lists_total{kind=\"$k\"}" '$1 == m && $2 >= 1 {f = 1} END {exit !f}' "$tmp/metrics"
        tap_ok "mlbd_bridge_informer_watches_total{kind=\"$k\"} >= 1" \
                awk -v m="mlbd_bridge_informer_watches_total{kind=\"$k\"}" '$1 == m && $2 >= 1 {f = 1} END {exit !f}' "$tmp/metrics"
done
version=$("$BRIDGE" --version | awk '{print $2}')
tap_ok "mlbd_bridge_build_info{version=\"$version\"} 1" grep -qxF "mlbd_bridge_build_info{version=\"$version\"} 1" "$tmp/metrics"
tap_ok "status writes and conflicts are counted (0 without Services)" \
        bash -c 'grep -qx "mlbd_bridge_status_writes_total 0" "$1" && grep -qx "mlbd_bridge_status_conflicts_total 0" "$1"' _ "$tmp/metrics"
ident=$(sed -n 's/.*holding the Lease as \([^:]*\):.*/\1/p' "$tmp/node1/bridge.log" | tail -1)
tap_ok "mlbd_bridge_lease_holder{holder=\"$ident\"} 1 (this bridge's identity)" \
        grep -qxF "mlbd_bridge_lease_holder{holder=\"$ident\"} 1" "$tmp/metrics"
tap_ok "mlbd_bridge_api_request_duration_seconds counts the LISTs (GET) and the Lease (PUT or POST)" \
        awk '$1 == "mlbd_bridge_api_request_duration_seconds_count{verb=\"GET\"}" && $2 >= 4 {g = 1}
             ($1 == "mlbd_bridge_api_request_duration_seconds_count{verb=\"PUT\"}" ||
              $1 == "mlbd_bridge_api_request_duration_seconds_count{verb=\"POST\"}") && $2 >= 1 {p = 1}
             END {exit !(g && p)}' "$tmp/metrics"
tap_ok "mlbd_bridge_api_requests_total{verb=\"GET\",code=\"200\"} >= 4" \
        awk '$1 == "mlbd_bridge_api_requests_total{verb=\"GET\",code=\"200\"}" && $2 >= 4 {f = 1} END {exit !f}' "$tmp/metrics"

# mlbd goes away: not ready again, still healthy
daemon_stop TERM
for ((i = 0; i < 100; i++)); do
        r=$(get "$url/readyz")
        [[ $r == 503* ]] && break
        sleep 0.1
done
tap_is "$r" "503 not ready: not connected to mlbd at $tmp/node1/mlbd.sock" "mlbd stopped: /readyz is 503 again"
tap_is "$(get "$url/healthz")" "200 ok" "and /healthz still 200"

# bad values
run_bridge() {
        "$BRIDGE" --kubeconfig "$KUBECONFIG" --node-name other --socket "$tmp/none.sock" \
                --lease-namespace mlbd-system "$@" >"$tmp/bad.out" 2>&1 &
        local pid=$! i
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid"
}
run_bridge --listen localhost:80
tap_is "$?" 2 "--listen localhost:80: exit 2"
tap_is "$(cat "$tmp/bad.out")" 'mlbd-bridge: --listen: "localhost:80": not an IPv4 address (host names are not accepted)' \
        "with a message naming the option, the value and why"
run_bridge --listen 127.0.0.1:99999
tap_is "$?" 2 "--listen 127.0.0.1:99999: exit 2"
tap_ok "(the port is larger than 65535)" grep -q 'larger than 65535' "$tmp/bad.out"
run_bridge --listen "127.0.0.1:$port"
tap_is "$?" 1 "--listen on the running bridge's port: exit 1"
tap_ok "(Cannot serve --listen 127.0.0.1:$port: Address already in use)" \
        grep -q "Cannot serve --listen 127.0.0.1:$port: Address already in use" "$tmp/bad.out"

tap_ok "the bridge is still running" kill -0 "${BRIDGE_PID[node1]}"
bridge_stop node1
tap_ok "once the bridge stopped, nothing listens on $port" not curl -s --max-time 1 "$url/healthz"
tap_done
