#!/bin/bash
# SPDX-License-Identifier: MIT
# Which interface an address goes on, from the pools file: a MetalLB L2Advertisement's
# `interfaces` wins over the subnet rule (192.0.2.160 lands on lan1 although eth0 holds
# 192.0.2.0/24); the first listed interface that exists is used; when none of them exists
# on this node the address is refused with the reason and announced nowhere. Without
# `interfaces` the subnet rule picks eth0. Not for good: once an interface of that name
# appears and comes up, the address goes on it. An interface deleted and made anew (a
# VLAN or bond rebuilt) gets its address back; while it is gone mlbd does not claim it.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
# a second interface on node1 (a veth pair kept inside it: no dummy module here)
lan_exec node1 ip link add lan1 type veth peer name lan1p
lan_exec node1 ip link set lan1 up
lan_exec node1 ip link set lan1p up
daemon_conf "$tmp" node1
cat >"$tmp/pools.yaml" <<YAML
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: plain, namespace: metallb-system}
spec: {addresses: [192.0.2.150-192.0.2.159]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: onlan1, namespace: metallb-system}
spec: {addresses: [192.0.2.160-192.0.2.169], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: nowhere, namespace: metallb-system}
spec: {addresses: [192.0.2.170-192.0.2.179], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2plain, namespace: metallb-system}
spec: {ipAddressPools: [plain]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2lan1, namespace: metallb-system}
spec: {ipAddressPools: [onlan1], interfaces: [eth7, lan1]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2nowhere, namespace: metallb-system}
spec: {ipAddressPools: [nowhere], interfaces: [eth9]}
YAML
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
svc() { # NAME POOL
        printf '{"metadata":{"namespace":"demo","name":"%s","uid":"u-%s","annotations":{"metallb.io/address-pool":"%s"}},"spec":{"type":"LoadBalancer","ports":[{"protocol":"TCP","port":80}]}}' "$1" "$1" "$2"
}
on_dev() { # DEV ADDR: the address is on DEV of node1 (bounded wait, 5 s)
        local i
        for ((i = 0; i < 50; i++)); do
                lan_exec node1 ip -o addr show dev "$1" | grep -q " $2/" && return 0
                sleep 0.1
        done
        return 1
}

out=$(daemon_session "$tmp" '"node_assigned".*demo/a' "$(upsert_msg 3 "$(svc a plain)")")
tap_diag "$out"
tap_ok "pool plain (no interfaces): 192.0.2.150 on eth0 (subnet rule)" on_dev eth0 192.0.2.150
out=$(daemon_session "$tmp" '"node_assigned".*demo/b' "$(upsert_msg 4 "$(svc b onlan1)")")
tap_diag "$out"
tap_ok "pool onlan1 (interfaces: eth7, lan1): 192.0.2.160 on lan1" on_dev lan1 192.0.2.160
tap_ok "and not on eth0" not host_has_addr node1 192.0.2.160
out=$(daemon_session "$tmp" '"(allocation_failed|node_assigned)".*demo/c' "$(upsert_msg 5 "$(svc c nowhere)")")
tap_diag "$out"
tap_ok "pool nowhere (interfaces: eth9, absent here): allocation_failed" \
        grep -q '"op": *"allocation_failed".*demo/c' <<<"$out"
tap_ok "naming the missing interface" grep -q 'no interface to announce 192.0.2.170 on' <<<"$out"
sleep 0.3
tap_ok "192.0.2.170 is on no interface of node1" not host_has_addr_any node1 192.0.2.170
owned() { json_get "$(daemon_status "$tmp")" '" ".join(j["owned"])'; }

# eth9 turns up late (an interface not yet there at boot): the address follows
lan_exec node1 ip link add eth9 type veth peer name eth9p
lan_exec node1 ip link set eth9p up
lan_exec node1 ip link set eth9 up
tap_ok "once eth9 exists and is up, 192.0.2.170 goes on it" on_dev eth9 192.0.2.170
tap_ok "status: owned" grep -q '192\.0\.2\.170' <<<"$(owned)"

# lan1 deleted and made anew: 192.0.2.160 is not claimed while lan1 is gone, and is back
# on the new lan1 (another ifindex) once it is up
lan_exec node1 ip link del lan1
for ((i = 0; i < 30; i++)); do grep -q '192\.0\.2\.160' <<<"$(owned)" || break; sleep 0.1; done
tap_ok "while lan1 is gone, 192.0.2.160 is not owned (heartbeats stop claiming it)" \
        not grep -q '192\.0\.2\.160' <<<"$(owned)"
lan_exec node1 ip link add lan1 type veth peer name lan1p
lan_exec node1 ip link set lan1p up
lan_exec node1 ip link set lan1 up
tap_ok "lan1 made anew: 192.0.2.160 is on it again" on_dev lan1 192.0.2.160
tap_ok "status: owned again" grep -q '192\.0\.2\.160' <<<"$(owned)"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
