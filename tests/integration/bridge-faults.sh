#!/bin/bash
# SPDX-License-Identifier: MIT
# The bridge against API failures the API server does not make on demand, injected by a
# TLS-terminating proxy (tests/lib/kube-proxy.py) between one bridge and a real
# kube-apiserver (kube.sh), one node and its mlbd: the bridge speaks HTTP/1.1 when ALPN
# offers nothing else; 429 with Retry-After: 2 on the Service LIST is waited out (each
# retry >= 2 s after the answer, not the 0.8 s backoff) and said once; 500 with
# Retry-After: 3 on the status PATCH the same, the status written once it passes; a
# watch cut in the middle of a chunk resumes from its resourceVersion without a LIST and
# the Service it was delivering gets its address; a real 401 (the ServiceAccount of the
# token deleted) makes the bridge read its tokenFile again: the new token written there is
# used within seconds (not at the minute's re-read), said once. (A wrong CA: bridge-auth.sh.)
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
. "$(dirname "$0")/../lib/kube-proxy.sh"
lan_require_root openssl curl
kube_require

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kproxy_stop_all; kube_stop; lan_cleanup' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
dir=$tmp/node1
blog=$dir/bridge.log
plog=$tmp/proxy/proxy.log
in_pool() { [[ $1 =~ ^192\.0\.2\.(1[5-9][0-9]|200)$ ]]; }
lb_svc() { printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' "$1" "$1"; }
# Epoch ms of the proxy's log lines matching the extended regex (one per line).
plog_times() { grep -E "$1" "$plog" | awk '{print $1}'; }
# The smallest gap (ms) between consecutive lines of plog_times.
min_gap() { plog_times "$1" | awk 'NR > 1 {g = $1 - p; if (m == "" || g < m) m = g} {p = $1} END {print m + 0}'; }

k create namespace mlbd-system >/dev/null
k create namespace demo >/dev/null
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
daemon_conf "$dir" node1 "" || { echo "Bail out! config"; exit 1; }
daemon_start node1 "$dir" || { echo "Bail out! mlbd"; exit 1; }

# Two ServiceAccounts with cluster-admin: the bridge starts with sa1's token in a file.
for sa in sa1 sa2; do
        k create serviceaccount -n mlbd-system "$sa" >/dev/null
        k create clusterrolebinding "mlbd-test-$sa" --clusterrole=cluster-admin \
                --serviceaccount="mlbd-system:$sa" >/dev/null
done
token_file=$tmp/token
k create token -n mlbd-system sa1 --duration=1h >"$token_file"
fp() { printf '%s' "$(cat "$1")" | sha256sum | cut -c1-12; }
fp1=$(fp "$token_file")

KPROXY_TOKEN_FILE=$token_file kproxy_start proxy "$tmp/proxy" || { echo "Bail out! proxy"; exit 1; }
tap_diag "proxy on 127.0.0.1:${KPROXY_PORT[proxy]}"

# 1. 429 with Retry-After on the first Service LIST, three times.
svc_list='^[0-9]+ GET /api/v1/services\?limit'
kproxy_ctl proxy status 429 3 2 '^GET /api/v1/services\?limit'
t=$SECONDS
KUBECONFIG=$tmp/proxy/proxy.kubeconfig bridge_start node1 "$dir"
tap_ok "the bridge syncs through the proxy (HTTP/1.1, its CA)" bridge_wait_log "$dir" 'synced with the API server' 40
tap_diag "synced after $((SECONDS - t)) s"
tap_is "$(grep -cE "$svc_list.* 429 inject" "$plog")" 3 "the proxy answered the Service LIST 429 three times"
gap=$(min_gap "$svc_list")
tap_ok "each retry came at least Retry-After (2 s) later (smallest gap $gap ms)" [ "$gap" -ge 1950 ]
tap_is "$(grep -c 'informer Service: list: HTTP 429' "$blog")" 1 "the 429 is said once, not once per retry"
tap_ok "and its recovery once" bridge_wait_log "$dir" 'informer Service: working again' 5
tap_ok "the bridge holds the Lease" bridge_wait_log "$dir" 'holding the Lease as' 10
tap_ok "the proxy saw only sa1's token so far" bash -c '! grep -v "tok=$1" "$2" | grep -q .' _ "$fp1" "$plog"

# 2. 500 with Retry-After: 3 on the status PATCH, twice.
kproxy_ctl proxy status 500 2 3 '^PATCH /api/v1/namespaces/demo/services/web/status'
lb_svc web | k create -f - >/dev/null
ip=$(wait_svc_ip demo web 30)
tap_ok "demo/web gets its status through two 500s ($ip)" in_pool "$ip"
patches='^[0-9]+ PATCH /api/v1/namespaces/demo/services/web/status'
tap_is "$(grep -cE "$patches.* 500 inject" "$plog")" 2 "the proxy answered its PATCH 500 twice"
tap_is "$(grep -cE "$patches.* 200 pass" "$plog")" 1 "then one PATCH went through"
gap=$(min_gap "$patches")
tap_ok "each retry came at least Retry-After (3 s) later (smallest gap $gap ms)" [ "$gap" -ge 2950 ]
tap_is "$(grep -c 'demo/web: status write failed: ' "$blog")" 1 "the failed write is said once"
tap_ok "and the recovery" grep -q 'status writes work again' "$blog"

# 2b. The condition mlbd.io/Announced, kept current by the leader.
cond() { kubectl get svc -n demo "$1" -o jsonpath="{.status.conditions[?(@.type==\"mlbd.io/Announced\")].$2}" 2>/dev/null; }
web_ip=$(svc_ip demo web)
tap_is "$(cond web status)/$(cond web reason)" "True/Announced" "demo/web: condition mlbd.io/Announced True, reason Announced"
tap_is "$(cond web message)" "$web_ip announced by node \"node1\"" "its message names the announcing node"
tap_ok "it has a lastTransitionTime" bash -c '[[ $1 =~ ^20[0-9-]+T[0-9:]+Z$ ]]' _ "$(cond web lastTransitionTime)"
tap_is "$(grep -cE "$patches.* 200 pass" "$plog")" 1 "address and condition came in one PATCH"
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: outside, namespace: demo, annotations: {mlbd.io/loadBalancerIPs: 198.51.100.77}}
spec: {type: LoadBalancer, selector: {app: outside}, ports: [{port: 80}]}
EOF
cond_is() { [ "$(cond "$1" status)/$(cond "$1" reason)" = "$2" ]; }
tap_ok "demo/outside (an address in no pool): condition False, reason AllocationFailed" wait_for 20 cond_is outside False/AllocationFailed
tap_diag "its message: $(cond outside message)"
tap_ok "the message says why" bash -c '[[ $1 == *198.51.100.77* ]]' _ "$(cond outside message)"
k patch svc -n demo outside --type=merge -p '{"metadata":{"annotations":{"mlbd.io/loadBalancerIPs":null}}}' >/dev/null
tap_ok "once it asks for nothing special, it turns True" wait_for 20 cond_is outside True/Announced
k patch svc -n demo outside --type=merge -p '{"spec":{"type":"ClusterIP"}}' >/dev/null
tap_ok "back to ClusterIP: condition False, reason Released" wait_for 20 cond_is outside False/Released
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: etp, namespace: demo}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: etp}, ports: [{port: 80}]}
EOF
tap_ok "demo/etp (externalTrafficPolicy Local, no endpoint): condition False, reason NoEligibleNode" \
        wait_for 20 cond_is etp False/NoEligibleNode
