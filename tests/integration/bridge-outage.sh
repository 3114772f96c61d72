#!/bin/bash
# SPDX-License-Identifier: MIT
# An API server outage changes nothing on the LAN (issue 12 item 1). Three nodes on a
# namespace LAN, each with mlbd and a bridge (HTTP/2 straight to a real kube-apiserver,
# kube.sh), four LoadBalancer Services; a client sends to every address every 10 ms
# through its own neighbour cache (tests/lib/client.sh). kube-apiserver is killed (-9)
# for 30 s: not one request is lost on the addresses whose owner lives; kill -9 of one
# owner's mlbd during the outage still moves its address within dead_after_ms (plus a
# generous bound for the load); every address stays where it was otherwise. When the API
# server is back the bridges resume their watches from their versions (no LIST), send
# mlbd a full sync, one of them holds the Lease again, and nothing is written to any
# Service (the API server's audit log has no status PATCH, the resourceVersions are
# unchanged), while an Event names the node that took over.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
. "$(dirname "$0")/../lib/client.sh"
lan_require_root curl
kube_require

OUTAGE_S=${OUTAGE_S:-30}
DEAD_MS=400 # mlbd's default dead_after_ms
NODES=(node1 node2 node3)
lan_setup "${NODES[@]}" client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
cat >"$tmp/audit.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [list, patch, update, create]
  resources: [{group: "", resources: [services, services/status]}]
- level: None
EOF
export KUBE_APISERVER_FLAGS="--audit-policy-file=$tmp/audit.yaml --audit-log-path=$tmp/audit.log --audit-log-mode=blocking"
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
# The bridges' requests of VERB on Services (SUB: "status" or ""), as "USERAGENT URI".
audit() {
        "$PY" - "$tmp/audit.log" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    o = e.get("objectRef") or {}
    if (e.get("userAgent", "").startswith("mlbd-bridge") and e.get("verb") == sys.argv[2]
            and e.get("stage") == "ResponseComplete" and o.get("resource") == "services"
            and o.get("subresource", "") == sys.argv[3]):
        print(e["userAgent"].replace(" ", "_"), e.get("requestURI"))
EOF
}

k create namespace mlbd-system >/dev/null
k create namespace demo >/dev/null
i=1
for n in "${NODES[@]}"; do kube_node "$n" "192.0.2.$i" >/dev/null || { echo "Bail out! node $n"; exit 1; }; i=$((i + 1)); done
export DAEMON_KEY=$tmp/cluster.key
declare -A PID
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! mlbd on $n"; exit 1; }
        PID[$n]=$DAEMON_PID
        client_serve "$n" "$n"
        bridge_start "$n" "$tmp/$n"
done
for n in "${NODES[@]}"; do
        tap_ok "bridge on $n syncs its mlbd" bridge_wait_log "$tmp/$n" 'synced with the API server' 30
done
SVCS=(a b c d)
for s in "${SVCS[@]}"; do
        printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' "$s" "$s"
