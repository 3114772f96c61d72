#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd-bridge's kubeconfig credentials against a real control plane (kube.sh) with
# --client-ca-file and an audit log, and one mlbd on a namespace LAN: client certificates
# as file paths and as -data (with certificate-authority-data) reach "synced with the API
# server" as user mlbd-bridge-cert; a certificate of another CA gets 401, said clearly,
# retried, no crash; tokenFile works; a wrong certificate-authority never syncs, says the
# TLS verification error once (not once per retry) and never falls back to insecure (no
# request reaches the API server); insecure-skip-tls-verify works and warns.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root openssl jq base64
kube_require

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
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
trap 'stop_bridge; kube_stop; lan_cleanup' EXIT

# ---- certificates (before kube_start: the API server reads --client-ca-file at start)
pki=$tmp/pki
mkdir -p "$pki"
printf 'extendedKeyUsage=clientAuth\n' >"$pki/client.ext"
mkcert() { # NAME SUBJECT CA: a client certificate NAME.crt/NAME.key signed by CA
        openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -subj "$2" \
                -out "$pki/$1.csr" 2>/dev/null &&
                openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$3.crt" -CAkey "$pki/$3.key" \
                        -CAcreateserial -days 1 -extfile "$pki/client.ext" -out "$pki/$1.crt" 2>/dev/null
}
for ca in ca otherca wrongca; do
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$pki/$ca.key" \
                -subj "/CN=mlbd-test-$ca" -out "$pki/$ca.crt" 2>/dev/null ||
                { echo "Bail out! openssl $ca"; exit 1; }
done
mkcert client "/O=system:masters/CN=mlbd-bridge-cert" ca &&
        mkcert rogue "/O=system:masters/CN=mlbd-bridge-rogue" otherca ||
        { echo "Bail out! openssl client certificates"; exit 1; }

cat >"$tmp/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
EOF
audit=$tmp/audit.log
# shellcheck disable=SC2034 # read by kube_start
KUBE_APISERVER_FLAGS="--client-ca-file=$pki/ca.crt --audit-policy-file=$tmp/audit-policy.yaml --audit-log-path=$audit --audit-log-mode=blocking"
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
kubectl create namespace mlbd-system >/dev/null 2>&1
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
daemon_conf "$tmp/node1" node1 || { echo "Bail out! config"; exit 1; }
daemon_start node1 "$tmp/node1" || { echo "Bail out! mlbd"; exit 1; }

# kubeconfig FILE CLUSTER-LINES USER-LINES
kubeconfig() {
        cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube
  cluster:
    server: $KUBE_SERVER
$2
users:
- name: u
  user:
$3
contexts:
- name: u@kube
  context: {cluster: kube, user: u}
current-context: u@kube
EOF
}
b64() { base64 -w0 <"$1"; }
kubeconfig "$tmp/cert-files.kubeconfig" "    certificate-authority: $KUBE_CA" \
        "    client-certificate: $pki/client.crt
    client-key: $pki/client.key"
kubeconfig "$tmp/cert-data.kubeconfig" "    certificate-authority-data: $(b64 "$KUBE_CA")" \
        "    client-certificate-data: $(b64 "$pki/client.crt")
    client-key-data: $(b64 "$pki/client.key")"
kubeconfig "$tmp/rogue.kubeconfig" "    certificate-authority: $KUBE_CA" \
        "    client-certificate: $pki/rogue.crt
    client-key: $pki/rogue.key"
printf '%s\n' "$KUBE_TOKEN" >"$tmp/token"
kubeconfig "$tmp/token-file.kubeconfig" "    certificate-authority: $KUBE_CA" \
        "    tokenFile: $tmp/token"
kubeconfig "$tmp/wrong-ca.kubeconfig" "    certificate-authority: $pki/wrongca.crt" \
        "    token: $KUBE_TOKEN"
kubeconfig "$tmp/insecure.kubeconfig" "    insecure-skip-tls-verify: true" \
        "    token: $KUBE_TOKEN"