tap_diag "its message: $(cond etp message)"
kube_endpointslice demo etp-1 etp node1 ready=true >/dev/null
tap_ok "with a ready endpoint on node1 it turns True" wait_for 20 cond_is etp True/Announced
tap_is "$(cond etp message)" "$(svc_ip demo etp) announced by node \"node1\"" "naming node1"
rv=$(svc_rv demo web)
bridge_stop node1
KUBECONFIG=$tmp/proxy/proxy.kubeconfig bridge_start node1 "$dir"
bridge_wait_log "$dir" 'holding the Lease as' 20
sleep 3
tap_is "$(svc_rv demo web)" "$rv" "a restarted bridge finds the condition current and writes nothing"

# 3. A watch cut in the middle of a chunk: resumed from its version, nothing missed.
kproxy_ctl proxy down
kproxy_ctl proxy cut 1 '^GET /api/v1/services\?.*watch=1'
cut_started() { grep -qE '^[0-9]+ GET /api/v1/services\?.*watch=1.* 200 cut' "$plog"; }
tap_ok "a new Service watch starts (to be cut)" wait_for 40 cut_started
n_lists=$(grep -cE "$svc_list" "$plog")
n_listed=$(grep -c 'informer Service: listed' "$blog")
lb_svc cut | k create -f - >/dev/null
ip=$(wait_svc_ip demo cut 40)
tap_ok "demo/cut, whose ADDED event was cut mid-chunk, gets its address ($ip)" in_pool "$ip"
tap_ok "the bridge saw the broken stream" grep -qE 'informer Service: (watch|bad watch stream|watch ended)' "$blog"
tap_is "$(grep -cE "$svc_list" "$plog")" "$n_lists" "no new LIST of Services: the watch resumed"
tap_is "$(grep -c 'informer Service: listed' "$blog")" "$n_listed" "the informer did not list again"
tap_ok "node1 holds $ip" wait_addr node1 "$ip" 5

