#!/bin/bash
# SPDX-License-Identifier: MIT
# A re-list after 410 Gone moves no address and writes nothing that did not change
# (issue 12, 9(c)), against a real control plane (kube.sh, --watch-cache=false) and one
# node: N (default 200) LoadBalancer Services get their addresses; then the bridge is
# stopped (SIGSTOP) while kube-apiserver restarts and etcd compacts past the bridge's
# versions, and one Service changes in a way that needs no write (an annotation). The
# bridge must say its versions are gone, list again (in pages of 500), send mlbd one
# full sync for all the informers that listed again, and afterwards:
#   - mlbd's allocations (`mlbctl --json services`) are byte for byte what they were;
#   - the statuses in the API and the addresses on node1 are the same;
#   - the bridge sent no POST, PUT, PATCH or DELETE of Services, Events or
#     EndpointSlices, as the API server itself counts them in its audit log (the
#     Lease's renewals are not counted).
# The Lease lasts 60 s here, so the stop does not cost the bridge its leadership (that
# would be a second full sync, and another story: bridge-lease.sh).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root
kube_require
MLBCTL=${top_builddir:-.}/mlbctl

N=${N:-200}
lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
cat >"$tmp/audit.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
  resources: [{group: "", resources: [services, services/status, events]},
              {group: "events.k8s.io", resources: [events]},
              {group: "discovery.k8s.io", resources: [endpointslices]}]
- level: Metadata
  verbs: [list]
  resources: [{group: "", resources: [services]}]
- level: None
EOF
export KUBE_APISERVER_FLAGS="--watch-cache=false --audit-policy-file=$tmp/audit.yaml --audit-log-path=$tmp/audit.log"
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
dir=$tmp/node1
blog=$dir/bridge.log
count() { bridge_count "$dir" "$1"; }
# The bridge's requests of VERB[,VERB...] (audit log, ResponseComplete): "VERB URI" lines.
audit() { kube_audit "$tmp/audit.log" "$1" ResponseComplete; }
writes() { audit create,update,patch,delete,deletecollection; }
# "name address,..." per Service of namespace demo that has an address, sorted.
api_addrs() {
        kubectl get svc -n demo -o json 2>/dev/null | "$PY" -c 'import json,sys
for s in sorted(json.load(sys.stdin)["items"], key=lambda s: s["metadata"]["name"]):
    ing = ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ing: print(s["metadata"]["name"], ",".join(i.get("ip", "") for i in ing))'
}
node_addrs() { lan_exec node1 ip -4 -o addr show dev eth0 | awk '{ print $4 }' | sort; }

k create namespace mlbd-system >/dev/null
k create namespace demo >/dev/null
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
daemon_conf "$dir" node1 "" || { echo "Bail out! config"; exit 1; }
sed -i 's/^log_level = debug$/log_level = info/' "$dir/mlbd.conf"
cat >"$dir/pools.yaml" <<EOF
pools:
  - name: wide
    addresses:
      - 192.0.2.10-192.0.2.250
    auto_assign: true
EOF
daemon_start node1 "$dir" || { echo "Bail out! mlbd"; exit 1; }
MLBD_PID=$DAEMON_PID
BRIDGE_ARGS="--lease-duration 60 --renew-deadline 40 --retry-period 2" bridge_start node1 "$dir"
bridge_wait_log "$dir" 'synced with the API server' 30 && bridge_wait_log "$dir" 'holding the Lease as' 30 ||
        { tail "$blog"; echo "Bail out! the bridge did not sync and lead"; exit 1; }

"$PY" - "$N" >"$tmp/svcs.json" <<'EOF'
import json, sys
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb-%03d" % i, "namespace": "demo"},
     "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False,
              "selector": {"app": "lb-%03d" % i}, "ports": [{"port": 80}]}}
    for i in range(int(sys.argv[1]))]}))
