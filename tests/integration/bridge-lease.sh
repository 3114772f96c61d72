#!/bin/bash
# SPDX-License-Identifier: MIT
# Leader handover of the bridges' Lease (issue 12 item 3) against a real kube-apiserver
# (kube.sh) with an audit log of every write: three nodes, each with mlbd and a bridge
# that reaches the API server through its own proxy (tests/lib/kube-proxy.py), with the
# test timings of bridge.sh (lease 4 s, renew deadline 3 s, retry 0.5 s).
#  - kill -9 of the holder's bridge: another holds the Lease and writes within lease
#    duration + retry (+ a bound for the load);
#  - SIGTERM of the holder: it releases the Lease, another takes it within about one retry
#    period (far less than the lease duration);
#  - a holder whose renewals fail (its proxy answers 503 to Lease PUTs, watches still
#    work and Services keep coming) stops writing before anyone else takes over;
#  - a holder whose mlbd is killed (its bridge runs on) releases the Lease at once and a
#    bridge with an mlbd writes; with mlbd back it stands again without taking it back;
#  - never two writers: every status PATCH and Event write in the audit log comes from the
#    identity (User-Agent, one per node) that last wrote the Lease successfully; the
#    writes are counted per identity.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
. "$(dirname "$0")/../lib/kube-proxy.sh"
lan_require_root openssl curl
kube_require

LEASE_S=4 RETRY_MS=500 RENEW_S=3 # bridge.sh's timings
NODES=(node1 node2 node3)
lan_setup "${NODES[@]}" || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kproxy_stop_all; kube_stop; lan_cleanup' EXIT
cat >"$tmp/audit.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [patch]
  resources: [{group: "", resources: [services/status]}]
- level: Metadata
  verbs: [create, patch]
  resources: [{group: "", resources: [events]}]
