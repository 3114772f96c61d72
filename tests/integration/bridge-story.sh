#!/bin/bash
# SPDX-License-Identifier: MIT
# The user story through kubectl against a real control plane (kube.sh): three nodes on a
# namespace LAN, each with mlbd (members learned from the Node objects) and mlbd-bridge;
# `kubectl apply` the nginx Service, `kubectl edit` it ClusterIP -> LoadBalancer,
# EXTERNAL-IP from the pool, curl from the client reaches the owner, Events in `kubectl
# describe`; one bridge writes (the Lease holder), all forward; kill -9 of the owner's
# mlbd moves the address; restarts of mlbd, of the bridges and of both write nothing;
# MetalLB's loadBalancerIPs annotation, loadBalancerClass, externalTrafficPolicy Local
# with EndpointSlices; back to ClusterIP and delete release, clear status and withdraw.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root curl
kube_require

NODES=(node1 node2 node3)
lan_setup "${NODES[@]}" client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }

k create namespace mlbd-system >/dev/null
i=1
for n in "${NODES[@]}"; do kube_node "$n" "192.0.2.$i" >/dev/null || { echo "Bail out! node $n"; exit 1; }; i=$((i + 1)); done

export DAEMON_KEY=$tmp/cluster.key
declare -A PID
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! mlbd on $n"; exit 1; }
        PID[$n]=$DAEMON_PID
        mkdir -p "$tmp/$n/www" && echo "hello from $n" >"$tmp/$n/www/index.html"
        lan_bg "$n" "$tmp/$n/httpd.log" busybox httpd -f -p 80 -h "$tmp/$n/www"
        bridge_start "$n" "$tmp/$n"
done
for n in "${NODES[@]}"; do
        tap_ok "bridge on $n lists all four kinds and syncs its mlbd" \
                bridge_wait_log "$tmp/$n" 'synced with the API server' 20
done
# each mlbd's status counts 3 live nodes (itself too), learned from the Node objects (peers = empty);
# the log says "every member heard from" only when that came before the settle timer
peers_heard() { local n; for n in "${NODES[@]}"; do daemon_status "$tmp/$n" | grep -Eq '"peers": *\{"alive": *3\b' || return 1; done; }
wait_for 30 peers_heard
tap_ok "every mlbd learned its 3 peers from the Node objects" peers_heard
sleep 1
leaders() { grep -l 'holding the Lease as' "$tmp"/node*/bridge.log 2>/dev/null | wc -l; }
tap_is "$(leaders)" 1 "exactly one bridge holds the Lease"
conns=$(ss -tnp | grep -c "pid=${BRIDGE_PID[node1]},")
tap_is "$conns" 1 "four watches and the Lease share one connection (HTTP/2)"

# the story
k create namespace demo >/dev/null
tap_ok "kubectl apply -f nginx.yaml" kubectl apply -f "$top_srcdir/tests/data/k8s/nginx.yaml"
tap_is "$(svc_ip demo nginx-service)" "" "a ClusterIP Service gets no EXTERNAL-IP"
printf '#!/bin/sh\nsed -i "s/^  type: ClusterIP/  type: LoadBalancer/" "$1"\n' >"$tmp/editor.sh"
chmod +x "$tmp/editor.sh"
tap_ok "kubectl edit svc nginx-service -n demo (ClusterIP -> LoadBalancer)" \
        env EDITOR="$tmp/editor.sh" kubectl edit svc nginx-service -n demo
ip=$(wait_svc_ip demo nginx-service 20)
tap_ok "kubectl get svc shows an EXTERNAL-IP from the pool ($ip)" \
        bash -c '[[ $1 =~ ^192\.0\.2\.(1[5-9][0-9]|200)$ ]]' _ "$ip"
