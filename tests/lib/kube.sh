# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# kube.sh: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
# on loopback, for the tests of mlbd-bridge. Source it from a bash test (after lan.sh when
# the test also wants a LAN and the TAP helpers); it defines functions only and traps
# nothing: install the cleanup yourself, e.g. `trap kube_stop EXIT`, or after lan_setup
# (which sets its own EXIT trap) `trap 'kube_stop; lan_cleanup' EXIT`.
#
#   kube_find_bins              set KUBE_APISERVER, KUBE_CONTROLLER_MANAGER (may be empty),
#                               KUBE_ETCD, KUBECTL. kube-apiserver comes from
#                               $KUBEBUILDER_ASSETS (envtest layout: a folder holding
#                               kube-apiserver and optionally etcd, kube-controller-manager,
#                               kubectl; when set it is the only place looked in), else from
#                               an envtest folder at ../shared/envtest beside the repository
#                               ($top_srcdir/.., the main worktree's parent, /work/shared);
#                               etcd and kubectl from there or from PATH. Fails with one line
#                               in KUBE_MISSING saying what is missing and how to provide it
#   kube_require                kube_find_bins or print "Bail out! KUBE_MISSING" and exit 1
#                               (a missing control plane is a failure, never a skip)
#   kube_start [DIR]            start the control plane with its files in DIR (made if
#                               missing; default a fresh mktemp -d), on free loopback ports
#                               (checked unused with ss, retried when a bind still fails):
#                               etcd, kube-apiserver (RBAC, static admin token, service
#                               account keys, ClusterIPs from 203.0.113.0/24) waited for
#                               (bounded, KUBE_START_S=60) until /readyz says ok, then
#                               kube-controller-manager (no node, service, route, volume,
#                               Endpoints or EndpointSlice controllers: the tests make the
#                               EndpointSlices, with kube_endpointslice). Writes DIR/admin.kubeconfig (TLS verified
#                               against the self-signed serving certificate, bearer token),
#                               exports KUBECONFIG=DIR/admin.kubeconfig and KUBECACHEDIR
#                               (kubectl's cache stays in DIR). Sets KUBE_DIR, KUBE_SERVER
#                               (https://127.0.0.1:PORT), KUBE_CA (the serving certificate,
#                               its own CA), KUBE_TOKEN (admin), KUBE_ETCD_URL, KUBE_ETCD_PID,
#                               KUBE_APISERVER_PID, KUBE_CM_PID, KUBE_PIDS (every PID started)
#                               and KUBE_START_MS (time until /readyz was ok). On failure it
#                               prints the logs' tails as TAP comments and returns 1; call
#                               kube_stop after it either way. Call it in the test's own shell
#                               (not in $(...)): the PIDs are kept in shell variables
#   KUBE_APISERVER_FLAGS        extra words for kube-apiserver, read at every
#                               kube_start_apiserver (e.g. "--watch-cache=false")
#   kube_stop                   TERM every PID of the run (KILL after 10 s), reap them, remove
#                               KUBE_DIR (kept when KUBE_KEEP_ON_FAILURE is set and TAP_FAILED
#                               > 0). Idempotent; safe in an EXIT trap and after a half start
#   kube_stop_apiserver [SIG]   stop kube-apiserver alone (default TERM, by PID): an outage
#   kube_start_apiserver        start it again on the same port, etcd and certificates
#   kube_restart_apiserver      both; objects and resourceVersions survive (they live in etcd)
#   kube_etcdctl ARGS...        ETCDCTL_API=3 etcdctl against this run's etcd (e.g. compact)
#   kube_compact                compact etcd to its current revision (every older
#                               resourceVersion is gone: a watch from one gets 410); sets
#                               KUBE_COMPACTED to that revision
#   kube_audit LOG VERBS STAGE [RESOURCE]
#                               mlbd-bridge's requests (by User-Agent) in the API server's
#                               audit LOG with a verb of VERBS (comma-separated) at STAGE,
#                               in order, a "VERB URI" line each; with RESOURCE only the
#                               cluster-wide ones for that resource
#   kube_rss                    "etcd N MB, kube-apiserver N MB, kube-controller-manager N MB"
#   kube_node NAME IP[,IP...] [Ready=True|False] [KEY=VALUE...]
#                               create or update Node NAME (labels kubernetes.io/hostname=NAME
#                               and KEY=VALUE), then set its status through the status
#                               subresource as a kubelet would: an InternalIP per IP, a
#                               Hostname address, and the Ready condition (default True)
#   kube_endpointslice NS NAME SERVICE NODE[,NODE...] [ready=true|false] [IPv4|IPv6]
#                               create or update a discovery.k8s.io/v1 EndpointSlice as the
#                               EndpointSlice controller would: labels kubernetes.io/service-name
#                               and endpointslice.kubernetes.io/managed-by, an owner reference
#                               to the Service when it exists, one endpoint per NODE (nodeName
#                               NODE, conditions ready/serving as given, terminating false,
#                               an address from 198.51.100.0/24 or 2001:db8:100::/64 fixed by
#                               NS/NAME/NODE), port TCP $KUBE_EP_PORT (80)
#   kube_sa_kubeconfig NS SA FILE
#                               make namespace NS and ServiceAccount SA if missing and write
#                               FILE: a kubeconfig with the same server and CA and a token of
#                               SA (`kubectl create token`, KUBE_TOKEN_DURATION, default 1h)
#   k ARGS...                   kubectl ARGS with stderr merged into stdout, less kubectl's
#                               "WARNING: version difference" line (client and server differ)
#   kube_doc_addr ADDR          ADDR is a documentation address (192.0.2.0/24,
#                               198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32); the helpers
#                               refuse any other
#
# Only documentation addresses appear in objects; the processes listen on 127.0.0.1 alone.
# Every run has its own folder and ports, so a leftover of a killed run (processes still
# holding their ports, folders in TMPDIR) cannot break the next one.