EOF
t=$SECONDS
k create -f "$tmp/svcs.json" >/dev/null
all_addressed() { [ "$(api_addrs | wc -l)" -eq "$N" ]; }
tap_ok "all $N Services get an address" wait_for 240 all_addressed
tap_diag "addressed in $((SECONDS - t)) s"
# settled: the Events and conditions of the allocation written, no write for 3 s
quiet() {
        local a b
        a=$(writes | wc -l)
        sleep 3
        b=$(writes | wc -l)
        [ "$a" -eq "$b" ]
}
tap_ok "the bridge's writes settle" wait_for 60 quiet
"$MLBCTL" -s "$dir/mlbd.sock" --json services >"$tmp/mlbd.before" || echo "# mlbctl failed"
api_addrs >"$tmp/api.before"
node_addrs >"$tmp/node.before"
writes >"$tmp/writes.before"
tap_is "$(grep -c '"state": *"allocated"' "$tmp/mlbd.before")" "$N" "mlbd holds the $N as allocated"
tap_diag "$(wc -l <"$tmp/writes.before") writes by the bridge so far"

# 410 Gone
n_listed=$(count 'informer Service: listed')
n_lists=$(audit list | wc -l)
n_sync=$(count 'mlbd took sync part 1/')
n_lines=$(wc -l <"$blog")
bridge_gone_begin node1
k annotate svc -n demo lb-000 example.com/touched=1 >/dev/null
bridge_gone_end node1 "$dir"
relisted() { [ "$(count 'informer Service: listed')" -gt "$n_listed" ]; }
tap_ok "and lists Services again" wait_for 30 relisted
tap_ok "in pages of 500 (a LIST with limit=500)" \
        bash -c 'tail -n +$(($2 + 1)) <<<"$1" | grep -q "^list /api/v1/services?limit=500"' _ "$(audit list)" "$n_lists"
tap_ok "and sends mlbd a full sync of the new list" wait_for 30 bridge_synced_after_list "$dir" "$n_listed"
tap_diag "re-listed and synced in $((SECONDS - BRIDGE_GONE_T)) s; $(count 'is gone') informers gone"
sleep 5 # what the sync would set off (a release, a status write) has time to happen
syncs=$(($(count 'mlbd took sync part 1/') - n_sync))
tap_is "$syncs" 1 "one full sync for all the re-lists"
[ "$syncs" = 1 ] || tail -n +"$n_lines" "$blog" |
        grep -aE 'full sync|sync part 1/|listed|gone|Lease|mlbd at|working again|retrying' | head -40 | sed 's/^/# /'

tap_is "$(sed -n 's/.*mlbd took sync part .*, \([0-9]*\) services,.*/\1/p' "$blog" | tail -1)" \
        "$(kubectl get svc -A --no-headers 2>/dev/null | wc -l)" "it carries every Service"
"$MLBCTL" -s "$dir/mlbd.sock" --json services >"$tmp/mlbd.after" || echo "# mlbctl failed"
api_addrs >"$tmp/api.after"
node_addrs >"$tmp/node.after"
writes >"$tmp/writes.after"
tap_ok "mlbd's allocations are identical (mlbctl --json services, $(wc -l <"$tmp/mlbd.before") lines)" \
        cmp -s "$tmp/mlbd.before" "$tmp/mlbd.after"
diff "$tmp/mlbd.before" "$tmp/mlbd.after" | head -10 | sed 's/^/# /'
tap_ok "the statuses in the API are identical ($(wc -l <"$tmp/api.after") addressed)" \
        cmp -s "$tmp/api.before" "$tmp/api.after"
tap_ok "node1 holds the same addresses ($(wc -l <"$tmp/node.after"))" cmp -s "$tmp/node.before" "$tmp/node.after"
tap_is "$(($(wc -l <"$tmp/writes.after") - $(wc -l <"$tmp/writes.before")))" 0 \
        "the bridge wrote nothing to the API since (no POST/PUT/PATCH/DELETE of Services, Events, EndpointSlices)"
diff "$tmp/writes.before" "$tmp/writes.after" | head -10 | sed 's/^/# /'
tap_is "$(count ': released|ClearAssignment')" 0 "the bridge logged no release"
tap_ok "mlbd still running" kill -0 "$MLBD_PID"
tap_ok "the bridge still running" kill -0 "${BRIDGE_PID[node1]}"
tap_done