tap_diag "$(k get svc -n demo nginx-service)"
holder() { local n; for n in "${NODES[@]}"; do host_has_addr "$n" "$1" && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'; }
for ((i = 0; i < 50; i++)); do [ -n "$(holder "$ip")" ] && break; sleep 0.1; done
owner=$(holder "$ip")
tap_ok "exactly one node holds $ip ($owner)" eval '[ -n "$owner" ] && [ "$owner" = "${owner// /}" ]'
tap_is "$(lan_exec client curl -s --max-time 5 "http://$ip/")" "hello from $owner" "curl http://$ip/ from the client reaches $owner"
for ((i = 0; i < 50; i++)); do k describe svc -n demo nginx-service | grep -q nodeAssigned && break; sleep 0.1; done
desc=$(k describe svc -n demo nginx-service)
tap_diag "$(echo "$desc" | sed -n '/^Events:/,$p')"
tap_ok "kubectl describe shows the Event IPAllocated" grep -q "IPAllocated.*$ip" <<<"$desc"
tap_ok "kubectl describe shows the Event nodeAssigned naming $owner" grep -q "nodeAssigned.*$owner" <<<"$desc"
writers=$(grep -l 'demo/nginx-service: status.loadBalancer.ingress' "$tmp"/node*/bridge.log | wc -l)
leader=$(grep -l 'holding the Lease as' "$tmp"/node*/bridge.log)
tap_is "$writers" 1 "one bridge wrote the status"
tap_ok "the writer is the Lease holder" grep -q 'demo/nginx-service: status.loadBalancer.ingress' "$leader"
tap_is "$(k get svc -n demo nginx-service -o jsonpath='{.metadata.managedFields[?(@.subresource=="status")].manager}')" \
        "mlbd-bridge" "the API server names mlbd-bridge as the manager of the status"

wait_for_s() { # SECS CMD...
        local s=$1 i
        shift
        for ((i = 0; i < s * 10; i++)); do "$@" && return 0; sleep 0.1; done
        return 1
}

# failover
DAEMON_PID=${PID[$owner]}
daemon_stop KILL
lan_exec "$owner" "$MLBD" -c "$tmp/$owner/mlbd.conf" --flush >/dev/null 2>&1
new=""
for ((i = 0; i < 50; i++)); do
        a=$(lan_exec client curl -s --max-time 0.2 "http://$ip/")
        case $a in "hello from "*) [ "${a#hello from }" != "$owner" ] && new=${a#hello from } && break ;; esac
        sleep 0.1
done
tap_ok "after kill -9 of mlbd on $owner, another node answers ($new)" [ -n "$new" ]
for ((i = 0; i < 50; i++)); do k describe svc -n demo nginx-service | grep -q "nodeAssigned.*\"$new\"" && break; sleep 0.1; done
tap_ok "an Event nodeAssigned names $new" bash -c 'kubectl describe svc -n demo nginx-service 2>/dev/null | grep -q "nodeAssigned.*\"$1\""' _ "$new"

# restarts write nothing
# The announcing node is in the condition mlbd.io/Announced: when it changes, the leader
# writes the condition (and nothing else); when it does not, nothing is written at all.
lb_of() { kubectl get svc -n demo nginx-service -o jsonpath='{.status.loadBalancer}' 2>/dev/null; }
cond_node() { kubectl get svc -n demo nginx-service -o jsonpath='{.status.conditions[?(@.type=="mlbd.io/Announced")].message}' 2>/dev/null | sed -n 's/.*announced by node "\([^"]*\)".*/\1/p'; }
cond_is_holder() { local h; h=$(holder "$ip"); [ -n "$h" ] && [ "$(cond_node)" = "$h" ]; }
tap_ok "the condition mlbd.io/Announced names $new" wait_for_s 10 cond_is_holder
lb=$(lb_of)
rv=$(svc_rv demo nginx-service)
tap_ok "the Service has a resourceVersion ($rv)" [ -n "$rv" ]
daemon_start "$owner" "$tmp/$owner" || { echo "Bail out! restart mlbd on $owner"; exit 1; }
PID[$owner]=$DAEMON_PID
tap_ok "the restarted mlbd on $owner gets a full sync from its bridge" \
        bridge_wait_log "$tmp/$owner" 'connected to mlbd.*' 10
sleep 3
tap_is "$(svc_ip demo nginx-service)" "$ip" "after mlbd's restart the Service keeps $ip"
tap_is "$(lb_of)" "$lb" "restarting mlbd left status.loadBalancer as it was"
tap_ok "the condition names the node that holds $ip again ($(holder "$ip"))" wait_for_s 10 cond_is_holder
sleep 1
rv=$(svc_rv demo nginx-service)
lead=$(basename "$(dirname "$leader")")
bridge_stop "$lead"
bridge_start "$lead" "$tmp/$lead"
sleep 6 # another bridge takes the Lease (4 s), the restarted one syncs
tap_is "$(svc_ip demo nginx-service)" "$ip" "after the leader bridge's restart the Service keeps $ip"
tap_is "$(svc_rv demo nginx-service)" "$rv" "restarting the leader bridge wrote nothing to the Service"
for n in "${NODES[@]}"; do
        bridge_stop "$n"
        DAEMON_PID=${PID[$n]} && daemon_stop TERM
done
for n in "${NODES[@]}"; do
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! restart mlbd on $n"; exit 1; }
        PID[$n]=$DAEMON_PID
        bridge_start "$n" "$tmp/$n"
done
sleep 8
tap_is "$(svc_ip demo nginx-service)" "$ip" "after restarting every mlbd and bridge the Service keeps $ip"
tap_is "$(lb_of)" "$lb" "restarting everything left status.loadBalancer as it was"
tap_ok "the condition names the node that holds $ip" wait_for_s 10 cond_is_holder
for ((i = 0; i < 50; i++)); do [ -n "$(holder "$ip")" ] && break; sleep 0.1; done
tap_ok "and $ip is on the LAN again ($(holder "$ip"))" [ -n "$(holder "$ip")" ]

# MetalLB's annotation, a class of another implementation, ETP Local with EndpointSlices
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: pinned, namespace: demo, annotations: {metallb.universe.tf/loadBalancerIPs: 192.0.2.177}}
spec: {type: LoadBalancer, selector: {app: pinned}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other-class, namespace: demo}
spec: {type: LoadBalancer, loadBalancerClass: example.com/other, selector: {app: x}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: local, namespace: demo, annotations: {mlbd.io/loadBalancerIPs: 192.0.2.188}}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: local}, ports: [{port: 80}]}
EOF
tap_is "$(wait_svc_ip demo pinned 20)" "192.0.2.177" "metallb.universe.tf/loadBalancerIPs is honoured"
kube_endpointslice demo local-abc local node3 ready=true >/dev/null
tap_is "$(wait_svc_ip demo local 20)" "192.0.2.188" "the ETP Local Service gets its address"
for ((i = 0; i < 50; i++)); do [ "$(holder 192.0.2.188)" = node3 ] && break; sleep 0.1; done
tap_is "$(holder 192.0.2.188)" "node3" "externalTrafficPolicy Local: only node3, with the ready endpoint, holds it"
kube_endpointslice demo local-abc local node2 ready=true >/dev/null
for ((i = 0; i < 50; i++)); do [ "$(holder 192.0.2.188)" = node2 ] && break; sleep 0.1; done
tap_is "$(holder 192.0.2.188)" "node2" "the endpoint moves to node2: so does the address"
tap_is "$(svc_ip demo other-class)" "" "a Service of another loadBalancerClass is left alone"

# back to ClusterIP, and delete
k patch svc -n demo pinned -p '{"spec":{"type":"ClusterIP"}}' >/dev/null
for ((i = 0; i < 100; i++)); do [ -z "$(svc_ip demo pinned)" ] && [ -z "$(holder 192.0.2.177)" ] && break; sleep 0.1; done
tap_is "$(svc_ip demo pinned)" "" "back to ClusterIP: the status is cleared"
tap_is "$(holder 192.0.2.177)" "" "back to ClusterIP: 192.0.2.177 is withdrawn from the LAN"
k delete svc -n demo nginx-service >/dev/null
for ((i = 0; i < 100; i++)); do [ -z "$(holder "$ip")" ] && break; sleep 0.1; done
tap_is "$(holder "$ip")" "" "kubectl delete: $ip is withdrawn from the LAN"
tap_ok "and no longer answers" not lan_exec client curl -s --max-time 1 "http://$ip/"
for n in "${NODES[@]}"; do tap_ok "mlbd on $n still running" kill -0 "${PID[$n]}"; done
for n in "${NODES[@]}"; do tap_ok "bridge on $n still running" kill -0 "${BRIDGE_PID[$n]}"; done
tap_done