# 3b. The API server out of the bridge's reach for 10 s: a Service created meanwhile
# (kubectl reaches the API server) gets its address once the watches resume.
n_lists=$(grep -cE "$svc_list" "$plog")
n_synced=$(grep -c 'watches resumed after an API outage: full sync to mlbd' "$blog")
kproxy_ctl proxy down
sleep 2
lb_svc meanwhile | k create -f - >/dev/null
sleep 8
tap_is "$(svc_ip demo meanwhile)" "" "demo/meanwhile, created while the bridge is cut off, waits"
kproxy_ctl proxy pass
ip=$(wait_svc_ip demo meanwhile 60)
tap_ok "once the bridge reaches the API server again, it gets its address ($ip)" in_pool "$ip"
tap_is "$(grep -cE "$svc_list" "$plog")" "$n_lists" "from the resumed watch, with no new LIST of Services"
tap_ok "the bridge sent mlbd a full sync after the outage" \
        bash -c '[ "$(grep -c "watches resumed after an API outage: full sync to mlbd" "$1")" -gt "$2" ]' _ "$blog" "$n_synced"

# 4. A real 401: sa1 is deleted (its token is refused), sa2's token goes into the file.
kproxy_ctl proxy pass
k delete serviceaccount -n mlbd-system sa1 >/dev/null
tap_ok "the API server answers 401 for sa1's token" \
        wait_for 20 grep -qE "^[0-9]+ .* 401 pass ua=.* tok=$fp1" "$plog"
tap_ok "the bridge says so, and that it reads the token file again" \
        bridge_wait_log "$dir" 'answered 401 Unauthorized; reading the token file again' 10
sleep 2
k create token -n mlbd-system sa2 --duration=1h >"$token_file.new" && mv "$token_file.new" "$token_file"
fp2=$(fp "$token_file")
t_ms=$(($(date +%s%N) / 1000000))
tap_ok "the new token is used" wait_for 20 grep -qE "tok=$fp2" "$plog"
first2=$(plog_times "tok=$fp2" | head -1)
tap_ok "within 10 s of the change, not at the minute's re-read ($((first2 - t_ms)) ms)" \
        [ $((first2 - t_ms)) -lt 10000 ]
tap_ok "the bridge says it read a new token" bridge_wait_log "$dir" "read a new token from $token_file" 5
tap_is "$(grep -c 'answered 401 Unauthorized' "$blog")" 1 "the 401s are said once"
lb_svc after401 | k create -f - >/dev/null
ip=$(wait_svc_ip demo after401 40)
tap_ok "with sa2's token, a new Service gets its address ($ip)" in_pool "$ip"
tap_ok "the bridge still running" kill -0 "${BRIDGE_PID[node1]}"
tap_done