KUBE_DIR=
KUBE_PIDS=()
KUBE_ETCD_PID=
KUBE_APISERVER_PID=
KUBE_CM_PID=
KUBE_API_PORT=
KUBE_ETCD_URL=
KUBE_SERVER=
KUBE_CA=
KUBE_TOKEN=
KUBE_START_MS=
KUBE_MISSING=
KUBE_EP_PORT=${KUBE_EP_PORT:-80}
KUBE_SERVICE_CIDR=203.0.113.0/24
# The recipe's controllers, less the three that write Endpoints and EndpointSlices: with no
# Pods they would only add an empty slice per Service with a selector and delete the
# tests' slices labelled managed-by endpointslice-controller.k8s.io.
KUBE_CONTROLLERS='*,-nodelifecycle,-nodeipam,-cloud-node-lifecycle,-service,-route,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-endpoint,-endpointslice,-endpointslicemirroring'

# Folders that may hold envtest binaries, when KUBEBUILDER_ASSETS is not set.
_kube_envtest_dirs() {
        local src=${top_srcdir:-$(dirname "${BASH_SOURCE[0]}")/../..} common
        echo "$src/../shared/envtest"
        # A worktree's parent need not be the main checkout's: try the main one's too.
        common=$(git -C "$src" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
                echo "$(dirname "$common")/../shared/envtest"
        echo /work/shared/envtest
}

kube_find_bins() {
        local d
        KUBE_APISERVER='' KUBE_CONTROLLER_MANAGER='' KUBE_ETCD='' KUBECTL='' KUBE_MISSING=''
        if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
                if [ ! -x "$KUBEBUILDER_ASSETS/kube-apiserver" ]; then
                        KUBE_MISSING="no kube-apiserver in KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS: point it at a folder holding kube-apiserver (envtest layout), or unset it to use ../shared/envtest"
                        return 1
                fi
                d=$KUBEBUILDER_ASSETS
        else
                while read -r d; do
                        [ -x "$d/kube-apiserver" ] && break
                        d=
                done < <(_kube_envtest_dirs)
                if [ -z "$d" ]; then
                        KUBE_MISSING="no kube-apiserver: set KUBEBUILDER_ASSETS to a folder holding kube-apiserver (envtest layout) or put envtest at ../shared/envtest beside the repository"
                        return 1
                fi
        fi
        d=$(cd "$d" && pwd) || return 1
        KUBE_APISERVER=$d/kube-apiserver
        [ -x "$d/kube-controller-manager" ] && KUBE_CONTROLLER_MANAGER=$d/kube-controller-manager
        if [ -x "$d/etcd" ]; then
                KUBE_ETCD=$d/etcd
        else
                KUBE_ETCD=$(command -v etcd) || KUBE_ETCD=
        fi
        if [ -x "$d/kubectl" ]; then
                KUBECTL=$d/kubectl
        else
                KUBECTL=$(command -v kubectl) || KUBECTL=
        fi
        if [ -z "$KUBE_ETCD" ]; then
                KUBE_MISSING="no etcd in $d or PATH: apt-get install etcd-server"
                return 1
        fi
        if [ -z "$KUBECTL" ]; then
                KUBE_MISSING="no kubectl in $d or PATH: install kubectl"
                return 1
        fi
        local t
        for t in openssl curl ss; do
                if ! command -v "$t" >/dev/null 2>&1; then
                        KUBE_MISSING="$t is missing (apt-get install openssl curl iproute2)"
                        return 1
                fi
        done
}

kube_require() {
        if ! kube_find_bins; then
                echo "Bail out! $KUBE_MISSING"
                exit 1
        fi
}

kube_doc_addr() {
        local a=${1,,}
        case $a in
        192.0.2.* | 198.51.100.* | 203.0.113.*) [[ $a =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] ;;
        2001:db8:* | 2001:0db8:*) [[ $a =~ ^[0-9a-f:]+$ ]] ;;
        *) return 1 ;;
        esac
}

