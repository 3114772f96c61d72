# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# bridge.sh: mlbd-bridge processes for tests, beside a control plane (kube.sh) and mlbd
# daemons on a namespace LAN (lan.sh, daemon.sh). The bridges run in the host's own
# network namespace (they reach the API server on loopback and their mlbd through its
# Unix socket, as a DaemonSet pod does through the mounted /run/mlbd). Functions only.
#
#   BRIDGE                         the binary (default $top_builddir/mlbd-bridge)
#   BRIDGE_ARGS                    extra words for every bridge (e.g. "--lb-class x")
#   BRIDGE_KUBECONFIG              the bridges' kubeconfig (default $KUBECONFIG, the admin's)
#   bridge_start NODE DIR          start a bridge for NODE against DIR/mlbd.sock, logging to
#                                  DIR/bridge.log (appended), short Lease timings (lease 4 s,
#                                  renew 3 s, retry 0.5 s), --listen 127.0.0.1:0 (a free port
#                                  each, logged as "serving ... on 127.0.0.1:PORT", so bridges
#                                  sharing the host's namespace never collide on :7473; a
#                                  --listen in BRIDGE_ARGS wins); PID in BRIDGE_PID[NODE]
#   bridge_stop NODE [SIG]         SIG (default TERM) to that PID, wait (bounded 10 s)
#   bridge_stop_all                every bridge still running (for the EXIT trap)
#   bridge_wait_log DIR PATTERN [S]  wait (bounded, default 20 s) until DIR/bridge.log has
#                                  a line matching PATTERN (extended regex)
#   bridge_count DIR PATTERN       lines of DIR/bridge.log matching PATTERN (extended regex)
#   bridge_gone_begin NODE         freeze NODE's bridge (SIGSTOP) and restart kube-apiserver:
#                                  its watches end unseen; change things, then
#   bridge_gone_end NODE DIR       compact etcd (kube_compact, a TAP check), let the bridge
#                                  run (SIGCONT) and check (30 s) it says its Service
#                                  resourceVersion is gone; sets BRIDGE_GONE_T ($SECONDS)
#   bridge_synced_after_list DIR N true once DIR/bridge.log holds more than N "informer
#                                  Service: listed" lines and a sync to mlbd after the last
#   svc_ip NS NAME                 the Service's status.loadBalancer.ingress[*].ip (space list)
#   wait_svc_ip NS NAME [S]        wait (bounded) until it has one; prints it
#   svc_rv NS NAME                 the Service's metadata.resourceVersion
#   bridge_apply_rbac FILE         apply k8s-bridge/deploy's Namespace, ServiceAccount and
#                                  RBAC objects (not the DaemonSet: no kubelet runs here) and
#                                  write FILE, a kubeconfig with a TokenRequest token of the
#                                  ServiceAccount mlbd-system/mlbd-bridge (KUBE_TOKEN_DURATION)

BRIDGE=${BRIDGE:-${top_builddir:-.}/mlbd-bridge}
declare -A BRIDGE_PID

bridge_start() {
        local node=$1 dir=$2
        # shellcheck disable=SC2086
        "$BRIDGE" --kubeconfig "${BRIDGE_KUBECONFIG:-$KUBECONFIG}" --node-name "$node" --socket "$dir/mlbd.sock" \
                --lease-namespace mlbd-system --lease-duration 4 --renew-deadline 3 \
                --retry-period 0.5 --log-level debug --listen 127.0.0.1:0 ${BRIDGE_ARGS:-} \
                >>"$dir/bridge.log" 2>&1 &
        BRIDGE_PID[$node]=$!
}

bridge_stop() {
        local node=$1 sig=${2:-TERM} pid=${BRIDGE_PID[$1]:-} i
        [ -n "$pid" ] || return 0
        kill -"$sig" "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "BRIDGE_PID[$node]"
}

bridge_stop_all() {
        local n
        for n in "${!BRIDGE_PID[@]}"; do bridge_stop "$n"; done
}

bridge_wait_log() {
        local dir=$1 pat=$2 s=${3:-20} i
        for ((i = 0; i < s * 10; i++)); do
                grep -Eq "$pat" "$dir/bridge.log" 2>/dev/null && return 0
                sleep 0.1
        done
        return 1
}

bridge_count() {
        grep -acE "$2" "$1/bridge.log"
}

bridge_gone_begin() {
        kill -STOP "${BRIDGE_PID[$1]}"
        kube_stop_apiserver
        kube_start_apiserver || { echo "Bail out! kube-apiserver did not come back"; exit 1; }
}

bridge_gone_end() {
        tap_ok "etcd compacted to its revision" kube_compact
        BRIDGE_GONE_T=$SECONDS
        kill -CONT "${BRIDGE_PID[$1]}"
        tap_ok "the bridge says its Service version is gone" \
                bridge_wait_log "$2" 'informer Service: resourceVersion [0-9]+ is gone .*listing again' 30
}

_bridge_last_line() {
        grep -anE "$2" "$1/bridge.log" | tail -1 | cut -d: -f1
}

bridge_synced_after_list() {
        [ "$(bridge_count "$1" 'informer Service: listed')" -gt "$2" ] &&
                [ "$(_bridge_last_line "$1" 'mlbd took sync part')" -gt "$(_bridge_last_line "$1" 'informer Service: listed')" ]
}

svc_ip() {
        kubectl -n "$1" get svc "$2" -o jsonpath='{.status.loadBalancer.ingress[*].ip}' 2>/dev/null
}

wait_svc_ip() {
        local s=${3:-20} i ip
        for ((i = 0; i < s * 10; i++)); do
                ip=$(svc_ip "$1" "$2")
                [ -n "$ip" ] && { echo "$ip"; return 0; }
                sleep 0.1
        done
        return 1
}

svc_rv() {
        kubectl -n "$1" get svc "$2" -o jsonpath='{.metadata.resourceVersion}' 2>/dev/null
}

bridge_apply_rbac() {
        local d=${top_srcdir:-$(dirname "${BASH_SOURCE[0]}")/../..}/k8s-bridge/deploy f
        for f in namespace serviceaccount clusterrole clusterrolebinding role rolebinding; do
                kubectl apply -f "$d/$f.yaml" >/dev/null 2>&1 || {
                        echo "# bridge_apply_rbac: kubectl apply -f $d/$f.yaml failed"
                        return 1
                }
        done
        kube_sa_kubeconfig mlbd-system mlbd-bridge "$1"
}