# run NAME: a bridge with $tmp/NAME.kubeconfig, logging (info) to $tmp/NAME.log; the audit
# log's length before it in AUDIT0
run() {
        AUDIT0=$(wc -l <"$audit")
        "$BRIDGE" --kubeconfig "$tmp/$1.kubeconfig" --node-name node1 \
                --socket "$tmp/node1/mlbd.sock" --lease-namespace mlbd-system \
                --lease-duration 4 --renew-deadline 3 --retry-period 0.5 --log-level info \
                --listen 127.0.0.1:0 >"$tmp/$1.log" 2>&1 &
        BPID=$!
}
wait_log() { # NAME PATTERN SECONDS
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                grep -Eq "$2" "$tmp/$1.log" && return 0
                kill -0 "$BPID" 2>/dev/null || return 1
                sleep 0.1
        done
        return 1
}
# the audit events since AUDIT0 of the bridge (its User-Agent) as USER CODE lines
audit_new() {
        tail -n +$((AUDIT0 + 1)) "$audit" |
                jq -r 'select(.userAgent | startswith("mlbd-bridge/")) | "\(.user.username // "-") \(.responseStatus.code // 0)"'
}
# tap_ok DESC CMD..., with the tail of $tmp/NAME.log when it fails
ok_or_log() {
        local name=$1 failed=$TAP_FAILED
        shift
        tap_ok "$@"
        [ "$TAP_FAILED" -eq "$failed" ] || tap_diag "$name.log:
$(tail -n 15 "$tmp/$name.log")"
}
synced='synced with the API server: '

# ---- 1. client certificates
for n in cert-files cert-data; do
        run $n
        ok_or_log $n "$n: the bridge syncs with a client certificate (${n/-/ })" wait_log $n "$synced" 20
        tap_ok "$n: the API server saw user mlbd-bridge-cert, answered 200" \
                bash -c '[ "$(grep -c "^mlbd-bridge-cert 200$" <<<"$1")" -ge 4 ]' _ "$(audit_new)"
        tap_ok "$n: and no request as anyone else" \
                bash -c '! grep -qv "^mlbd-bridge-cert " <<<"$1"' _ "$(audit_new)"
        stop_bridge
done

run rogue
ok_or_log rogue "rogue: a certificate of another CA: the bridge logs HTTP 401 Unauthorized" \
        wait_log rogue 'informer [A-Za-z]+: list: HTTP 401: Unauthorized; retrying' 15
n1=$(audit_new | grep -c ' 401$')
sleep 3
n2=$(audit_new | grep -c ' 401$')
tap_ok "rogue: it keeps retrying ($n1 then $n2 requests answered 401)" [ "$n2" -gt "$n1" ]
tap_ok "rogue: it is still running" kill -0 "$BPID"
tap_ok "rogue: never synced" not grep -q "$synced" "$tmp/rogue.log"
tap_is "$(audit_new | grep -cv ' 401$')" 0 "rogue: every request of it was answered 401"
stop_bridge

# ---- 2. tokenFile
run token-file
ok_or_log token-file "token-file: the bridge syncs with tokenFile" wait_log token-file "$synced" 20
tap_ok "token-file: the API server saw user admin, answered 200" \
        bash -c '[ "$(grep -c "^admin 200$" <<<"$1")" -ge 4 ]' _ "$(audit_new)"
stop_bridge

# ---- 3. a wrong certificate authority
run wrong-ca
ok_or_log wrong-ca "wrong-ca: the bridge logs the TLS verification error" \
        wait_log wrong-ca 'SSL certificate problem' 10
sleep 1
e1=$(grep -c 'SSL certificate problem' "$tmp/wrong-ca.log")
w1=$(grep -c '^<[0-4]>' "$tmp/wrong-ca.log")
sleep 3
e2=$(grep -c 'SSL certificate problem' "$tmp/wrong-ca.log")
w2=$(grep -c '^<[0-4]>' "$tmp/wrong-ca.log")
tap_diag "$(grep -m1 'SSL certificate problem' "$tmp/wrong-ca.log")"
tap_ok "wrong-ca: said once, not once per retry ($e1 lines, then $e2 after 3 s of retries)" \
        [ "$e1" -eq "$e2" -a "$e2" -le 4 ]
tap_is "$w2" "$w1" "wrong-ca: no warning at all repeats at every retry"
tap_ok "wrong-ca: still running" kill -0 "$BPID"
tap_ok "wrong-ca: never synced" not grep -q "$synced" "$tmp/wrong-ca.log"
tap_is "$(audit_new | wc -l)" 0 "wrong-ca: no request reached the API server (no insecure fallback)"
tap_ok "wrong-ca: no insecure warning" not grep -q 'insecure-skip-tls-verify' "$tmp/wrong-ca.log"
stop_bridge

# ---- 4. insecure-skip-tls-verify
run insecure
tap_ok "insecure: the bridge warns that TLS verification is off" \
        wait_log insecure "TLS verification of $KUBE_SERVER is off \(insecure-skip-tls-verify\)" 5
ok_or_log insecure "insecure: and syncs without a CA" wait_log insecure "$synced" 20
stop_bridge

tap_ok "mlbd ran throughout" kill -0 "$DAEMON_PID"
tap_done
