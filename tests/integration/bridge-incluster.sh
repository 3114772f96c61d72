#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd-bridge in-cluster, as in a pod, against a real control plane (kube.sh): no
# --kubeconfig; a folder holding token, ca.crt and namespace is bind-mounted at
# /var/run/secrets/kubernetes.io/serviceaccount in a private mount namespace (unshare -m)
# and KUBERNETES_SERVICE_HOST/PORT point at the API server. The token is a TokenRequest
# token of the ServiceAccount of k8s-bridge/deploy (`kubectl create token`, bound to a
# Secret so that deleting the Secret revokes it). The story works on it; then the file is
# replaced with a new token, as the kubelet rotates it, and the old one revoked: the
# bridge picks the new one up (it reads the file again every minute) and a Service
# created after the revocation gets its address. Missing variables and files are errors
# naming them.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root curl unshare mount
kube_require

SA_PATH=/var/run/secrets/kubernetes.io/serviceaccount
lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
# The mount point must exist on the host (mkdir in the private namespace would make it in
# the host's /run all the same); the folders this run made are removed at exit.
made=()
d=/run
for p in secrets kubernetes.io serviceaccount; do
        d=$d/$p
        [ -d "$d" ] && continue
        mkdir "$d" || { echo "Bail out! mkdir $d"; exit 1; }
        made=("$d" "${made[@]}")
done
BPID=
stop_bridge() {
        local i
        [ -n "$BPID" ] || return 0
        kill -TERM "$BPID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BPID" 2>/dev/null
        wait "$BPID" 2>/dev/null
        BPID=
}
cleanup() {
        local d
        stop_bridge
        kube_stop
        lan_cleanup
        for d in "${made[@]}"; do rmdir "$d" 2>/dev/null; done
}
trap cleanup EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
dir=$tmp/node1
blog=$dir/bridge.log
sa=$tmp/sa
mkdir -p "$sa"

bridge_apply_rbac "$tmp/sa.kubeconfig" >/dev/null || { echo "Bail out! RBAC"; exit 1; }
# A token bound to Secret NAME (made here): deleting the Secret revokes the token.
mint() {
        k create secret generic -n mlbd-system "$1" >/dev/null &&
                kubectl create token -n mlbd-system mlbd-bridge --duration=10m \
                        --bound-object-kind=Secret --bound-object-name="$1" 2>/dev/null
}
# The HTTP status of a request with token T.
api_status() {
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$KUBE_CA" \
                -H "Authorization: Bearer $1" "$KUBE_SERVER/api/v1/services?limit=1"
}
# Writes the file as the kubelet does: a new file renamed over the old one.
put_token() {
        printf '%s' "$1" >"$sa/.token.new" && mv -f "$sa/.token.new" "$sa/token"
}
# The bridge as in a pod: the folder at the service-account path, in its own mount
# namespace (unshare execs, so $! is the bridge).
start_incluster() {
        unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' _ \
                "$sa" "$SA_PATH" env KUBERNETES_SERVICE_HOST=127.0.0.1 \
                KUBERNETES_SERVICE_PORT="${KUBE_SERVER##*:}" NODE_NAME=node1 \
                "$BRIDGE" --socket "$dir/mlbd.sock" --lease-namespace mlbd-system \
                --lease-duration 4 --renew-deadline 3 --retry-period 0.5 --log-level debug \
                --listen 127.0.0.1:0 >>"$blog" 2>&1 &
        BPID=$!
}

# errors first, outside any pod
out=$(env -u KUBERNETES_SERVICE_HOST -u KUBERNETES_SERVICE_PORT "$BRIDGE" --node-name node1 2>&1)
tap_is "$?" 1 "without KUBERNETES_SERVICE_HOST and no --kubeconfig: exit 1"
tap_ok "the error names \$KUBERNETES_SERVICE_HOST" grep -q 'KUBERNETES_SERVICE_HOST.*not set' <<<"$out"
tap_diag "$out"
if [ ! -e "$SA_PATH/token" ]; then
        out=$(KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=443 "$BRIDGE" --node-name node1 2>&1)
        tap_ok "with no token file the error names $SA_PATH/token" grep -q "$SA_PATH/token" <<<"$out"
fi

tok_a=$(mint tok-a)
tap_is "$(api_status "$tok_a")" 200 "token A (bound to Secret tok-a) is accepted"
put_token "$tok_a"
cp "$KUBE_CA" "$sa/ca.crt"
echo mlbd-system >"$sa/namespace"

kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
k create namespace demo >/dev/null
daemon_conf "$dir" node1 "" || { echo "Bail out! config"; exit 1; }
daemon_start node1 "$dir" || { echo "Bail out! mlbd"; exit 1; }
start_incluster
tap_ok "the bridge starts on the in-cluster credentials" \
        bridge_wait_log "$dir" "API server https://127\.0\.0\.1:${KUBE_SERVER##*:} \(in-cluster\)" 10
tap_ok "it lists all four kinds and syncs" bridge_wait_log "$dir" 'synced with the API server' 30
tap_ok "it takes the Lease" bridge_wait_log "$dir" 'holding the Lease as' 15
tap_ok "the host's $SA_PATH stays empty (the mount is the bridge's own)" \
        not test -e "$SA_PATH/token"
lb() {
        printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' \
                "$1" "$1" | k apply -f - >/dev/null
}
in_pool() { [[ $1 =~ ^192\.0\.2\.(1[5-9][0-9]|200)$ ]]; }
lb before
ip=$(wait_svc_ip demo before 20)
tap_ok "a Service gets its address with token A ($ip)" in_pool "$ip"

# rotation: the new token in the file, the old one revoked
tok_b=$(mint tok-b)
put_token "$tok_b"
k delete secret -n mlbd-system tok-a >/dev/null
# The API server caches a token's success for 10 s (--authentication-token-webhook-cache-ttl
# aside, its token cache): wait that out.
t0=$(date +%s%N)
for ((i = 0; i < 200; i++)); do [ "$(api_status "$tok_a")" = 401 ] && break; sleep 0.1; done
tap_is "$(api_status "$tok_a")" 401 "after deleting Secret tok-a token A is refused (401, after $((($(date +%s%N) - t0) / 1000000)) ms)"
tap_is "$(api_status "$tok_b")" 200 "token B is accepted"
lb after
ip2=$(wait_svc_ip demo after 85)
t1=$(date +%s%N)
tap_ok "a Service created after the revocation gets its address ($ip2)" in_pool "$ip2"
secs=$(((t1 - t0) / 1000000000))
tap_diag "its address came $secs s after the revocation"
tap_ok "within the minute of the token re-read (plus the Lease's retry): $secs s <= 80 s" [ "$secs" -le 80 ]
tap_ok "no token re-read failed" not grep -q 'Cannot re-read the token' "$blog"
lb later
tap_ok "and the next one at once" in_pool "$(wait_svc_ip demo later 10)"
tap_is "$(k get svc -n demo before -o jsonpath='{.status.loadBalancer.ingress[0].ip}')" "$ip" \
        "the first Service kept $ip"
tap_ok "the bridge still runs" kill -0 "$BPID"
tap_done
