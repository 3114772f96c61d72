#!/bin/bash
# SPDX-License-Identifier: MIT
# The 409 path of a status write, forced: status-tool gives status.c a cached Service whose
# resourceVersion is stale, then an `allocated`; the API server answers the PATCH with 409
# Conflict, status.c reads the Service again and writes; the status shows the address,
# and the Event IPAllocated is there.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/kube.sh"
kube_require
tmp=$(mktemp -d /tmp/mlbdt-conflict.XXXXXX)
trap 'kube_stop; rm -rf "$tmp"' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
TOOL=${top_builddir:-.}/tests/integration/status-tool
k create namespace demo >/dev/null
k -n demo create service loadbalancer web --tcp=80:80 >/dev/null
out=$("$TOOL" "$KUBE_SERVER" "$KUBE_CA" "$KUBE_TOKEN" demo web 192.0.2.150 2>"$tmp/tool.log")
rc=$?
tap_diag "$out"
tap_is "$rc" 0 "a status write from a stale cache ends with the status written"
tap_is "$out" "writes 2 conflicts 1" "one 409 Conflict, then the write after reading the Service again"
tap_is "$(kubectl -n demo get svc web -o jsonpath='{.status.loadBalancer.ingress[*].ip}' 2>/dev/null)" \
        "192.0.2.150" "the Service's status shows the address"
tap_ok "the bridge logged the write" grep -q 'demo/web: status.loadBalancer.ingress = \["192.0.2.150"\]' "$tmp/tool.log"
for ((i = 0; i < 50; i++)); do k describe svc -n demo web | grep -q IPAllocated && break; sleep 0.1; done
tap_ok "the Event IPAllocated follows" bash -c 'kubectl describe svc -n demo web 2>/dev/null | grep -q "IPAllocated"'
tap_done