done | k create -f - >/dev/null
declare -A IP OWNER RV
holder() { local n; for n in "${NODES[@]}"; do host_has_addr "$n" "$1" && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'; }
for s in "${SVCS[@]}"; do IP[$s]=$(wait_svc_ip demo "$s" 30); done
tap_ok "every Service has an address (${IP[*]})" bash -c 'for a; do [[ $a =~ ^192\.0\.2\. ]] || exit 1; done' _ "${IP[@]}" "${IP[a]}" "${IP[b]}" "${IP[c]}" "${IP[d]}"
one_holder() { local h; h=$(holder "$1"); [ -n "$h" ] && [ "$h" = "${h// /}" ]; }
for s in "${SVCS[@]}"; do
        wait_for 10 one_holder "${IP[$s]}"
        OWNER[$s]=$(holder "${IP[$s]}")
        tap_ok "exactly one node holds ${IP[$s]} (demo/$s: ${OWNER[$s]})" one_holder "${IP[$s]}"
done
sleep 3 # Events and writes settle
for s in "${SVCS[@]}"; do RV[$s]=$(svc_rv demo "$s"); done
victim=${OWNER[a]}
steady=()
for s in "${SVCS[@]}"; do [ "${OWNER[$s]}" != "$victim" ] && steady+=("${IP[$s]}"); done
moving=()
for s in "${SVCS[@]}"; do [ "${OWNER[$s]}" = "$victim" ] && moving+=("${IP[$s]}"); done
tap_ok "at least one address has an owner other than the victim (${#steady[@]})" [ "${#steady[@]}" -ge 1 ]
tap_diag "owners: $(for s in "${SVCS[@]}"; do printf '%s=%s ' "${IP[$s]}" "${OWNER[$s]}"; done); the victim: $victim"
n_patch=$(audit patch status | wc -l)
n_list=$(audit list "" | wc -l)
declare -A NSYNC
for n in "${NODES[@]}"; do NSYNC[$n]=$(grep -c 'mlbd took sync part' "$tmp/$n/bridge.log"); done

# The outage, under a steady client loop.
lan_exec client ip neigh flush dev eth0
client_start client "$tmp/outage.client" $(((OUTAGE_S + 12) * 1000)) "${IP[@]}"
sleep 2
t=$SECONDS
kube_stop_apiserver KILL
tap_diag "kube-apiserver killed"
sleep $((OUTAGE_S / 3))
DAEMON_PID=${PID[$victim]}
daemon_stop KILL
lan_exec "$victim" "$MLBD" -c "$tmp/$victim/mlbd.conf" --flush >/dev/null 2>&1
tap_diag "mlbd on $victim killed (-9) and its addresses flushed, $((SECONDS - t)) s into the outage"
moved() { local a h; for a in "${moving[@]}"; do h=$(holder "$a"); [ -n "$h" ] && [ "$h" != "$victim" ] && [ "$h" = "${h// /}" ] || return 1; done; }
tap_ok "during the outage, another node takes ${moving[*]}" wait_for 5 moved
for a in "${moving[@]}"; do tap_diag "$a now on $(holder "$a")"; done
sleep $((OUTAGE_S - (SECONDS - t)))
kube_start_apiserver || { echo "Bail out! kube-apiserver did not come back"; exit 1; }
tap_diag "kube-apiserver back after $((SECONDS - t)) s"
client_wait "$CLIENT_PID" 60
client_report "$tmp/outage.client"
sum=0
for a in "${steady[@]}"; do sum=$((sum + $(client_field "$tmp/outage.client" "$a" lost))); done
tap_is "$sum" 0 "not one request lost on ${#steady[@]} addresses whose owner lives (${steady[*]})"
for a in "${moving[@]}"; do
        g=$(client_field "$tmp/outage.client" "$a" longest_gap_ms)
        tap_ok "$a moved within dead_after_ms + 1000 ms: longest gap $g ms" [ "${g:-99999}" -le $((DEAD_MS + 1000)) ]
done
for a in "${steady[@]}"; do
        n=$(client_names "$tmp/outage.client" "$a")
        tap_ok "$a was answered by its owner alone throughout ($n)" bash -c '[[ $1 != *,* ]]' _ "$n"
done

# The API server is back.
for n in "${NODES[@]}"; do
        [ "$n" = "$victim" ] && continue
        tap_ok "bridge on $n: watches resumed, full sync to mlbd" \
                bridge_wait_log "$tmp/$n" 'watches resumed after an API outage: full sync to mlbd' 60
        more_syncs() { [ "$(grep -c 'mlbd took sync part' "$tmp/$1/bridge.log")" -gt "${NSYNC[$1]}" ]; }
        tap_ok "and mlbd on $n took it" wait_for 10 more_syncs "$n"
done
# With the watch cache, the restarted API server may not serve the old versions (410):
# then a bridge lists again, once; never a storm of LISTs.
relists=$(($(audit list "" | wc -l) - n_list))
tap_diag "LISTs of Services since the outage: $relists (3 bridges)"
tap_ok "each bridge re-watched or listed Services once at most ($relists LISTs)" [ "$relists" -le 3 ]
holds() { k get lease -n mlbd-system mlbd-bridge -o jsonpath='{.spec.holderIdentity}' | grep -q .; }
tap_ok "a bridge holds the Lease again" wait_for 20 holds
for ((i = 0; i < 100; i++)); do
        k describe svc -n demo a | grep -q "nodeAssigned.*\"$(holder "${IP[a]}")\"" && break
        sleep 0.1
done
tap_ok "an Event nodeAssigned names $(holder "${IP[a]}"), which took ${IP[a]}" \
        bash -c 'kubectl describe svc -n demo a 2>/dev/null | grep -q "nodeAssigned.*\"$1\""' _ "$(holder "${IP[a]}")"
sleep 5 # what the new leader would write, it has written by now
for s in "${SVCS[@]}"; do
        tap_is "$(svc_ip demo "$s")" "${IP[$s]}" "demo/$s keeps ${IP[$s]}"
done
cond_msg() { kubectl get svc -n demo "$1" -o jsonpath='{.status.conditions[?(@.type=="mlbd.io/Announced")].message}' 2>/dev/null; }
n_moved=0
for s in "${SVCS[@]}"; do
        if [ "${OWNER[$s]}" = "$victim" ]; then
                n_moved=$((n_moved + 1))
                h=$(holder "${IP[$s]}")
                tap_is "$(cond_msg "$s")" "${IP[$s]} announced by node \"$h\"" \
                        "demo/$s: the condition mlbd.io/Announced names $h, which took it"
        else
                tap_is "$(svc_rv demo "$s")" "${RV[$s]}" "demo/$s, whose owner lives, was not written (resourceVersion ${RV[$s]})"
        fi
done
tap_diag "status PATCHes since the outage began: $(audit patch status | tail -n +$((n_patch + 1)) | tr '\n' ';')"
tap_is "$(($(audit patch status | wc -l) - n_patch))" "$n_moved" \
        "the audit log has one status PATCH per moved address since the outage began (its condition), no more"
for n in "${NODES[@]}"; do
        [ "$n" = "$victim" ] || tap_ok "bridge on $n still running" kill -0 "${BRIDGE_PID[$n]}"
done
tap_done
