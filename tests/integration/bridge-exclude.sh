#!/bin/bash
# SPDX-License-Identifier: MIT
# Node exclusion (issue 12 item 8, spec.md "Service semantics") against a real control
# plane (kube.sh): three nodes with mlbd and a bridge, four LoadBalancer Services, a client
# sending to every address every 10 ms through its neighbour cache. The label
# node.kubernetes.io/exclude-from-external-load-balancers on an owner hands its addresses
# to the others make before break (not one request lost) and the condition
# mlbd.io/Announced follows; without the label they come back, again without a loss. The
# condition NetworkUnavailable=True does the same. During an API server outage while a
# node is excluded nothing moves (the last Node state seen holds), and after it the node
# is still excluded. With exclude_not_ready = true (mlbd.conf), a Node that is not Ready
# hands over too. (ignore_exclude_lb: tests/unit/test-ownership.)
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
. "$(dirname "$0")/../lib/client.sh"
lan_require_root curl
kube_require

LABEL=node.kubernetes.io/exclude-from-external-load-balancers
NODES=(node1 node2 node3)
lan_setup "${NODES[@]}" client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap 'bridge_stop_all; kube_stop; lan_cleanup' EXIT
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
k create namespace mlbd-system >/dev/null
k create namespace demo >/dev/null
i=1
for n in "${NODES[@]}"; do kube_node "$n" "192.0.2.$i" >/dev/null || { echo "Bail out! node $n"; exit 1; }; i=$((i + 1)); done
export DAEMON_KEY=$tmp/cluster.key
for n in "${NODES[@]}"; do
        daemon_conf "$tmp/$n" "$n" "" || { echo "Bail out! config"; exit 1; }
        sed -i '/^key_file = /a exclude_not_ready = true' "$tmp/$n/mlbd.conf"
        daemon_start "$n" "$tmp/$n" || { echo "Bail out! mlbd on $n"; exit 1; }
        client_serve "$n" "$n"
        bridge_start "$n" "$tmp/$n"
done
for n in "${NODES[@]}"; do
        tap_ok "bridge on $n syncs its mlbd" bridge_wait_log "$tmp/$n" 'synced with the API server' 30
done
SVCS=(a b c d e f)
for s in "${SVCS[@]}"; do
        printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"demo"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"port":80}]}}\n' "$s" "$s"
done | k create -f - >/dev/null
declare -A IP
for s in "${SVCS[@]}"; do IP[$s]=$(wait_svc_ip demo "$s" 30); done
holder() { local n; for n in "${NODES[@]}"; do host_has_addr "$n" "$1" && echo "$n"; done | tr '\n' ' ' | sed 's/ $//'; }
one_holder() { local h; h=$(holder "$1"); [ -n "$h" ] && [ "$h" = "${h// /}" ]; }
all_held() { local s; for s in "${SVCS[@]}"; do one_holder "${IP[$s]}" || return 1; done; }
tap_ok "every Service has an address, each held by one node" wait_for 20 all_held
owners() { local s; for s in "${SVCS[@]}"; do printf '%s=%s ' "${IP[$s]}" "$(holder "${IP[$s]}")"; done; }
holds_none() { local s; for s in "${SVCS[@]}"; do [ "$(holder "${IP[$s]}")" != "$1" ] || return 1; done; }
before=$(owners)
tap_diag "owners: $before"
victim=$(holder "${IP[a]}")
cond_node() { kubectl get svc -n demo "$1" -o jsonpath='{.status.conditions[?(@.type=="mlbd.io/Announced")].message}' 2>/dev/null | sed -n 's/.*announced by node "\([^"]*\)".*/\1/p'; }
conds_follow() { local s; for s in "${SVCS[@]}"; do [ "$(cond_node "$s")" = "$(holder "${IP[$s]}")" ] || return 1; done; }
client_run() { # OUT MS
        lan_exec client ip neigh flush dev eth0
        client_start client "$tmp/$1.client" "$2" "${IP[@]}"
        sleep 0.5
}
judge() { # OUT WHAT
        local sum=0 s l
        client_wait "$CLIENT_PID" 60
        client_report "$tmp/$1.client"
        for s in "${SVCS[@]}"; do
                l=$(client_field "$tmp/$1.client" "${IP[$s]}" lost)
                sum=$((sum + ${l:-99999}))
        done
        tap_is "$sum" 0 "$2: not one request lost on ${#SVCS[@]} addresses"
}

# 1. The label.
client_run label 12000
k label node "$victim" "$LABEL=" >/dev/null
tap_ok "with $LABEL, $victim holds none of the addresses" wait_for 10 holds_none "$victim"
tap_ok "every address is held by one other node" wait_for 10 all_held
tap_diag "owners: $(owners)"
tap_ok "the condition mlbd.io/Announced names the new holders" wait_for 15 conds_follow
judge label "handing over for the label"
client_run unlabel 10000
k label node "$victim" "$LABEL-" >/dev/null
back() { [ "$(owners)" = "$before" ]; }
tap_ok "without the label, $victim takes its addresses back" wait_for 10 back
judge unlabel "taking them back"
tap_ok "and the condition follows" wait_for 15 conds_follow

# 2. NetworkUnavailable=True, then an API server outage while the node is excluded.
victim=$(holder "${IP[b]}")
netunavail() { # NODE True|False
        k patch node "$1" --subresource=status --type=strategic -p \
                "{\"status\":{\"conditions\":[{\"type\":\"NetworkUnavailable\",\"status\":\"$2\",\"reason\":\"Test\",\"message\":\"test\",\"lastTransitionTime\":\"$(date -u +%FT%TZ)\"}]}}" >/dev/null
}
client_run netunavail 30000
netunavail "$victim" True
tap_ok "with NetworkUnavailable=True, $victim holds none of the addresses" wait_for 10 holds_none "$victim"
tap_ok "every address is held by one other node" wait_for 10 all_held
excluded=$(owners)
tap_diag "owners: $excluded"
kube_stop_apiserver KILL
sleep 10
tap_is "$(owners)" "$excluded" "during a 10 s API outage nothing moves ($victim stays excluded)"
kube_start_apiserver || { echo "Bail out! kube-apiserver did not come back"; exit 1; }
sleep 5
tap_is "$(owners)" "$excluded" "after it, $victim is still excluded"
judge netunavail "NetworkUnavailable and the outage"
client_run netavail 10000
netunavail "$victim" False
tap_ok "NetworkUnavailable=False: $victim takes its addresses back" wait_for 10 back
judge netavail "taking them back"

# 3. exclude_not_ready = true: a Node that is not Ready.
victim=$(holder "${IP[c]}")
vip=192.0.2.${victim#node}
client_run notready 12000
kube_node "$victim" "$vip" Ready=False >/dev/null
tap_ok "with exclude_not_ready, $victim (Ready=False) holds none of the addresses" wait_for 10 holds_none "$victim"
tap_ok "every address is held by one other node" wait_for 10 all_held
judge notready "handing over for NotReady"
client_run ready 10000
kube_node "$victim" "$vip" Ready=True >/dev/null
tap_ok "Ready again: $victim takes its addresses back" wait_for 10 back
judge ready "taking them back"
for n in "${NODES[@]}"; do tap_ok "bridge on $n still running" kill -0 "${BRIDGE_PID[$n]}"; done
tap_done