- level: Metadata
  verbs: [create, update]
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: None
EOF
export KUBE_APISERVER_FLAGS="--audit-policy-file=$tmp/audit.yaml --audit-log-path=$tmp/audit.log --audit-log-mode=blocking"
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
has_ip() { wait_svc_ip "$@" >/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
lb_svc() { printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' "$1" "$1"; }
# The audit log as "EPOCH_MS KIND NODE CODE" lines in time order: KIND lease (a Lease
# create/update), status (a Service status PATCH) or event (an Event create/patch); NODE
# from the bridge's User-Agent "mlbd-bridge/VERSION (NODE)".
writes() {
        "$PY" - "$tmp/audit.log" <<'EOF'
import datetime, json, re, sys
out = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    m = re.match(r"mlbd-bridge/\S+ \((.*)\)$", e.get("userAgent", ""))
    if not m or e.get("stage") != "ResponseComplete":
        continue
    o = e.get("objectRef") or {}
    kind = {"leases": "lease", "services": "status", "events": "event"}.get(o.get("resource"))
    if not kind:
        continue
    t = datetime.datetime.strptime(e["requestReceivedTimestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    ms = (t - datetime.datetime(1970, 1, 1)).total_seconds() * 1000
    out.append((ms, kind, m.group(1), (e.get("responseStatus") or {}).get("code", 0)))
for w in sorted(out):
    print("%d %s %s %s" % w)
EOF
}
# The node whose bridge holds the Lease now (from the Lease), or nothing.
holder() { k get lease -n mlbd-system mlbd-bridge -o jsonpath='{.spec.holderIdentity}' | sed 's/_[0-9a-f]*$//'; }
# The first successful Lease write at or after EPOCH_MS by a node other than NODE: "MS NODE".
taken_after() { writes | awk -v t="$1" -v n="$2" '$1 >= t && $2 == "lease" && $3 != n && $4 < 300 {print $1, $3; exit}'; }

k create namespace mlbd-system >/dev/null
k create namespace demo >/dev/null
i=1
for n in "${NODES[@]}"; do kube_node "$n" "192.0.2.$i" >/dev/null || { echo "Bail out! node $n"; exit 1; }; i=$((i + 1)); done
export DAEMON_KEY=$tmp/cluster.key
declare -A PID
start_bridge() { KUBECONFIG=$tmp/$1/proxy/proxy.kubeconfig bridge_start "$1" "$tmp/$1"; }
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! mlbd on $n"; exit 1; }
        PID[$n]=$DAEMON_PID
        kproxy_start "$n" "$tmp/$n/proxy" || { echo "Bail out! proxy for $n"; exit 1; }
        start_bridge "$n"
done
for n in "${NODES[@]}"; do
        tap_ok "bridge on $n syncs its mlbd" bridge_wait_log "$tmp/$n" 'synced with the API server' 30
done
has_holder() { [ -n "$(holder)" ]; }
tap_ok "a bridge holds the Lease" wait_for 20 has_holder
lead=$(holder)
tap_diag "the Lease holder: $lead"
lb_svc s1 | k create -f - >/dev/null
tap_ok "demo/s1 gets an address" has_ip demo s1 20
writer_of() { writes | awk -v k=status '$2 == k && $4 == 200 {print $3}' | tail -1; }
tap_is "$(writer_of)" "$lead" "the holder ($lead) wrote its status"

# 1. kill -9 of the holder's bridge.
t=$(now_ms)
bridge_stop "$lead" KILL
lb_svc s2 | k create -f - >/dev/null
tap_ok "demo/s2, created right after, gets an address" has_ip demo s2 30
read -r t_new new < <(taken_after "$t" "$lead")
tap_ok "another bridge took the Lease ($new)" [ -n "$new" ]
ms=$((t_new - t))
bound=$((LEASE_S * 1000 + 22 * RETRY_MS / 10 + 3000))
tap_ok "within lease duration + retry (+3 s): $ms ms <= $bound ms" [ "$ms" -le "$bound" ]
low=$((LEASE_S * 1000 - 22 * RETRY_MS / 10 - 500))
tap_ok "and not before the lease could have expired ($ms ms >= $low ms)" [ "$ms" -ge "$low" ]
tap_is "$(writer_of)" "$new" "the new holder ($new) wrote demo/s2's status"
tap_diag "kill -9: handover in $ms ms"
start_bridge "$lead"
bridge_wait_log "$tmp/$lead" 'synced with the API server' 30 >/dev/null
sleep 1

# 2. SIGTERM of the holder: it releases the Lease.
lead=$new
t=$(now_ms)
bridge_stop "$lead" TERM
tap_ok "the stopped bridge released the Lease" grep -q 'releasing the Lease' "$tmp/$lead/bridge.log"
for ((i = 0; i < 100; i++)); do read -r t_new new < <(taken_after "$t" "$lead"); [ -n "$new" ] && break; sleep 0.1; done
ms=$((t_new - t))
bound=$((22 * RETRY_MS / 10 + 1900)) # under the lease duration, generous for the load
tap_ok "another bridge ($new) took it within about one retry period: $ms ms <= $bound ms (lease duration $((LEASE_S * 1000)) ms)" \
        eval '[ -n "$new" ] && [ "$ms" -le "$bound" ]'
tap_diag "SIGTERM: handover in $ms ms"
lb_svc s3 | k create -f - >/dev/null
tap_ok "demo/s3 gets an address" has_ip demo s3 20
tap_is "$(writer_of)" "$new" "from the new holder ($new)"
start_bridge "$lead"
bridge_wait_log "$tmp/$lead" 'synced with the API server' 30 >/dev/null

# 3. The holder cannot renew: its proxy answers 503 to Lease PUTs; it still watches.
lead=$new
sleep 1
kproxy_ctl "$lead" status 503 1000000 - '^PUT /apis/coordination.k8s.io/v1/namespaces/mlbd-system/leases/'
t=$(now_ms)
for i in 4 5 6 7 8 9 10 11 12 13 14 15; do
        lb_svc "s$i" | k create -f - >/dev/null
        sleep 0.5
done
tap_ok "the holder ($lead) stops leading when it cannot renew" \
        bridge_wait_log "$tmp/$lead" 'not renewed within [0-9]+ ms, stopping to lead' 15
read -r t_new new < <(taken_after "$t" "$lead")
tap_ok "another bridge took the Lease ($new)" [ -n "$new" ]
last_old=$(writes | awk -v n="$lead" -v t="$t" '$1 >= t && $3 == n && $2 != "lease" && $4 < 300 {m = $1} END {printf "%d\n", m}')
tap_diag "writes by the old holder after the cut: $(writes | awk -v n="$lead" -v t="$t" '$1 >= t && $3 == n && $2 != "lease" && $4 < 300' | wc -l)"
tap_ok "the old holder's last write ($((last_old > 0 ? last_old - t : 0)) ms after the cut) came before the new holder took over ($((t_new - t)) ms)" \
        [ "$last_old" -lt "$t_new" ]
tap_ok "and before its renew deadline ran out" [ "$last_old" -lt $((t + RENEW_S * 1000 + 500)) ]
all_have() { local i; for i in 4 5 6 7 8 9 10 11 12 13 14 15; do [ -n "$(svc_ip demo "s$i")" ] || return 1; done; }
tap_ok "all 12 Services created meanwhile get an address" wait_for 30 all_have
kproxy_ctl "$lead" pass
sleep 3
tap_is "$(writes | awk -v n="$lead" -v t="$t_new" '$1 >= t && $3 == n && $2 != "lease"' | wc -l)" 0 \
        "once it reaches the API server again, the old holder writes nothing"

# 4. The holder's mlbd dies (kill -9) while its bridge runs on: the bridge cannot know
# who announces what, so it gives up the Lease at once and a bridge with an mlbd writes.
has_holder_not() { local h; h=$(holder); [ -n "$h" ] && [ "$h" != "$1" ]; }
wait_for 20 has_holder
lead=$(holder)
t=$(now_ms)
DAEMON_PID=${PID[$lead]}
daemon_stop KILL
lan_exec "$lead" "$MLBD" -c "$tmp/$lead/mlbd.conf" --flush >/dev/null 2>&1
tap_ok "the holder's bridge ($lead), its mlbd killed, releases the Lease" \
        bridge_wait_log "$tmp/$lead" 'not connected to mlbd: releasing the Lease' 10
for ((i = 0; i < 100; i++)); do read -r t_new new < <(taken_after "$t" "$lead"); [ -n "$new" ] && break; sleep 0.1; done
ms=$((t_new - t))
bound=$((22 * RETRY_MS / 10 + 1900))
tap_ok "a bridge with an mlbd ($new) took it within about one retry period: $ms ms <= $bound ms" \
        eval '[ -n "$new" ] && [ "$ms" -le "$bound" ]'
tap_diag "mlbd killed under the holder: handover in $ms ms"
lb_svc s16 | k create -f - >/dev/null
tap_ok "demo/s16 gets an address" has_ip demo s16 20
tap_is "$(writer_of)" "$new" "from the new holder ($new)"
daemon_start "$lead" "$tmp/$lead" || { echo "Bail out! mlbd on $lead again"; exit 1; }
PID[$lead]=$DAEMON_PID
tap_ok "with its mlbd back, $lead's bridge stands for the Lease again" \
        bridge_wait_log "$tmp/$lead" 'a candidate again' 20
tap_is "$(holder)" "$new" "and $new keeps it (never taken back while held)"

# 5. Never two writers, over the whole run.
writes >"$tmp/writes"
"$PY" - "$tmp/writes" >"$tmp/judge" <<'EOF'
import sys
holder, bad, counts = None, [], {}
for line in open(sys.argv[1]):
    ms, kind, node, code = line.split()
    ok = int(code) < 300
    if kind == "lease":
        if ok:
            holder = node
        continue
    counts[node] = counts.get(node, 0) + 1
    if node != holder:
        bad.append("%s %s by %s while %s held the Lease" % (ms, kind, node, holder))
print("writes " + " ".join("%s=%d" % kv for kv in sorted(counts.items())))
for b in bad:
    print("bad " + b)
EOF
tap_diag "$(cat "$tmp/judge")"
tap_ok "writes were counted for more than one identity" \
        bash -c '[ "$(head -1 "$1" | wc -w)" -ge 3 ]' _ "$tmp/judge"
tap_is "$(grep -c '^bad ' "$tmp/judge")" 0 "every write came from the identity that last wrote the Lease"
for n in "${NODES[@]}"; do tap_ok "bridge on $n running" kill -0 "${BRIDGE_PID[$n]}"; done
tap_done
