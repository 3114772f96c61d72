#!/bin/bash
# SPDX-License-Identifier: MIT
# The control-plane harness of the bridge tests (tests/lib/kube.sh) does what they rely
# on: a real kube-apiserver on etcd that verifies TLS and enforces RBAC, Node and
# EndpointSlice objects made as kubelet and the EndpointSlice controller would, an API
# outage that keeps every object and resourceVersion, 410 Gone after a compaction with the
# watch cache off, and a stop that leaves no process and no folder. A missing
# kube-apiserver fails the test ("Bail out!"), it is never skipped.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/kube.sh"
kube_require

# CMD's exit status RC was not 0 and its output TEXT matches REGEX.
refused() { [ "$1" -ne 0 ] && grep -q -- "$2" <<<"$3"; }
# For tap_ok: CMD fails; CMD succeeds with its output dropped (it would garble the TAP).
not() { ! "$@" >/dev/null 2>&1; }
quiet() { "$@" >/dev/null; }

trap kube_stop EXIT
trap 'exit 130' INT TERM
t0=$(date +%s%N)
kube_start || { echo "Bail out! the control plane did not start"; exit 1; }
start_ms=$((($(date +%s%N) - t0) / 1000000))
tap_ok "control plane up in $start_ms ms (kube-apiserver ready in $KUBE_START_MS ms) at $KUBE_SERVER" \
        [ -n "$KUBE_CM_PID" ]
dir=$KUBE_DIR

# TLS: the admin kubeconfig verifies the server against its certificate; another CA fails.
tap_ok "admin kubeconfig names the serving certificate as CA, no insecure skip" \
        grep -qx "    certificate-authority: $KUBE_CA" "$KUBECONFIG"
tap_ok "kubectl get ns default (TLS verified)" quiet kubectl get ns default -o name
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/other.key" -out "$dir/other.crt" \
        -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
sed "s|certificate-authority: .*|certificate-authority: $dir/other.crt|" "$KUBECONFIG" \
        >"$dir/wrong-ca.kubeconfig"
out=$(kubectl --kubeconfig "$dir/wrong-ca.kubeconfig" --request-timeout=5s get ns default 2>&1)
rc=$?
tap_ok "a kubeconfig with another CA is refused (x509)" refused "$rc" x509 "$out"
tap_ok "curl with the serving certificate as CA reaches /version" \
        quiet curl -sf --cacert "$KUBE_CA" -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_SERVER/version"

# RBAC: a ServiceAccount's token gets nothing until it is bound.
kube_sa_kubeconfig harness reader "$dir/reader.kubeconfig" ||
        { echo "Bail out! kube_sa_kubeconfig failed"; exit 1; }
out=$(kubectl --kubeconfig "$dir/reader.kubeconfig" get svc -A 2>&1)
rc=$?
tap_diag "unbound: $out"
tap_ok "an unbound ServiceAccount is forbidden to list Services" refused "$rc" \
        'forbidden.*system:serviceaccount:harness:reader.*cannot list resource "services"' "$out"
kubectl create clusterrolebinding harness-reader-view --clusterrole=view \
        --serviceaccount=harness:reader >/dev/null
ok=
for _ in $(seq 50); do # RBAC caches are updated from a watch: allow a moment
        if kubectl --kubeconfig "$dir/reader.kubeconfig" get svc -A >/dev/null 2>&1; then
                ok=1
                break
        fi
        sleep 0.1
done
tap_ok "bound to view, it lists Services" [ -n "$ok" ]
out=$(kubectl --kubeconfig "$dir/reader.kubeconfig" create namespace nope 2>&1)
tap_ok "view does not let it create a Namespace" refused $? forbidden "$out"
kip=$(kubectl --kubeconfig "$dir/reader.kubeconfig" get svc -n default kubernetes -o 'jsonpath={.spec.clusterIP}')
tap_is "$kip" 203.0.113.1 "the kubernetes Service has its ClusterIP from 203.0.113.0/24"

# Node objects as a kubelet makes them.
kube_node node1 192.0.2.11,2001:db8::11 Ready=True zone=a
tap_is "$(kubectl get node node1 -o 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}')" \
        "192.0.2.11 2001:db8::11" "Node node1 has InternalIPs 192.0.2.11 and 2001:db8::11"
tap_is "$(kubectl get node node1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.metadata.labels.zone} {.metadata.labels.kubernetes\.io/hostname}')" \
        "True a node1" "node1 is Ready, labels zone=a and kubernetes.io/hostname=node1"
