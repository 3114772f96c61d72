#!/bin/bash
# SPDX-License-Identifier: MIT
# The journal side of issue 14, under real systemd (booted with systemd-nspawn, mlbd run by
# the shipped systemd/mlbd.service, so its stderr is the journal): a peer's death, a takeover,
# a conflict, a foreign claim, a refused reload and a release are each logged with their
# stable MESSAGE_ID (docs/metrics.md) and the fields MLBD_ADDRESS / MLBD_PEER, so that
# `journalctl MESSAGE_ID=...` (and MLBD_ADDRESS=...) finds them.
#
# The LAN: node1 is the container (mlbd under systemd), node2 a plain mlbd in its own
# namespace (the peer that dies), client a host that uses an address mlbd wants (the
# conflict) and claims one mlbd holds (the foreign claim).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/nspawn.sh"
top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
top_builddir=${top_builddir:-.}
lan_require_root systemd-nspawn mmdebstrap nsenter unshare flock python3
[ -x "$top_builddir/mlbd" ] || { echo "Bail out! mlbd is not built"; exit 1; }

# MESSAGE_IDs, as docs/metrics.md lists them (the test reads them from the document)
mid() { sed -n "s/^| \`$1\` | \`\([0-9a-f]\{32\}\)\` |.*/\1/p" "$top_srcdir/docs/metrics.md"; }
for t in takeover release conflict foreign_claim reload_failed peer_death; do
        [ -n "$(mid $t)" ] || { echo "Bail out! docs/metrics.md lists no MESSAGE_ID for $t"; exit 1; }
done

lan_setup node1 node2 client || { echo "Bail out! lan_setup failed"; exit 1; }
trap 'nspawn_cleanup; lan_cleanup' EXIT
lan_tmpdir >/dev/null || { echo "Bail out! no scratch directory"; exit 1; }
tmp=$LAN_TMP
M=mlbdt-$$
PEERS="node1=192.0.2.1, node2=192.0.2.2"

nspawn_root_prepare "$tmp/c" || { echo "Bail out! cannot make the container root (mmdebstrap)"; exit 1; }
R=$NSPAWN_R
nspawn_install_build "$R" || { echo "Bail out! cannot install the build into the root"; exit 1; }
"$top_builddir/mlbd" --gen-key "$tmp/cluster.key" >/dev/null || { echo "Bail out! --gen-key"; exit 1; }
install -m 600 "$tmp/cluster.key" "$R/etc/mlbd/cluster.key"
cat >"$R/etc/mlbd/mlbd.conf" <<EOF
[mlbd]
node_name = node1
pools = /etc/mlbd/pools.yaml
socket = /run/mlbd/mlbd.sock
socket_group = mlbd
state_dir = /var/lib/mlbd
log_level = debug

[cluster]
key_file = /etc/mlbd/cluster.key
peers = $PEERS

[announce]
garp_count = 3
garp_interval_ms = 50
EOF
cat >"$R/etc/mlbd/pools.yaml" <<EOF
pools:
  - name: cheap
    addresses:
      - 192.0.2.150-192.0.2.200
EOF
cat >"$R/etc/systemd/system/mlbd.service.d/test.conf" <<EOF
[Service]
Environment=ASAN_OPTIONS=detect_leaks=0
EOF

# node2 first (so node1 hears it at once), with the same key
export DAEMON_KEY=$tmp/cluster.key
daemon_conf "$tmp/node2" node2 "$PEERS"
daemon_start node2 "$tmp/node2" || { echo "Bail out! mlbd on node2 did not start"; exit 1; }
PID2=$DAEMON_PID

nspawn_boot "$M" "$tmp/c" "$(lan_ns node1)" >/dev/null || { echo "Bail out! systemd did not boot"; exit 1; }
INIT=${NSPAWN_INIT[$M]}
X() { nspawn_exec "$M" "$@"; }
X chown mlbd:mlbd /etc/mlbd/cluster.key
X timeout 30 systemctl start mlbd.service
tap_ok "mlbd starts under systemd" test $? -eq 0
SOCK1=/proc/$INIT/root/run/mlbd
# jn ARGS...: the MESSAGEs of mlbd.service's journal entries matching ARGS (field matches)
jn() { X journalctl -q -o cat --no-pager -u mlbd.service "$@" 2>/dev/null; }
# jfield ID FIELD: the values of FIELD of the entries with MESSAGE_ID=ID
jfield() { X journalctl -q --no-pager -u mlbd.service -o export "MESSAGE_ID=$1" 2>/dev/null | sed -n "s/^$2=//p"; }
wait_j() { # MIN ARGS...: until at least MIN entries match (bounded, 10 s)
        local min=$1 i
        shift
        for ((i = 0; i < 100; i++)); do
                [ "$(jn "$@" | wc -l)" -ge "$min" ] && return 0
                sleep 0.1
        done
        return 1
}