_kube_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Alive and not a zombie (our children stay zombies until reaped).
_kube_alive() {
        local st
        [ -n "$1" ] && read -r st 2>/dev/null <"/proc/$1/stat" || return 1
        st=${st##*) }
        [ "${st:0:1}" != Z ]
}

# A TCP port outside the ephemeral range that no socket uses now (listening or connected).
_kube_free_port() {
        local lo hi p i
        read -r lo hi </proc/sys/net/ipv4/ip_local_port_range || return 1
        for ((i = 0; i < 200; i++)); do
                p=$((10000 + (RANDOM * 32768 + RANDOM) % 50000))
                ((p >= lo && p <= hi)) && continue
                [[ " $* " == *" $p "* ]] && continue
                [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] || continue
                echo "$p"
                return 0
        done
        return 1
}

_kube_diag_log() {
        echo "# $1 (last lines of $2):"
        tail -n "${3:-15}" "$2" 2>/dev/null | sed 's/^/#   /'
}

# Wait (bounded) until PID is gone; KILL it after SECS; reap it if it is our child.
_kube_kill() {
        local pid=$1 sig=${2:-TERM} secs=${3:-10} i
        [ -n "$pid" ] || return 0
        kill -"$sig" "$pid" 2>/dev/null
        for ((i = 0; i < secs * 20; i++)); do
                _kube_alive "$pid" || break
                sleep 0.05
        done
        if _kube_alive "$pid"; then
                echo "# kube: pid $pid ignored SIG$sig for $secs s, killing it"
                kill -KILL "$pid" 2>/dev/null
                for ((i = 0; i < 100; i++)); do
                        _kube_alive "$pid" || break
                        sleep 0.05
                done
        fi
        { wait "$pid"; } 2>/dev/null
        return 0
}

_kube_start_etcd() {
        local try cport pport i r
        for ((try = 0; try < 3; try++)); do
                cport=$(_kube_free_port) && pport=$(_kube_free_port "$cport") || return 1
                KUBE_ETCD_URL=http://127.0.0.1:$cport
                rm -rf "$KUBE_DIR/etcd"
                "$KUBE_ETCD" --name default --data-dir "$KUBE_DIR/etcd" \
                        --listen-client-urls "$KUBE_ETCD_URL" --advertise-client-urls "$KUBE_ETCD_URL" \
                        --listen-peer-urls "http://127.0.0.1:$pport" \
                        --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
                        --initial-cluster "default=http://127.0.0.1:$pport" \
                        </dev/null >>"$KUBE_DIR/etcd.log" 2>&1 &
                KUBE_ETCD_PID=$!
                KUBE_PIDS+=("$KUBE_ETCD_PID")
                for ((i = 0; i < 200; i++)); do
                        if curl -sf --max-time 1 "$KUBE_ETCD_URL/health" 2>/dev/null |
                                grep -q '"health":"true"'; then
                                return 0
                        fi
                        _kube_alive "$KUBE_ETCD_PID" || break
                        sleep 0.05
                done
                if ! _kube_alive "$KUBE_ETCD_PID" && grep -q 'address already in use' "$KUBE_DIR/etcd.log"; then
                        echo "# kube: etcd lost a port race ($cport/$pport), retrying"
                        _kube_kill "$KUBE_ETCD_PID"
                        continue
                fi
                _kube_alive "$KUBE_ETCD_PID" && r="was not healthy within 10 s" || r=exited
                _kube_diag_log "etcd $r" "$KUBE_DIR/etcd.log"
                return 1
        done
        echo "# kube: etcd found no free port in 3 tries"
        return 1
}

# Start kube-apiserver on KUBE_API_PORT and wait until /readyz is ok. Returns 2 when the
# port was taken meanwhile (kube_start then picks another), 1 on any other failure.
kube_start_apiserver() {
        local d=$KUBE_DIR i t0 r log=$KUBE_DIR/apiserver.log
        [ -n "$d" ] && [ -n "$KUBE_API_PORT" ] || return 1
        if _kube_alive "$KUBE_APISERVER_PID"; then
                echo "# kube: kube-apiserver already runs (pid $KUBE_APISERVER_PID)"
                return 1
        fi
        echo "=== start $(date -u +%FT%T.%NZ)" >>"$log"
        t0=$(_kube_now_ms)
        # shellcheck disable=SC2086 # KUBE_APISERVER_FLAGS is a list of words
        "$KUBE_APISERVER" --etcd-servers="$KUBE_ETCD_URL" --bind-address=127.0.0.1 \
                --secure-port="$KUBE_API_PORT" --advertise-address=127.0.0.1 \
                --cert-dir="$d/serving" --service-account-key-file="$d/sa.pub" \
                --service-account-signing-key-file="$d/sa.key" \
                --service-account-issuer=https://kubernetes.default.svc \
                --token-auth-file="$d/tokens.csv" --authorization-mode=RBAC \
                --service-cluster-ip-range="$KUBE_SERVICE_CIDR" \
                ${KUBE_APISERVER_FLAGS:-} </dev/null >>"$log" 2>&1 &
        KUBE_APISERVER_PID=$!
        KUBE_PIDS+=("$KUBE_APISERVER_PID")
        for ((i = 0; i < ${KUBE_START_S:-60} * 10; i++)); do
                if [ -s "$KUBE_CA" ]; then
                        r=$(curl -s --max-time 2 --cacert "$KUBE_CA" \
                                -H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_SERVER/readyz" 2>/dev/null)
                        if [ "$r" = ok ]; then
                                # shellcheck disable=SC2034 # for the caller
                                KUBE_START_MS=$(($(_kube_now_ms) - t0))
                                return 0
                        fi
                fi
                _kube_alive "$KUBE_APISERVER_PID" || break
                sleep 0.1
        done
        if ! _kube_alive "$KUBE_APISERVER_PID" &&
                tail -n 20 "$log" | grep -q 'address already in use'; then
                _kube_kill "$KUBE_APISERVER_PID"
                KUBE_APISERVER_PID=
                return 2
        fi
        if _kube_alive "$KUBE_APISERVER_PID"; then
                _kube_diag_log "kube-apiserver was not ready within ${KUBE_START_S:-60} s" "$log"
        else
                _kube_diag_log "kube-apiserver exited" "$log"
        fi
        return 1
}

kube_stop_apiserver() {
        _kube_kill "$KUBE_APISERVER_PID" "${1:-TERM}"
        KUBE_APISERVER_PID=
}

kube_restart_apiserver() {
        kube_stop_apiserver "$@"
        kube_start_apiserver
}

_kube_write_kubeconfig() {
        local file=$1 user=$2 token=$3 ca=${4:-$KUBE_CA}
        (umask 077 && cat >"$file") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube
  cluster:
    server: $KUBE_SERVER
    certificate-authority: $ca
users:
- name: $user
  user:
    token: $token
contexts:
- name: $user@kube
  context:
    cluster: kube
    user: $user
current-context: $user@kube
EOF
}

kube_start() {
        local d=${1:-} try r
        if [ -n "$KUBE_DIR" ]; then
                echo "# kube: already started in $KUBE_DIR"
                return 1
        fi
        [ -n "$KUBE_APISERVER" ] || kube_find_bins || {
                echo "# kube: $KUBE_MISSING"
                return 1
        }
        if [ -z "$d" ]; then
                d=$(mktemp -d "${TMPDIR:-/tmp}/mlbdk-$$.XXXXXX") || return 1
        fi
        mkdir -p "$d" && d=$(cd "$d" && pwd) || return 1
        KUBE_DIR=$d
        export KUBECACHEDIR=$d/kubectl-cache
        KUBE_CA=$d/serving/apiserver.crt
        rm -rf "$d/serving" # a certificate left in DIR by an earlier run is not this run's
        KUBE_TOKEN=$(openssl rand -hex 16) || return 1
        echo "$KUBE_TOKEN,admin,admin-uid,system:masters" >"$d/tokens.csv"
        if ! openssl genrsa -out "$d/sa.key" 2048 2>/dev/null ||
                ! openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null; then
                echo "# kube: openssl could not make the service account keys"
                return 1
        fi
        _kube_start_etcd || return 1
        for ((try = 0; try < 3; try++)); do
                KUBE_API_PORT=$(_kube_free_port "${KUBE_ETCD_URL##*:}") || return 1
                KUBE_SERVER=https://127.0.0.1:$KUBE_API_PORT
                kube_start_apiserver
                r=$?
                [ "$r" -eq 2 ] || break
                echo "# kube: kube-apiserver lost a port race ($KUBE_API_PORT), retrying"
        done
        [ "$r" -eq 0 ] || return 1
        _kube_write_kubeconfig "$d/admin.kubeconfig" admin "$KUBE_TOKEN" || return 1
        export KUBECONFIG=$d/admin.kubeconfig
        if [ -n "$KUBE_CONTROLLER_MANAGER" ]; then
                "$KUBE_CONTROLLER_MANAGER" --kubeconfig="$d/admin.kubeconfig" \
                        --service-account-private-key-file="$d/sa.key" --root-ca-file="$KUBE_CA" \
                        --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
                        --use-service-account-credentials=false \
                        --controllers="$KUBE_CONTROLLERS" \
                        </dev/null >>"$d/controller-manager.log" 2>&1 &
                KUBE_CM_PID=$!
                KUBE_PIDS+=("$KUBE_CM_PID")
        else
                echo "# kube: no kube-controller-manager beside kube-apiserver; no default ServiceAccounts, no garbage collection"
        fi
        return 0
}

kube_stop() {
        local pid keep=
        # TERM all at once (their shutdowns overlap), then reap each.
        for pid in "${KUBE_PIDS[@]}"; do
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in "${KUBE_PIDS[@]}"; do
                _kube_kill "$pid" TERM 10
        done
        KUBE_PIDS=()
        KUBE_ETCD_PID='' KUBE_APISERVER_PID='' KUBE_CM_PID=''
        if [ -n "$KUBE_DIR" ]; then
                if [ "${TAP_FAILED:-0}" -gt 0 ] && [ -n "${KUBE_KEEP_ON_FAILURE:-}" ]; then
                        echo "# kept $KUBE_DIR (KUBE_KEEP_ON_FAILURE)"
                        keep=1
                fi
                [ -n "$keep" ] || rm -rf "$KUBE_DIR"
                [ "${KUBECONFIG:-}" != "$KUBE_DIR/admin.kubeconfig" ] || unset KUBECONFIG
                KUBE_DIR=
        fi
        return 0
}

kube_etcdctl() {
        ETCDCTL_API=3 etcdctl --endpoints="$KUBE_ETCD_URL" "$@"
}

kube_compact() {
        KUBE_COMPACTED=$(kube_etcdctl endpoint status -w json |
                python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])') &&
                kube_etcdctl compact "$KUBE_COMPACTED" >/dev/null
}

kube_audit() {
        python3 - "$@" <<'PYEOF'
import json, sys
log, verbs, stage = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
resource = sys.argv[4] if len(sys.argv) > 4 else None
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    o = e.get("objectRef") or {}
    if (e.get("userAgent", "").startswith("mlbd-bridge") and e.get("verb") in verbs
            and e.get("stage") == stage
            and (resource is None or (o.get("resource") == resource and not o.get("namespace")))):
        print(e.get("verb"), e.get("requestURI"))
PYEOF
}

_kube_rss_mb() {
        local kb
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
        echo $((${kb:-0} / 1024))
}

kube_rss() {
        echo "etcd $(_kube_rss_mb "$KUBE_ETCD_PID") MB, kube-apiserver $(_kube_rss_mb "$KUBE_APISERVER_PID") MB, kube-controller-manager $(_kube_rss_mb "$KUBE_CM_PID") MB"
}

kube_node() {
        local name=$1 ips=$2 ready=Ready=True labels addrs="" ip kv now
        shift 2
        case ${1:-} in
        Ready=True | Ready=False)
                ready=$1
                shift
                ;;
        Ready=*)
                echo "kube_node: want Ready=True or Ready=False, not '$1'" >&2
                return 1
                ;;
        esac
        labels="\"kubernetes.io/hostname\":\"$name\""
        for kv in "$@"; do
                [[ $kv == *=* ]] || {
                        echo "kube_node: label '$kv' is not KEY=VALUE" >&2
                        return 1
                }
                labels+=",\"${kv%%=*}\":\"${kv#*=}\""
        done
        for ip in ${ips//,/ }; do
                kube_doc_addr "$ip" || {
                        echo "kube_node: $ip is not a documentation address" >&2
                        return 1
                }
                addrs+="{\"type\":\"InternalIP\",\"address\":\"$ip\"},"
        done
        addrs+="{\"type\":\"Hostname\",\"address\":\"$name\"}"
        now=$(date -u +%FT%TZ)
        "$KUBECTL" apply -f - >/dev/null <<EOF || return 1
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$name","labels":{$labels}}}
EOF
        local reason=KubeletReady msg="kubelet is posting ready status"
        [ "$ready" = Ready=True ] || {
                reason=KubeletNotReady
                msg="container runtime network not ready"
        }
        "$KUBECTL" patch node "$name" --subresource=status --type=merge -p \
                "{\"status\":{\"addresses\":[$addrs],\"conditions\":[{\"type\":\"Ready\",\"status\":\"${ready#Ready=}\",\"reason\":\"$reason\",\"message\":\"$msg\",\"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" \
                >/dev/null
}