kube_node node2 192.0.2.12 Ready=False
tap_is "$(kubectl get node node2 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" \
        False "Node node2 is not Ready"
kube_node node2 192.0.2.12
tap_is "$(kubectl get node node2 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" \
        True "kube_node again updates it: node2 is Ready"
tap_ok "kube_node refuses an address outside the documentation ranges" \
        not kube_node node3 10.1.2.3

# EndpointSlices as the EndpointSlice controller makes them.
kubectl create namespace demo >/dev/null
kubectl create service loadbalancer web -n demo --tcp=80:8080 >/dev/null
kube_endpointslice demo web-abc12 web node1,node2 ready=true ||
        { echo "Bail out! kube_endpointslice failed"; exit 1; }
tap_is "$(kubectl get endpointslice -n demo -l kubernetes.io/service-name=web -o 'jsonpath={.items[*].metadata.name}')" \
        web-abc12 "the EndpointSlice is listed by its kubernetes.io/service-name label"
tap_is "$(kubectl get endpointslice -n demo web-abc12 -o 'jsonpath={.endpoints[*].nodeName} {.endpoints[*].conditions.ready} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" \
        "node1 node2 true true Service/web" "its endpoints are on node1 and node2, ready, owned by Service web"
kube_endpointslice demo web-abc12 web node1 ready=false
tap_is "$(kubectl get endpointslice -n demo web-abc12 -o 'jsonpath={.endpoints[*].nodeName} {.endpoints[*].conditions.ready}')" \
        "node1 false" "kube_endpointslice again updates it: node1 alone, not ready"

# An outage: the API is gone, then back on the same etcd with every object unchanged.
rvs() {
        kubectl get node node1 node2 -o 'jsonpath={.items[*].metadata.resourceVersion}'
        echo -n " "
        kubectl get endpointslice -n demo web-abc12 -o 'jsonpath={.metadata.resourceVersion}'
        echo -n " "
        kubectl get sa -n harness reader -o 'jsonpath={.metadata.resourceVersion}'
}
before=$(rvs)
kube_stop_apiserver
tap_ok "with kube-apiserver stopped kubectl fails" \
        not kubectl --request-timeout=2s get ns default
t1=$(date +%s%N)
kube_start_apiserver
rc=$?
tap_ok "kube-apiserver back in $((($(date +%s%N) - t1) / 1000000)) ms" [ "$rc" -eq 0 ]
tap_is "$(rvs)" "$before" "Nodes, EndpointSlice and ServiceAccount kept their resourceVersions"
tap_ok "the ServiceAccount token still works" \
        quiet kubectl --kubeconfig "$dir/reader.kubeconfig" get svc -n demo web -o name

# 410 Gone: watch cache off, etcd compacted, a watch from an old resourceVersion expires.
# shellcheck disable=SC2034 # read by kube_start_apiserver
KUBE_APISERVER_FLAGS=--watch-cache=false
kube_restart_apiserver || { echo "Bail out! kube-apiserver did not restart"; exit 1; }
tap_ok "restarted with KUBE_APISERVER_FLAGS=--watch-cache=false" \
        grep -q -- '--watch-cache=false' "/proc/$KUBE_APISERVER_PID/cmdline"
kubectl create configmap -n demo c1 --from-literal=a=1 >/dev/null
old=$(kubectl get configmap -n demo c1 -o 'jsonpath={.metadata.resourceVersion}')
kubectl patch configmap -n demo c1 --type=merge -p '{"data":{"a":"2"}}' >/dev/null
kubectl patch configmap -n demo c1 --type=merge -p '{"data":{"a":"3"}}' >/dev/null
rev=$(kube_etcdctl endpoint status -w json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
kube_etcdctl compact "$rev" >/dev/null
out=$(curl -s --max-time 5 --cacert "$KUBE_CA" -H "Authorization: Bearer $KUBE_TOKEN" \
        "$KUBE_SERVER/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion=$old")
tap_diag "watch from $old after compacting at $rev: $out"
tap_ok "a watch from before the compaction gets 410 Expired" \
        grep -q '"type":"ERROR".*"reason":"Expired".*"code":410' <<<"$out"

tap_diag "RSS: $(kube_rss)"
pids=("${KUBE_PIDS[@]}")
kube_stop
alive=
for p in "${pids[@]}"; do
        [ -e "/proc/$p" ] && alive+=" $p"
done
tap_is "$alive" "" "kube_stop left no process of the run (pids ${pids[*]})"
tap_ok "kube_stop removed $dir" [ ! -e "$dir" ]
tap_ok "kube_stop twice is harmless" kube_stop
tap_done
