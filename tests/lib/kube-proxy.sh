# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# kube-proxy.sh: tests/lib/kube-proxy.py between a bridge and the real kube-apiserver of
# kube.sh, to inject failures the API server does not make on demand (429/500 with
# Retry-After, 401, a watch cut mid-chunk, the API server out of reach for one bridge
# while the others and kubectl still reach it). Functions only; source after kube.sh and
# after kube_start.
#
#   kproxy_start NAME DIR          make (once per DIR) a CA and a certificate for 127.0.0.1,
#                                  start a proxy logging to DIR/proxy.log, controlled by
#                                  DIR/proxy.ctl, and write DIR/proxy.kubeconfig: the proxy's
#                                  address and CA, the admin token (or, with
#                                  KPROXY_TOKEN_FILE set, tokenFile: that file). Sets
#                                  KPROXY_PID[NAME], KPROXY_PORT[NAME], KPROXY_DIR[NAME]
#   kproxy_ctl NAME COMMAND...     give the proxy a command (see kube-proxy.py): pass,
#                                  status CODE N [SECS|-] [RE], cut N [RE], down
#   kproxy_log NAME                the proxy's log (a path)
#   kproxy_stop_all                stop every proxy (by PID; for the EXIT trap)

KPROXY=${top_srcdir:-$(dirname "${BASH_SOURCE[0]}")/../..}/tests/lib/kube-proxy.py
declare -A KPROXY_PID KPROXY_PORT KPROXY_DIR
KPROXY_SEQ=0

_kproxy_certs() {
        local d=$1
        [ -s "$d/proxy.crt" ] && return 0
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$d/proxy-ca.key" \
                -subj "/CN=mlbd-test-proxy-ca" -out "$d/proxy-ca.crt" 2>/dev/null &&
                openssl req -new -newkey rsa:2048 -nodes -keyout "$d/proxy.key" \
                        -subj "/CN=127.0.0.1" -out "$d/proxy.csr" 2>/dev/null &&
                printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/proxy.ext" &&
                openssl x509 -req -in "$d/proxy.csr" -CA "$d/proxy-ca.crt" -CAkey "$d/proxy-ca.key" \
                        -CAcreateserial -days 1 -extfile "$d/proxy.ext" -out "$d/proxy.crt" 2>/dev/null
}

kproxy_start() {
        local name=$1 d=$2 i port user
        mkdir -p "$d" && _kproxy_certs "$d" || { echo "# kproxy: openssl failed"; return 1; }
        rm -f "$d/proxy.port"
        echo "0 pass" >"$d/proxy.ctl"
        "${PY:-/usr/bin/python3}" "$KPROXY" --port-file "$d/proxy.port" --cert "$d/proxy.crt" \
                --key "$d/proxy.key" --upstream "$KUBE_SERVER" --upstream-ca "$KUBE_CA" \
                --ctl "$d/proxy.ctl" --log "$d/proxy.log" </dev/null >>"$d/proxy.err" 2>&1 &
        KPROXY_PID[$name]=$!
        KPROXY_DIR[$name]=$d
        for ((i = 0; i < 100; i++)); do
                [ -s "$d/proxy.port" ] && break
                kill -0 "${KPROXY_PID[$name]}" 2>/dev/null || break
                sleep 0.05
        done
        read -r port <"$d/proxy.port" 2>/dev/null || {
                echo "# kproxy: $name did not start:"
                sed 's/^/#   /' "$d/proxy.err"
                return 1
        }
        KPROXY_PORT[$name]=$port
        if [ -n "${KPROXY_TOKEN_FILE:-}" ]; then
                user="    tokenFile: $KPROXY_TOKEN_FILE"
        else
                user="    token: $KUBE_TOKEN"
        fi
        (umask 077 && cat >"$d/proxy.kubeconfig") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: proxy
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $d/proxy-ca.crt
users:
- name: bridge
  user:
$user
contexts:
- name: bridge@proxy
  context: {cluster: proxy, user: bridge}
current-context: bridge@proxy
EOF
}

kproxy_ctl() {
        local name=$1
        shift
        KPROXY_SEQ=$((KPROXY_SEQ + 1))
        echo "$KPROXY_SEQ $*" >"${KPROXY_DIR[$name]}/proxy.ctl.tmp" &&
                mv "${KPROXY_DIR[$name]}/proxy.ctl.tmp" "${KPROXY_DIR[$name]}/proxy.ctl"
        sleep 0.2 # the proxy polls every 50 ms
}

kproxy_log() { echo "${KPROXY_DIR[$1]}/proxy.log"; }

kproxy_stop_all() {
        local n pid i
        for n in "${!KPROXY_PID[@]}"; do
                pid=${KPROXY_PID[$n]}
                kill -TERM "$pid" 2>/dev/null
                for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                unset "KPROXY_PID[$n]"
        done
}