svc() { # NAME UID IP
        printf '{"metadata":{"namespace":"demo","name":"%s","uid":"%s"},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"protocol":"TCP","port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"%s"}]}}}' "$1" "$2" "$1" "$3"
}
VIPS=(192.0.2.150 192.0.2.151 192.0.2.152 192.0.2.153)
msgs=()
k=0
for v in "${VIPS[@]}"; do
        k=$((k + 1))
        msgs+=("$(upsert_msg $((k + 10)) "$(svc "s$k" "u$k" "$v")")")
done
for d in "$SOCK1" "$tmp/node2"; do
        daemon_ctl "$d" --until '"id": *14' --timeout 5 "$TEST_HELLO" "${msgs[@]}" | grep -q '"id": *14' ||
                { echo "Bail out! upsert to $d failed"; exit 1; }
done
on2=()
for v in "${VIPS[@]}"; do
        for ((i = 0; i < 50; i++)); do
                { host_has_addr node1 "$v" || host_has_addr node2 "$v"; } && break
                sleep 0.1
        done
        host_has_addr node2 "$v" && on2+=("$v")
done
tap_diag "node2 holds: ${on2[*]:-nothing}"
tap_ok "node2 holds at least one address" test "${#on2[@]}" -ge 1

# --- peer death and takeover ---
kill -9 "$PID2"
tap_ok "peer_death logged with its MESSAGE_ID" wait_j 1 "MESSAGE_ID=$(mid peer_death)"
tap_is "$(jfield "$(mid peer_death)" MLBD_PEER)" node2 "and MLBD_PEER=node2"
tap_ok "takeover logged for each address node2 held (${#on2[@]})" wait_j "${#on2[@]}" "MESSAGE_ID=$(mid takeover)"
tap_ok "journalctl MESSAGE_ID=... MLBD_ADDRESS=${on2[0]} finds it" \
        wait_j 1 "MESSAGE_ID=$(mid takeover)" "MLBD_ADDRESS=${on2[0]}"
tap_ok "with MLBD_PEER=node2" wait_j 1 "MESSAGE_ID=$(mid takeover)" "MLBD_PEER=node2"
jn "MESSAGE_ID=$(mid takeover)" | sed 's/^/# journal: /'

# --- conflict: the client uses 192.0.2.170, which a Service asks for ---
lan_exec client ip addr add 192.0.2.170/32 dev eth0
clash='{"metadata":{"namespace":"demo","name":"clash","uid":"u9","annotations":{"metallb.universe.tf/loadBalancerIPs":"192.0.2.170"}},"spec":{"type":"LoadBalancer","selector":{"app":"x"},"ports":[{"protocol":"TCP","port":80}]}}'
daemon_session "$SOCK1" '"allocation_failed"' "$(upsert_msg 20 "$clash")" >/dev/null
tap_ok "conflict logged with its MESSAGE_ID and MLBD_ADDRESS=192.0.2.170" \
        wait_j 1 "MESSAGE_ID=$(mid conflict)" MLBD_ADDRESS=192.0.2.170
lan_exec client ip addr del 192.0.2.170/32 dev eth0

# --- foreign claim: the client announces an address node1 holds now ---
claimed=${on2[0]}
lan_exec client "$PY" -c '
import sys
from scapy.all import ARP, Ether, get_if_hwaddr, sendp
mac, ip = get_if_hwaddr("eth0"), sys.argv[1]
sendp(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=mac, psrc=ip, hwdst="ff:ff:ff:ff:ff:ff", pdst=ip), iface="eth0", verbose=False)' "$claimed"
tap_ok "foreign claim logged with its MESSAGE_ID and MLBD_ADDRESS=$claimed" \
        wait_j 1 "MESSAGE_ID=$(mid foreign_claim)" "MLBD_ADDRESS=$claimed"

# --- refused reload ---
cp "$R/etc/mlbd/pools.yaml" "$tmp/pools.good"
echo "  - name: [broken" >>"$R/etc/mlbd/pools.yaml"
X timeout 30 systemctl reload mlbd.service
tap_ok "reload_failed logged with its MESSAGE_ID" wait_j 1 "MESSAGE_ID=$(mid reload_failed)"
tap_is "$(jfield "$(mid reload_failed)" PRIORITY | tail -1)" 3 "at priority err (3)"
cp "$tmp/pools.good" "$R/etc/mlbd/pools.yaml"

# --- release: the Service of the claimed address deleted ---
k=0
for v in "${VIPS[@]}"; do k=$((k + 1)); [ "$v" = "$claimed" ] && break; done
daemon_ctl "$SOCK1" --until '"id": *21' --timeout 5 "$TEST_HELLO" \
        "{\"op\":\"delete\",\"id\":21,\"kind\":\"Service\",\"namespace\":\"demo\",\"name\":\"s$k\"}" >/dev/null
tap_ok "release logged with its MESSAGE_ID and MLBD_ADDRESS=$claimed" \
        wait_j 1 "MESSAGE_ID=$(mid release)" "MLBD_ADDRESS=$claimed"
tap_ok "the events are plain log lines of the unit too (journalctl -u mlbd -g)" wait_j 1 -g 'taking it over from node2'
tap_is "$(X systemctl show -p ActiveState --value mlbd.service)" active "mlbd still active"
X systemctl stop mlbd.service
tap_done