kube_endpointslice() {
        local ns=$1 name=$2 svc=$3 nodes=$4 ready=${5:-ready=true} family=${6:-IPv4}
        local eps="" node n addr owner="" uid
        case $ready in
        ready=true | ready=false) ready=${ready#ready=} ;;
        *)
                echo "kube_endpointslice: want ready=true or ready=false, not '$ready'" >&2
                return 1
                ;;
        esac
        for node in ${nodes//,/ }; do
                # An address fixed by NS/NAME/NODE, so an update keeps each endpoint's.
                n=$(printf '%s' "$ns/$name/$node" | cksum | cut -d' ' -f1)
                case $family in
                IPv4) addr=198.51.100.$((n % 250 + 1)) ;;
                IPv6) addr=$(printf '2001:db8:100::%x' $((n % 65535 + 1))) ;;
                *)
                        echo "kube_endpointslice: want IPv4 or IPv6, not '$family'" >&2
                        return 1
                        ;;
                esac
                [ -z "$eps" ] || eps+=","
                eps+="{\"addresses\":[\"$addr\"],\"conditions\":{\"ready\":$ready,\"serving\":$ready,\"terminating\":false},\"nodeName\":\"$node\"}"
        done
        # The controller's slices belong to their Service (the garbage collector would
        # delete a slice whose owner is missing, so no reference without a Service).
        if uid=$("$KUBECTL" get service -n "$ns" "$svc" -o 'jsonpath={.metadata.uid}' 2>/dev/null) &&
                [ -n "$uid" ]; then
                owner=",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"name\":\"$svc\",\"uid\":\"$uid\",\"controller\":true,\"blockOwnerDeletion\":true}]"
        fi
        "$KUBECTL" apply -f - >/dev/null <<EOF
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
 "metadata":{"namespace":"$ns","name":"$name",
  "labels":{"kubernetes.io/service-name":"$svc","endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"}$owner},
 "addressType":"$family","endpoints":[$eps],
 "ports":[{"name":"","protocol":"TCP","port":$KUBE_EP_PORT}]}
EOF
}

kube_sa_kubeconfig() {
        local ns=$1 sa=$2 file=$3 token
        "$KUBECTL" get namespace "$ns" >/dev/null 2>&1 ||
                "$KUBECTL" create namespace "$ns" >/dev/null || return 1
        "$KUBECTL" get serviceaccount -n "$ns" "$sa" >/dev/null 2>&1 ||
                "$KUBECTL" create serviceaccount -n "$ns" "$sa" >/dev/null || return 1
        token=$("$KUBECTL" create token -n "$ns" "$sa" --duration="${KUBE_TOKEN_DURATION:-1h}") &&
                [ -n "$token" ] || return 1
        _kube_write_kubeconfig "$file" "system:serviceaccount:$ns:$sa" "$token"
}

k() { kubectl "$@" 2>&1 | grep -v '^WARNING: version difference'; }
