#!/bin/bash
# SPDX-License-Identifier: MIT
# The bridge's list and watch against a real control plane (kube.sh), one node and a
# client: a first LIST of over a thousand Services comes in pages (counted in the API
# server's audit log) and reaches mlbd whole; an API outage ends the watch, which resumes
# from its resourceVersion without a new LIST; a version compacted away in etcd (410 Gone)
# means a new LIST and a full sync, which releases a Service deleted meanwhile and
# allocates one created meanwhile; --lb-class takes Services of that class and of none.
# kube-apiserver runs with --watch-cache=false throughout: watches are served by etcd,
# so a resumed watch is one etcd can serve and a compaction makes its version gone.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root curl
kube_require

BULK=${BULK:-1100}
lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
t0=$SECONDS
# Only the bridge's interest: lists and watches of Services (who asked: the userAgent).
cat >"$tmp/audit.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [list, watch]
  resources: [{group: "", resources: [services]}]
- level: None
EOF
export KUBE_APISERVER_FLAGS="--watch-cache=false --audit-policy-file=$tmp/audit.yaml --audit-log-path=$tmp/audit.log"
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
dir=$tmp/node1
blog=$dir/bridge.log

# The bridge's requests for Services of VERB at STAGE (audit log), in order: "URI" per line.
audit() { kube_audit "$tmp/audit.log" "$1" "$2" services | cut -d' ' -f2-; }
# The resourceVersion a watch URI starts from.
uri_rv() { sed -n 's/.*[?&]resourceVersion=\([^&]*\).*/\1/p' <<<"$1"; }
count() { bridge_count "$dir" "$1"; }
# The Services mlbd holds as LoadBalancers (its `services` query): "ns/name state" lines.
mlbd_services() {
        daemon_ctl "$dir" --until '"op": *"services"' --timeout 3 "$TEST_HELLO" '{"op":"services","id":"q"}' 2>/dev/null |
                "$PY" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("op") == "services":
        for s in m["services"]: print(s["namespace"] + "/" + s["name"], s["state"])'
}
mlbd_has() { [ "$(mlbd_services | grep -c "^$1 ")" -gt 0 ]; }
# mlbd answers (it lists demo/lb-2, there throughout) and does not list $1.
mlbd_lacks() {
        local l
        l=$(mlbd_services)
        grep -q '^demo/lb-2 ' <<<"$l" && ! grep -q "^$1 " <<<"$l"
}
in_pool() { [[ $1 =~ ^192\.0\.2\.(1[5-9][0-9]|200)$ ]]; }
lb_svc() { # NAME [CLASS]
        local cls=${2:+\"loadBalancerClass\":\"$2\",}
        printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{%s"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' "$1" "$cls" "$1"
}

k create namespace mlbd-system >/dev/null
k create namespace demo >/dev/null
k create namespace bulk >/dev/null
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }

# 1. Pagination. The bulk are ExternalName Services (no ClusterIP: the range has 254).
"$PY" - "$BULK" >"$tmp/bulk.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "ext-%04d" % i, "namespace": "bulk"},
     "spec": {"type": "ExternalName", "externalName": "svc%04d.example.com" % i}}
    for i in range(n)]}))
EOF
t=$SECONDS
k create -f "$tmp/bulk.json" >/dev/null
{ lb_svc lb-1; lb_svc lb-2; lb_svc lb-3; lb_svc cls-mine example.com/mlbd; lb_svc cls-other example.com/other; } |
        k create -f - >/dev/null
total=$(kubectl get svc -A --no-headers 2>/dev/null | wc -l)
tap_diag "$total Services made in $((SECONDS - t)) s"
tap_ok "more than $BULK Services exist before the bridge starts ($total)" [ "$total" -gt "$BULK" ]

daemon_conf "$dir" node1 "" || { echo "Bail out! config"; exit 1; }
daemon_start node1 "$dir" || { echo "Bail out! mlbd"; exit 1; }
MLBD_PID=$DAEMON_PID
t=$SECONDS
bridge_start node1 "$dir"
tap_ok "the bridge lists all four kinds and syncs mlbd" bridge_wait_log "$dir" 'synced with the API server' 30
tap_diag "first sync after $((SECONDS - t)) s"
tap_is "$(sed -n 's/.*synced with the API server: \([0-9]*\) Services.*/\1/p' "$blog" | head -1)" "$total" \
        "the first sync carries every Service"
bridge_wait_log "$dir" 'mlbd took sync part .*, [0-9]+ services,' 10 # its reply follows the send
tap_is "$(sed -n 's/.*mlbd took sync part .*, \([0-9]*\) services,.*/\1/p' "$blog" | head -1)" "$total" \
        "mlbd took them all"
mapfile -t lists < <(audit list ResponseComplete)
tap_diag "the bridge's LISTs of Services: ${lists[*]}"
tap_is "${#lists[@]}" "$(((total + 499) / 500))" "the first LIST took $(((total + 499) / 500)) pages of 500"
tap_ok "the first page has limit=500 and no continue" \
        bash -c '[[ $1 == *limit=500* && $1 != *continue=* ]]' _ "${lists[0]}"
tap_ok "every later page continues the list" \
        bash -c 'shift; for u; do [[ $u == *limit=500*continue=?* ]] || exit 1; done' _ "${lists[@]}"
for s in lb-1 lb-2 lb-3; do
        ip=$(wait_svc_ip demo $s 20)
        tap_ok "demo/$s gets an address from the pool ($ip)" in_pool "$ip"
