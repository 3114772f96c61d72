#!/bin/bash
# SPDX-License-Identifier: MIT
# k8s-bridge/deploy against a real control plane (kube.sh): `kubectl kustomize` renders the
# seven objects with the DaemonSet's hardening in place; `kubectl apply --dry-run=server
# -k` passes the API server's validation (and a broken copy does not); the RBAC objects
# applied for real and a TokenRequest token of their ServiceAccount run the story on one
# node (list, watch, Lease, status, Events, release) without a single 403; `kubectl auth
# can-i --list` for that token shows exactly the rules of docs/bridge.md and nothing more;
# with `create events` taken away the bridge says so once, keeps handing out addresses,
# and says so when the verb is back.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root curl
kube_require

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
deploy=$top_srcdir/k8s-bridge/deploy
dir=$tmp/node1
blog=$dir/bridge.log
version=$(sed -n 's/^AC_INIT(\[mlbd\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")

# 1. kustomize renders; the DaemonSet as issue 12 and docs/bridge.md describe it
tap_ok "kubectl kustomize k8s-bridge/deploy renders" kubectl kustomize "$deploy" -o "$tmp/rendered.yaml"
"$PY" - "$tmp/rendered.yaml" "$version" >"$tmp/checks" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print("kinds", " ".join(sorted(d["kind"] + "/" + d["metadata"]["name"] for d in docs)))
print("namespaces", " ".join(sorted({d["metadata"].get("namespace", "-") for d in docs
                                     if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")})))
ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
env = {e["name"]: e for e in c.get("env", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
print("image", c["image"])
print("serviceAccount", pod.get("serviceAccountName"))
print("node_name", env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath"))
print("run_mlbd", vols.get(mounts.get("/run/mlbd"), {}).get("hostPath", {}).get("path"))
print("groups", len(psc.get("supplementalGroups", [])))
print("nonroot", psc.get("runAsNonRoot"), sc.get("runAsNonRoot"), psc.get("runAsUser", 0) != 0)
print("rofs", sc.get("readOnlyRootFilesystem"), sc.get("allowPrivilegeEscalation"))
print("caps", ",".join(sc.get("capabilities", {}).get("drop", [])), ",".join(sc.get("capabilities", {}).get("add", [])) or "-")
print("seccomp", psc.get("seccompProfile", {}).get("type"), sc.get("seccompProfile", {}).get("type"))
print("host", pod.get("hostNetwork", False), pod.get("hostPID", False), sc.get("privileged", False))
print("probes", c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"])
listen = [a for a in c.get("args", []) if a.startswith("--listen")]
print("listen", listen[0] if listen else "-")
r = c.get("resources", {})
print("resources", " ".join(sorted(r.get("requests", {}))), "/", " ".join(sorted(r.get("limits", {}))))
print("tolerations", " ".join(t.get("operator", "Equal") + ":" + t.get("key", "*") for t in pod.get("tolerations", [])))
EOF
chk() { sed -n "s/^$1 //p" "$tmp/checks"; }
tap_is "$(chk kinds)" "ClusterRole/mlbd-bridge ClusterRoleBinding/mlbd-bridge DaemonSet/mlbd-bridge Namespace/mlbd-system Role/mlbd-bridge RoleBinding/mlbd-bridge ServiceAccount/mlbd-bridge" \
        "it renders the Namespace, ServiceAccount, ClusterRole/Binding, Role/Binding and DaemonSet"
tap_is "$(chk namespaces)" "mlbd-system" "every namespaced object is in mlbd-system"
tap_is "$(chk image)" "localhost/mlbd-bridge:$version" "the image is the one make image builds (version $version)"
tap_is "$(chk serviceAccount)" "mlbd-bridge" "the pods run as the ServiceAccount mlbd-bridge"
tap_is "$(chk node_name)" "spec.nodeName" "NODE_NAME comes from spec.nodeName"
tap_is "$(chk run_mlbd)" "/run/mlbd" "the host's /run/mlbd (mlbd's socket) is mounted at /run/mlbd"
tap_is "$(chk groups)" "1" "a supplemental group for the socket"
tap_is "$(chk nonroot)" "True True True" "runAsNonRoot, with a non-zero runAsUser"
tap_is "$(chk rofs)" "True False" "readOnlyRootFilesystem, no privilege escalation"
tap_is "$(chk caps)" "ALL -" "every capability dropped, none added"
tap_is "$(chk seccomp)" "RuntimeDefault RuntimeDefault" "seccomp RuntimeDefault"
tap_is "$(chk host)" "False False False" "no host network, no host PID, not privileged"
tap_is "$(chk probes)" "/healthz /readyz" "liveness on /healthz, readiness on /readyz"
tap_is "$(chk listen)" "--listen=:7473" "the probes' port is --listen's"
tap_is "$(chk resources)" "cpu memory / cpu memory" "requests and limits for cpu and memory"
tap_is "$(chk tolerations)" "Exists:*" "one toleration of every taint: a bridge on every node"

# 2. the API server's own validation
tap_ok "kubectl apply -f namespace.yaml" kubectl apply -f "$deploy/namespace.yaml"
k apply --dry-run=server -k "$deploy" >"$tmp/dry.out"
rc=${PIPESTATUS[0]}
tap_diag "$(cat "$tmp/dry.out")"
tap_is "$rc" 0 "kubectl apply --dry-run=server -k k8s-bridge/deploy passes"
tap_is "$(grep -c '(server dry run)' "$tmp/dry.out")" 7 "all seven objects went through the server"
tap_is "$(kubectl get daemonset,serviceaccount,role -n mlbd-system -o name 2>/dev/null | grep -v serviceaccount/default)" ""  "and nothing but the Namespace was stored"
cp -r "$deploy" "$tmp/broken"
sed -i 's/runAsUser: 65532/runAsUser: root/' "$tmp/broken/daemonset.yaml"
tap_ok "a copy with runAsUser: root (a string) is refused by the server" \
        not kubectl apply --dry-run=server -k "$tmp/broken"

# 3. the RBAC for real, a token of the ServiceAccount, and what it may do
bridge_apply_rbac "$tmp/sa.kubeconfig" || { echo "Bail out! RBAC"; exit 1; }
token=$(sed -n 's/^    token: //p' "$tmp/sa.kubeconfig")
tap_ok "a TokenRequest token for mlbd-system/mlbd-bridge" [ -n "$token" ]
# Resource rules only; every authenticated user also may create self-subject reviews
# (system:basic-user), listed apart.
rules() { # NAMESPACE
        k auth can-i --list --token="$token" -n "$1" | awk 'NR > 1 && $1 !~ /^\[/' |
                sed -E 's/^([^ ]+) .*(\[[^]]*\]) *$/\1 \2/' |
                grep -v -E '^selfsubject(access|rules)reviews\.authorization\.k8s\.io \[create\]$' | sort
}
base='endpointslices.discovery.k8s.io [list watch]
events [create patch]
namespaces [list watch]
nodes [list watch]
services [get list watch]
services/status [patch]'
rules demo >"$tmp/rules.demo"
rules mlbd-system >"$tmp/rules.sys"
tap_diag "$(k auth can-i --list --token="$token" -n mlbd-system)"
tap_is "$(cat "$tmp/rules.demo")" "$base" "can-i --list in a namespace of Services: exactly the ClusterRole's rules"
tap_is "$(cat "$tmp/rules.sys")" "$(printf '%s\nleases.coordination.k8s.io [get create update]' "$base" | sort)" \
        "can-i --list in mlbd-system: those and the Lease's, nothing more"
cani() { kubectl auth can-i --token="$token" "$@" 2>/dev/null; }
tap_is "$(cani get secrets -n mlbd-system)" "no" "it cannot read Secrets"
tap_is "$(cani delete services -n demo)" "no" "it cannot delete Services"
tap_is "$(cani update services -n demo)" "no" "it cannot update a Service's spec"
tap_is "$(cani update leases -n demo)" "no" "it cannot touch Leases outside mlbd-system"
tap_is "$(cani get nodes/node1)" "no" "it cannot get a single Node (it lists)"

# 4. the story with that token
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
k create namespace demo >/dev/null
daemon_conf "$dir" node1 "" || { echo "Bail out! config"; exit 1; }
daemon_start node1 "$dir" || { echo "Bail out! mlbd"; exit 1; }
export BRIDGE_KUBECONFIG=$tmp/sa.kubeconfig
bridge_start node1 "$dir"
tap_ok "the bridge on the ServiceAccount's token lists all four kinds and syncs" \
        bridge_wait_log "$dir" 'synced with the API server' 30
tap_ok "it takes the Lease in mlbd-system" bridge_wait_log "$dir" 'holding the Lease as' 15
lb() { # NAME [ETP]
        printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{"type":"LoadBalancer","externalTrafficPolicy":"%s","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' \
                "$1" "${2:-Cluster}" "$1" | k apply -f - >/dev/null
}
in_pool() { [[ $1 =~ ^192\.0\.2\.(1[5-9][0-9]|200)$ ]]; }
lb web
ip=$(wait_svc_ip demo web 20)
tap_ok "a LoadBalancer Service gets an address ($ip)" in_pool "$ip"
tap_ok "and node1 announces it" wait_addr node1 "$ip" 5
events_of() { k get events -n demo --field-selector "involvedObject.name=$1" -o jsonpath='{.items[*].reason}'; }
wait_event() { # NAME REASON
        local i
        for ((i = 0; i < 50; i++)); do [[ " $(events_of "$1") " == *" $2 "* ]] && return 0; sleep 0.1; done
        return 1
}
tap_ok "the Event IPAllocated is written" wait_event web IPAllocated
tap_ok "the Event nodeAssigned is written" wait_event web nodeAssigned
lb local Local
kube_endpointslice demo local-x local node1 >/dev/null
tap_ok "an externalTrafficPolicy Local Service with an endpoint on node1 gets one" \
        in_pool "$(wait_svc_ip demo local 20)"
k patch svc -n demo local -p '{"spec":{"type":"ClusterIP"}}' >/dev/null
k delete svc -n demo web >/dev/null
tap_ok "deleting the Service withdraws $ip" wait_no_addr node1 "$ip" 10
forbidden() { grep -E '^<[0-4]>' "$blog" | grep -c 'HTTP 403'; } # warnings and errors
tap_is "$(forbidden)" 0 "no request of the story was forbidden"

# 5. a verb taken away: said once, addresses still handed out; and back
k patch clusterrole mlbd-bridge --type=json \
        -p '[{"op":"replace","path":"/rules/4/verbs","value":["patch"]}]' >/dev/null
for ((i = 0; i < 50; i++)); do [ "$(cani create events -n demo)" = no ] && break; sleep 0.1; done
tap_is "$(cani create events -n demo)" "no" "without 'create events' in the ClusterRole"
for s in a1 a2 a3; do lb "$s"; done
for s in a1 a2 a3; do
        tap_ok "Service $s still gets an address" in_pool "$(wait_svc_ip demo "$s" 20)"
done
for ((i = 0; i < 50; i++)); do grep -q 'Events: cannot write' "$blog" && break; sleep 0.1; done
sleep 1
tap_diag "$(grep 'Events:' "$blog")"
tap_is "$(grep -c 'Events: cannot write.*403.*forbidden' "$blog")" 1 \
        "the refused Events are said once, with the API server's reason"
tap_is "$(events_of a1)" "" "and none was stored"
k apply -f "$deploy/clusterrole.yaml" >/dev/null
for ((i = 0; i < 50; i++)); do [ "$(cani create events -n demo)" = yes ] && break; sleep 0.1; done
lb b1
tap_ok "with the verb back, Service b1 gets an address" in_pool "$(wait_svc_ip demo b1 20)"
tap_ok "its Event IPAllocated is written" wait_event b1 IPAllocated
tap_ok "the bridge says Events work again" grep -q 'Events: writing again (after: POST HTTP 403' "$blog"
tap_is "$(forbidden)" 1 "nothing else was ever forbidden"
tap_ok "the bridge still runs" kill -0 "${BRIDGE_PID[node1]}"
tap_done