done
ip1=$(svc_ip demo lb-1)
tap_ok "node1 holds $ip1 (demo/lb-1)" wait_addr node1 "$ip1" 5
tap_is "$(svc_ip demo cls-mine)" "" "without --lb-class, a Service of class example.com/mlbd gets nothing"

# 2. An outage ends the watch; it resumes from its version, without a LIST.
mapfile -t watches < <(audit watch ResponseStarted)
rv_before=$(uri_rv "${watches[-1]}")
n_watch=${#watches[@]} n_list=${#lists[@]} n_listed=$(count 'informer [A-Za-z]+: listed')
tap_ok "the bridge watches Services from resourceVersion $rv_before" [ "${rv_before:-0}" != 0 ]
kube_stop_apiserver
sleep 3
t=$SECONDS
kube_start_apiserver || { echo "Bail out! kube-apiserver did not come back"; exit 1; }
lb_svc lb-after | k create -f - >/dev/null
rv_after=$(svc_rv demo lb-after)
ip=$(wait_svc_ip demo lb-after 30)
tap_ok "a Service created right after the outage gets an address and status ($ip, $((SECONDS - t)) s)" in_pool "$ip"
tap_ok "and node1 holds it" wait_addr node1 "$ip" 5
mapfile -t watches < <(audit watch ResponseStarted)
resumed=("${watches[@]:$n_watch}")
tap_diag "watches since the outage: ${resumed[*]}"
tap_ok "the bridge watched Services again" [ "${#resumed[@]}" -ge 1 ]
rv=$(uri_rv "${resumed[0]}")
tap_ok "from its version ($rv >= $rv_before, before $rv_after of the new Service)" \
        bash -c '[ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -lt "$3" ]' _ "$rv" "$rv_before" "$rv_after"
tap_is "$(audit list ResponseComplete | wc -l)" "$n_list" "no new LIST of Services"
tap_is "$(count 'informer [A-Za-z]+: listed')" "$n_listed" "no informer listed again"

# 3. 410 Gone: the bridge stopped while the API restarts, Services change, etcd compacts.
n_listed=$(count 'informer Service: listed')
bridge_gone_begin node1
k delete svc -n demo lb-1 >/dev/null
lb_svc lb-new | k create -f - >/dev/null
for i in 1 2 3; do k annotate svc -n bulk ext-000$i example.com/touched=$i >/dev/null; done
bridge_gone_end node1 "$dir"
relisted() { [ "$(count 'informer Service: listed')" -gt "$n_listed" ]; }
tap_ok "and lists Services again" wait_for 20 relisted
tap_ok "and sends mlbd a full sync of the new list" wait_for 20 bridge_synced_after_list "$dir" "$n_listed"
tap_diag "re-listed and synced in $((SECONDS - BRIDGE_GONE_T)) s"
tap_is "$(sed -n 's/.*mlbd took sync part .*, \([0-9]*\) services,.*/\1/p' "$blog" | tail -1)" "$(kubectl get svc -A --no-headers 2>/dev/null | wc -l)" \
        "the full sync carries every Service now"
tap_ok "the deleted demo/lb-1 is gone from mlbd" wait_for 10 mlbd_lacks demo/lb-1
tap_is "$(grep -c 'mlbd took delete Service demo/lb-1' "$blog")" 0 "by the full sync, not a delete (the watch never saw it)"
ip=$(wait_svc_ip demo lb-new 20)
tap_ok "demo/lb-new, created meanwhile, gets an address ($ip)" in_pool "$ip"
tap_ok "and node1 holds it" wait_addr node1 "$ip" 5
if [ "$ip" = "$ip1" ]; then
        # one sync released demo/lb-1 before allocating: its address went to lb-new
        tap_diag "$ip1 of the deleted demo/lb-1 went to demo/lb-new (released before allocating)"
else
        tap_ok "and $ip1 is withdrawn from node1" wait_no_addr node1 "$ip1" 10
fi

# 4. --lb-class: that class and none, not another.
bridge_stop node1
n_synced=$(count 'synced with the API server')
BRIDGE_ARGS="--lb-class example.com/mlbd" bridge_start node1 "$dir"
tap_ok "the bridge with --lb-class example.com/mlbd syncs" \
        wait_for 30 bash -c '[ "$(grep -c "synced with the API server" "$1")" -gt "$2" ]' _ "$blog" "$n_synced"
lb_svc cls-none | k create -f - >/dev/null
ip=$(wait_svc_ip demo cls-mine 20)
tap_ok "a Service of class example.com/mlbd gets an address ($ip)" in_pool "$ip"
ip=$(wait_svc_ip demo cls-none 20)
tap_ok "one without a class still does ($ip)" in_pool "$ip"
tap_is "$(svc_ip demo cls-other)" "" "one of class example.com/other does not"
handles_both() { mlbd_has demo/cls-mine && mlbd_has demo/cls-none; }
tap_ok "mlbd handles demo/cls-mine and demo/cls-none" handles_both
tap_ok "but not demo/cls-other" mlbd_lacks demo/cls-other
k delete svc -n demo cls-none >/dev/null
tap_ok "a Service deleted while the bridge watches is a delete to mlbd" \
        bridge_wait_log "$dir" 'mlbd took delete Service demo/cls-none' 10
tap_ok "mlbd still running" kill -0 "$MLBD_PID"
tap_ok "the bridge still running" kill -0 "${BRIDGE_PID[node1]}"
tap_diag "$(kube_rss); $((SECONDS - t0)) s in all"
tap_done
