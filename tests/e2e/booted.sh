#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end on booted machines (issue 13 item 4): the user story from `apt install` to
# `apt purge`, on two systemd-nspawn machines booted from the cached bookworm root (real
# systemd 252 as PID 1, tests/lib/nspawn.sh), each the network namespace of one host of a
# namespace LAN (node1 192.0.2.1, node2 192.0.2.2; veth into a bridge in a switch
# namespace, tests/lib/lan.sh) with a client namespace (192.0.2.3) beside them.
#
#  1. The packages of `make deb` (built once per source tree: tests/lib/packages.sh).
#     The machines are offline: their apt source is a file repository of the real Debian
#     .debs that installing mlbd-bridge and busybox into the root needs, resolved by the
#     host's apt against the root's dpkg status and taken from the host's apt cache or
#     fetched once by `apt-get download` from the host's mirror (nspawn_apt_repo).
#  2. In each machine: `apt install ./mlbd_*.deb` (apt resolves its dependencies), the
#     postinst made a key, enabled and started the unit: `systemctl enable --now mlbd`,
#     active, READY=1 with STATUS= in systemd's debug log, StatusText. The user's steps:
#     node1's /etc/mlbd/cluster.key copied to node2, node_name and peers set in
#     mlbd.conf, restart; the pool written to /etc/mlbd/pools.yaml, `systemctl reload`.
#  3. `apt install ./mlbd-bridge_*.deb` (libcurl4 and the rest from the file repository)
#     per machine, run against a real control plane (tests/lib/kube.sh: etcd,
#     kube-apiserver, kube-controller-manager on the host's loopback). A machine cannot
#     reach the host's loopback, so each bridge runs with the host's network but inside
#     its machine's mount namespace (nsenter -m -r): the binary, libraries, kubeconfig
#     and /run/mlbd/mlbd.sock are the machine's, the ServiceAccount kubeconfig of
#     k8s-bridge/deploy's RBAC is flattened into /etc/mlbd-bridge/kubeconfig there.
#     `kubectl apply` nginx.yaml, `kubectl edit svc` ClusterIP -> LoadBalancer,
#     EXTERNAL-IP in `kubectl get svc`, curl from the client reaches busybox httpd on the
#     owner machine (installed from the repository, run with systemd-run).
#  4. Under a client that sends a UDP datagram every 10 ms to the address through its
#     kernel's neighbour cache (tests/lib/cached-client udp; a responder on each machine
#     run with systemd-run names who answered): `apt install` of a newer version on the
#     owner (the .deb repacked with dpkg-deb with a higher Version, see below) -> 0 lost;
#     `systemctl stop mlbd` on the owner -> the other machine answers, 0 lost, and
#     `journalctl -u mlbd MESSAGE_ID=<takeover>` on it shows the takeover of the address;
#     mlbd started again, then `apt purge mlbd` on the machine holding the address -> 0
#     lost, no file of `dpkg -L mlbd` left, no address left on eth0, /etc/mlbd,
#     /var/lib/mlbd and /run/mlbd gone.
#
# The newer version is the same .deb repacked (dpkg-deb -R, Version: V+e2e1, dpkg-deb -b):
# identical files and maintainer scripts, so what it tests is the upgrade path itself:
# apt/dpkg see a higher version, run the old prerm upgrade and the new postinst configure
# OLD, unpack replaces every file (new inodes, the old binary stays mapped by the running
# daemon), and debhelper's postinst restarts mlbd.service (the graceful SIGTERM handover).
# It does not test that two different builds talk to each other.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/client.sh"
. "$(dirname "$0")/../lib/nspawn.sh"
. "$(dirname "$0")/../lib/packages.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
top_builddir=${top_builddir:-.}
lan_require_root systemd-nspawn mmdebstrap nsenter unshare flock curl apt-get dpkg-deb \
        dpkg-scanpackages dpkg-buildpackage rpmbuild
kube_require
[ -x "$CACHED_CLIENT" ] || { echo "Bail out! $CACHED_CLIENT is not built"; exit 1; }
T0=$SECONDS
NODES=(node1 node2)
TAKEOVER_ID=$(sed -n 's/^| `takeover` | `\([0-9a-f]\{32\}\)` |.*/\1/p' "$top_srcdir/docs/metrics.md")
[ -n "$TAKEOVER_ID" ] || { echo "Bail out! docs/metrics.md lists no MESSAGE_ID for takeover"; exit 1; }

lan_setup "${NODES[@]}" client || { echo "Bail out! lan_setup failed"; exit 1; }
declare -a BPIDS=()
stop_bridges() {
        local p
        for p in "${BPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
        for p in "${BPIDS[@]}"; do wait "$p" 2>/dev/null; done
        BPIDS=()
}
# Bridges first (they hold a machine's mount namespace), then the machines, the control
# plane, the namespaces and the scratch directory.
trap 'stop_bridges; nspawn_cleanup; kube_stop; lan_cleanup' EXIT
lan_tmpdir >/dev/null || { echo "Bail out! no scratch directory"; exit 1; }
tmp=$LAN_TMP

# --- 1. packages, the newer version, the file repository ---
t=$SECONDS
pkg_build || { echo "Bail out! make deb rpm failed (pkg-build.log)"; exit 1; }
deb=$(ls "$PKG_DEB_DIR"/mlbd_*_*.deb 2>/dev/null | head -1)
bdeb=$(ls "$PKG_DEB_DIR"/mlbd-bridge_*_*.deb 2>/dev/null | head -1)
[ -f "$deb" ] && [ -f "$bdeb" ] || { echo "Bail out! no mlbd/mlbd-bridge .deb in $PKG_DEB_DIR"; exit 1; }
V1=$(dpkg-deb -f "$deb" Version)
V2=$V1+e2e1
ARCH=$(dpkg-deb -f "$deb" Architecture)
dpkg-deb -R "$deb" "$tmp/repack" &&
        sed -i "s/^Version: .*/Version: $V2/" "$tmp/repack/DEBIAN/control" &&
        dpkg-deb -b --root-owner-group "$tmp/repack" "$tmp/mlbd_${V2}_$ARCH.deb" >/dev/null ||
        { echo "Bail out! cannot repack $deb as $V2"; exit 1; }
rm -rf "$tmp/repack"
deb2=$tmp/mlbd_${V2}_$ARCH.deb
tap_ok "dpkg sees $V2 as newer than $V1" dpkg --compare-versions "$V2" gt "$V1"
nspawn_apt_repo "$tmp/repo" "$deb" "$bdeb" busybox ||
        { echo "Bail out! cannot make the file repository"; exit 1; }
repo_debs=("$tmp"/repo/*.deb)
tap_diag "packages ready in $((SECONDS - t)) s: ${deb##*/}, ${bdeb##*/}, ${deb2##*/}; file repository:" \
        "${#repo_debs[@]} .debs ($(printf '%s\n' "${repo_debs[@]##*/}" | sed 's/_.*//' | tr '\n' ' '))"

# --- 2. two machines, booted ---
declare -A MACH
i=0
for n in "${NODES[@]}"; do
        i=$((i + 1))
        MACH[$n]=mlbdt-$$-m$i
        nspawn_root_prepare "$tmp/$n" || { echo "Bail out! cannot make the root of $n"; exit 1; }
        R=$NSPAWN_R
        mkdir -p "$R/srv/debs" "$R/srv/www" "$R/usr/local/bin" "$R/etc/apt" || exit 1
        cp "$deb" "$deb2" "$bdeb" "$R/srv/debs/" && cp -r "$tmp/repo" "$R/srv/repo" &&
                install -m 755 "$CACHED_CLIENT" "$R/usr/local/bin/cached-client" || exit 1
        echo "deb [trusted=yes] file:/srv/repo ./" >"$R/etc/apt/sources.list"
        echo "hello from $n" >"$R/srv/www/index.html"
done
for n in "${NODES[@]}"; do
        t=$SECONDS
        nspawn_boot "${MACH[$n]}" "$tmp/$n" "$(lan_ns "$n")" >/dev/null || { echo "Bail out! $n did not boot"; exit 1; }
        tap_diag "$n booted in $((SECONDS - t)) s (init PID ${NSPAWN_INIT[${MACH[$n]}]})"
done
X() { local n=$1; shift; nspawn_exec "${MACH[$n]}" "$@" </dev/null; }
XI() { local n=$1; shift; nspawn_exec "${MACH[$n]}" "$@"; } # with the caller's stdin
prop() { X "$1" systemctl show -p "$2" --value mlbd.service; }
jn() { local n=$1; shift; X "$n" journalctl -q -o cat --no-pager -u mlbd.service "$@" 2>/dev/null; }
wait_jn() { # NODE SECS ARGS...: until mlbd.service's journal has a matching entry
        local n=$1 s=$2 i
        shift 2
        for ((i = 0; i < s * 10; i++)); do
                [ -n "$(jn "$n" "$@")" ] && return 0
                sleep 0.1
        done
        return 1
}
wait_alive() { # NODE SECS: until systemd's StatusText of mlbd says "2 of 2 nodes alive"
        local i
        for ((i = 0; i < $2 * 10; i++)); do
                grep -q ' 2 of 2 nodes alive' <<<"$(prop "$1" StatusText)" && return 0
                sleep 0.1
        done
        prop "$1" StatusText | sed 's/^/# StatusText: /'
        return 1
}
owner_of() { # ADDR: the node whose eth0 has it (empty when none, "a b" when both)
        local n hs=()
        for n in "${NODES[@]}"; do host_has_addr "$n" "$1" && hs+=("$n"); done
        echo "${hs[*]}"
}
other() { [ "$1" = node1 ] && echo node2 || echo node1; }
settled_owner() { # ADDR: the one node holding it, the same for 1 s running (bounded, 15 s)
        local i o last='' same=0
        for ((i = 0; i < 150; i++)); do
                o=$(owner_of "$1")
                if grep -Eqx 'node[12]' <<<"$o" && [ "$o" = "$last" ]; then
                        same=$((same + 1))
                        [ $same -ge 10 ] && { echo "$o"; return 0; }
                else
                        same=0
                fi
                last=$o
                sleep 0.1
        done
        echo "$o"
        return 1
}
for n in "${NODES[@]}"; do
        tap_is "$(X "$n" systemctl is-system-running)" running "$n: systemd is PID 1 and the system is running"
        # systemd's debug log records every notification it accepts (READY=1, STATUS=)
        X "$n" systemctl log-level debug
done

# --- the package, as a user installs it ---
for n in "${NODES[@]}"; do
        t=$SECONDS
        X "$n" sh -c 'cd /srv/debs && apt update && DEBIAN_FRONTEND=noninteractive apt install -y ./mlbd_'"$V1"'_*.deb' \
                >"$tmp/$n-apt-install.log" 2>&1
        rc=$?
        tap_ok "$n: apt install ./mlbd_${V1}_$ARCH.deb (rc $rc, $((SECONDS - t)) s)" test $rc -eq 0 ||
                tail -n 20 "$tmp/$n-apt-install.log" | sed 's/^/# /'
        tap_is "$(X "$n" dpkg-query -W -f '${db:Status-Abbrev}${Version}' mlbd)" "ii $V1" "$n: dpkg has mlbd $V1 installed"
        tap_ok "$n: the postinst made a cluster key and says to copy it to every node" \
                grep -q 'copy this file' "$tmp/$n-apt-install.log"
        tap_is "$(X "$n" stat -c '%U:%G %a' /etc/mlbd/cluster.key)" "mlbd:mlbd 600" "$n: /etc/mlbd/cluster.key is mlbd:mlbd 0600"
        tap_is "$(X "$n" systemctl is-enabled mlbd)/$(X "$n" systemctl is-active mlbd)" enabled/active \
                "$n: the postinst enabled and started mlbd.service (Debian policy)"
        X "$n" systemctl enable --now mlbd >/dev/null 2>&1
        tap_ok "$n: systemctl enable --now mlbd" test $? -eq 0
        tap_is "$(prop "$n" ActiveState)/$(prop "$n" SubState)" active/running "$n: active (running)"
        tap_ok "$n: systemd got READY=1 with STATUS= from mlbd (Type=notify)" \
                wait_jn "$n" 5 -g 'Got notification message from PID [0-9]+ \(READY=1, STATUS='
        st=$(prop "$n" StatusText)
        tap_ok "$n: systemctl show -p StatusText: '$st'" grep -Eq '^[0-9]+ services .*[0-9]+ addresses owned' <<<"$st"
        tap_is "$(X "$n" stat -c %U "/proc/$(prop "$n" MainPID)")" mlbd "$n: mlbd runs as the user mlbd"
done

# node1's key to node2 (as a user would: over ssh; here through the two machines' shells)
X node1 cat /etc/mlbd/cluster.key | XI node2 sh -c 'cat >/etc/mlbd/cluster.key'
tap_is "$(X node2 sha256sum /etc/mlbd/cluster.key | cut -d' ' -f1)" \
        "$(X node1 sha256sum /etc/mlbd/cluster.key | cut -d' ' -f1)" "the same /etc/mlbd/cluster.key on both machines"
tap_is "$(X node2 stat -c '%U:%G %a' /etc/mlbd/cluster.key)" "mlbd:mlbd 600" "node2's copy is still mlbd:mlbd 0600"
for n in "${NODES[@]}"; do
        X "$n" sed -i -e "s/^; node_name = .*/node_name = $n/" \
                -e 's/^; peers = .*/peers = node1=192.0.2.1, node2=192.0.2.2/' /etc/mlbd/mlbd.conf
        X "$n" systemctl restart mlbd
        tap_ok "$n: node_name and peers set in /etc/mlbd/mlbd.conf, systemctl restart mlbd" test $? -eq 0
done
for n in "${NODES[@]}"; do
        tap_ok "$n: mlbd hears its peer (same key): StatusText says 2 of 2 nodes alive" wait_alive "$n" 15
        XI "$n" sh -c 'cat >/etc/mlbd/pools.yaml' <<EOF
pools:
  - name: lan
    addresses:
      - 192.0.2.150-192.0.2.159
EOF
        X "$n" systemctl reload mlbd
        tap_ok "$n: pool written to /etc/mlbd/pools.yaml, systemctl reload mlbd" test $? -eq 0
        tap_ok "$n: the journal says 'Reloaded: 1 pools'" wait_jn "$n" 5 -g 'Reloaded: 1 pools'
        out=$(X "$n" mlbctl pools 2>&1)
        tap_ok "$n: mlbctl pools lists the pool 'lan'" grep -q 'lan' <<<"$out" || tap_diag "$out"
        tap_is "$(prop "$n" ActiveState)/$(prop "$n" SubState)" active/running "$n: still active (running) after the reload"
done

# --- 3. the bridge, from its .deb, against a real control plane ---
t=$SECONDS
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
tap_diag "control plane up in $((SECONDS - t)) s"
k() { kubectl "$@" 2>&1 | grep -v '^WARNING: version difference'; }
i=0
for n in "${NODES[@]}"; do
        i=$((i + 1))
        kube_node "$n" "192.0.2.$i" >/dev/null || { echo "Bail out! Node $n"; exit 1; }
done
bridge_apply_rbac "$tmp/sa.kubeconfig" || { echo "Bail out! the bridge's RBAC"; exit 1; }
kubectl --kubeconfig "$tmp/sa.kubeconfig" config view --raw --flatten >"$tmp/bridge.kubeconfig" 2>/dev/null
for n in "${NODES[@]}"; do
        t=$SECONDS
        X "$n" sh -c 'cd /srv/debs && DEBIAN_FRONTEND=noninteractive apt install -y ./mlbd-bridge_*.deb busybox' \
                >"$tmp/$n-apt-bridge.log" 2>&1
        rc=$?
        tap_ok "$n: apt install ./mlbd-bridge_*.deb busybox (rc $rc, $((SECONDS - t)) s)" test $rc -eq 0 ||
                tail -n 20 "$tmp/$n-apt-bridge.log" | sed 's/^/# /'
        tap_ok "$n: apt pulled libcurl4 from the file repository" \
                eval "X $n dpkg-query -W -f '\${db:Status-Abbrev}' libcurl4 | grep -q '^ii'"
        X "$n" mkdir -p /etc/mlbd-bridge
        XI "$n" sh -c 'umask 077 && cat >/etc/mlbd-bridge/kubeconfig' <"$tmp/bridge.kubeconfig"
        init=${NSPAWN_INIT[${MACH[$n]}]}
        nsenter -t "$init" -m -r -w -- /usr/bin/mlbd-bridge --kubeconfig /etc/mlbd-bridge/kubeconfig \
                --node-name "$n" --socket /run/mlbd/mlbd.sock --lease-namespace mlbd-system \
                --lease-duration 4 --renew-deadline 3 --retry-period 0.5 --listen 127.0.0.1:0 \
                --log-level debug >"$tmp/$n/bridge.log" 2>&1 </dev/null &
        BPIDS+=($!)
        # the services the story reaches: busybox httpd (curl) and the UDP responder
        X "$n" systemd-run --quiet --unit=e2e-httpd busybox httpd -f -p 80 -h /srv/www
        X "$n" systemd-run --quiet --unit=e2e-udp /usr/local/bin/cached-client serve "$CLIENT_PORT" "$n"
done
for n in "${NODES[@]}"; do
        tap_ok "$n: the installed mlbd-bridge syncs with the API server and its mlbd" \
                bridge_wait_log "$tmp/$n" 'synced with the API server' 30 ||
                tail -n 10 "$tmp/$n/bridge.log" | sed 's/^/# /'
        tap_is "$(X "$n" systemctl is-active e2e-httpd e2e-udp | tr '\n' ' ')" "active active " \
                "$n: httpd and the UDP responder run on the machine"
done
k create namespace demo >/dev/null
tap_ok "kubectl apply -f nginx.yaml" eval "kubectl apply -f '$top_srcdir/tests/data/k8s/nginx.yaml' >/dev/null 2>&1"
printf '#!/bin/sh\nsed -i "s/^  type: ClusterIP/  type: LoadBalancer/" "$1"\n' >"$tmp/editor.sh"
chmod +x "$tmp/editor.sh"
tap_ok "kubectl edit svc nginx-service -n demo (ClusterIP -> LoadBalancer)" \
        eval "EDITOR='$tmp/editor.sh' kubectl edit svc nginx-service -n demo >/dev/null 2>&1"
ip=$(wait_svc_ip demo nginx-service 30)
tap_ok "the Service gets an EXTERNAL-IP from the pool ($ip)" grep -Eq '^192\.0\.2\.15[0-9]$' <<<"$ip"
[ -n "$ip" ] || { tap_diag "$(tail -n 20 "$tmp/node1/bridge.log")"; tap_done; }
row=$(k get svc nginx-service -n demo --no-headers)
tap_diag "kubectl get svc: $row"
tap_ok "kubectl get svc shows it in the EXTERNAL-IP column" eval "awk '{ print \$4 }' <<<'$row' | grep -qx '$ip'"
for ((i = 0; i < 50; i++)); do o=$(owner_of "$ip"); [ -n "$o" ] && break; sleep 0.1; done
tap_ok "exactly one machine holds $ip on eth0 ($o)" grep -Eqx 'node[12]' <<<"$o"
OWNER=$o
out=$(lan_exec client curl -s --max-time 5 "http://$ip/")
tap_is "$out" "hello from $OWNER" "curl http://$ip/ from the client reaches the owner machine"

# --- 4. under a client loop (UDP every 10 ms through the client's neighbour cache) ---
phase() { # NAME: start the client loop, 1 s of traffic before the action
        client_start client "$tmp/$1.out" 120000 "$ip"
        sleep 1
}
phase_end() { # NAME: 2 s of traffic after the action, then the figures
        sleep 2
        client_stop "$CLIENT_PID"
        client_report "$tmp/$1.out"
}

# upgrade on the owner
pid1=$(prop "$OWNER" MainPID)
phase upgrade
t=$SECONDS
X "$OWNER" sh -c "cd /srv/debs && DEBIAN_FRONTEND=noninteractive apt install -y ./mlbd_${V2}_$ARCH.deb" \
        >"$tmp/$OWNER-apt-upgrade.log" 2>&1
rc=$?
tap_diag "upgrade took $((SECONDS - t)) s"
phase_end upgrade
tap_ok "$OWNER: apt install ./mlbd_${V2}_$ARCH.deb (rc $rc)" test $rc -eq 0 ||
        tail -n 20 "$tmp/$OWNER-apt-upgrade.log" | sed 's/^/# /'
tap_is "$(X "$OWNER" dpkg-query -W -f '${db:Status-Abbrev}${Version}' mlbd)" "ii $V2" "$OWNER: dpkg has mlbd $V2 now"
tap_ok "$OWNER: apt unpacked it as an upgrade of $V1" grep -q "Preparing to unpack .*mlbd_${V2}_.*" "$tmp/$OWNER-apt-upgrade.log"
pid2=$(prop "$OWNER" MainPID)
tap_ok "$OWNER: the postinst restarted mlbd (MainPID $pid1 -> $pid2)" test "$pid2" != "$pid1" -a "$pid2" != 0
tap_is "$(prop "$OWNER" ActiveState)/$(prop "$OWNER" SubState)" active/running "$OWNER: active (running) after the upgrade"
sent=$(client_field "$tmp/upgrade.out" "$ip" sent)
tap_ok "the client sent during the upgrade ($sent datagrams)" test "${sent:-0}" -ge 200
tap_is "$(client_field "$tmp/upgrade.out" "$ip" lost)" 0 "0 requests lost during apt install of the newer version"
FIG_UP="upgrade: sent $sent lost $(client_field "$tmp/upgrade.out" "$ip" lost) answered_by $(client_field "$tmp/upgrade.out" "$ip" answered_by)"

# systemctl stop on the owner
OWNER=$(settled_owner "$ip")
TAKER=$(other "$OWNER")
tap_ok "after the upgrade one machine holds $ip, settled ($OWNER)" grep -Eqx 'node[12]' <<<"$OWNER"
phase stop
X "$OWNER" systemctl stop mlbd
rc=$?
phase_end stop
tap_ok "$OWNER: systemctl stop mlbd (rc $rc)" test $rc -eq 0
tap_is "$(prop "$OWNER" ActiveState)" inactive "$OWNER: mlbd is inactive"
tap_is "$(owner_of "$ip")" "$TAKER" "$TAKER holds $ip now, $OWNER has no address left"
tap_is "$(client_field "$tmp/stop.out" "$ip" lost)" 0 "0 requests lost across systemctl stop on the owner"
tap_ok "the other machine ($TAKER) answers" grep -q "$TAKER:[1-9]" <<<"$(client_field "$tmp/stop.out" "$ip" answered_by)"
FIG_STOP="stop: sent $(client_field "$tmp/stop.out" "$ip" sent) lost $(client_field "$tmp/stop.out" "$ip" lost) answered_by $(client_field "$tmp/stop.out" "$ip" answered_by)"
tap_ok "$TAKER: journalctl -u mlbd MESSAGE_ID=$TAKEOVER_ID MLBD_ADDRESS=$ip shows the takeover" \
        wait_jn "$TAKER" 5 "MESSAGE_ID=$TAKEOVER_ID" "MLBD_ADDRESS=$ip"
tap_diag "$TAKER: $(jn "$TAKER" "MESSAGE_ID=$TAKEOVER_ID" "MLBD_ADDRESS=$ip" | tail -n 1)"
peer=$(X "$TAKER" journalctl -q --no-pager -u mlbd.service -o export "MESSAGE_ID=$TAKEOVER_ID" "MLBD_ADDRESS=$ip" |
        sed -n 's/^MLBD_PEER=//p' | tail -n 1)
tap_is "$peer" "$OWNER" "the takeover names the node that held it (MLBD_PEER=$OWNER)"
out=$(lan_exec client curl -s --max-time 5 "http://$ip/")
tap_is "$out" "hello from $TAKER" "curl from the client reaches $TAKER now"

# mlbd back on the stopped machine, then apt purge on the one holding the address
X "$OWNER" systemctl start mlbd
tap_ok "$OWNER: systemctl start mlbd again" test $? -eq 0
tap_ok "$OWNER: hears its peer again (2 of 2 nodes alive)" wait_alive "$OWNER" 15
HOLDER=$(settled_owner "$ip")
KEEPER=$(other "$HOLDER")
tap_ok "one machine holds $ip, settled ($HOLDER)" grep -Eqx 'node[12]' <<<"$HOLDER"
X "$HOLDER" dpkg -L mlbd >"$tmp/dpkg-L" 2>&1
tap_ok "$HOLDER: dpkg -L mlbd lists the package's files ($(wc -l <"$tmp/dpkg-L") paths)" grep -qx /usr/sbin/mlbd "$tmp/dpkg-L"
phase purge
t=$SECONDS
X "$HOLDER" sh -c 'DEBIAN_FRONTEND=noninteractive apt purge -y mlbd' >"$tmp/$HOLDER-apt-purge.log" 2>&1
rc=$?
tap_diag "purge took $((SECONDS - t)) s"
phase_end purge
tap_ok "$HOLDER: apt purge -y mlbd (rc $rc)" test $rc -eq 0 || tail -n 20 "$tmp/$HOLDER-apt-purge.log" | sed 's/^/# /'
tap_is "$(client_field "$tmp/purge.out" "$ip" lost)" 0 "0 requests lost across apt purge on the machine holding the address"
tap_ok "$KEEPER answers" grep -q "$KEEPER:[1-9]" <<<"$(client_field "$tmp/purge.out" "$ip" answered_by)"
FIG_PURGE="purge: sent $(client_field "$tmp/purge.out" "$ip" sent) lost $(client_field "$tmp/purge.out" "$ip" lost) answered_by $(client_field "$tmp/purge.out" "$ip" answered_by)"
st=$(X "$HOLDER" dpkg-query -W -f '${db:Status-Abbrev}' mlbd 2>/dev/null)
tap_ok "$HOLDER: mlbd is purged: dpkg has neither the package nor its conffiles (status '$st')" \
        grep -Eqx '(un ?)?' <<<"$st"
left=
while IFS= read -r p; do
        [ "$p" = /. ] && continue
        X "$HOLDER" test -e "$p" -o -L "$p" || continue
        # a directory may stay when another package owns it too
        if X "$HOLDER" test -d "$p" && X "$HOLDER" dpkg-query -S "$p" >/dev/null 2>&1; then continue; fi
        left+="$p "
done <"$tmp/dpkg-L"
tap_is "$left" "" "$HOLDER: no path of dpkg -L mlbd is left (but directories other packages own)"
tap_ok "$HOLDER: /etc/mlbd (key, configuration), /var/lib/mlbd and /run/mlbd are gone" \
        eval "! X $HOLDER test -e /etc/mlbd -o -e /var/lib/mlbd -o -e /run/mlbd"
addrs=$(lan_exec "$HOLDER" ip -o addr show dev eth0 | awk '{ print $4 }' | grep -v '^fe80:' | sort | tr '\n' ' ')
tap_is "$addrs" "$(printf '%s\n' "$(lan_ip4 "$HOLDER")/24" "$(lan_ip6 "$HOLDER")/64" | sort | tr '\n' ' ')" \
        "$HOLDER: no address left on eth0 but the machine's own (and its link-local)"
tap_is "$(owner_of "$ip")" "$KEEPER" "$KEEPER holds $ip"
out=$(lan_exec client curl -s --max-time 5 "http://$ip/")
tap_is "$out" "hello from $KEEPER" "curl from the client reaches $KEEPER after the purge"
tap_is "$(svc_ip demo nginx-service)" "$ip" "kubectl still shows EXTERNAL-IP $ip"
tap_is "$(X "$HOLDER" systemctl show -p LoadState --value mlbd.service)" not-found "$HOLDER: systemd knows no mlbd.service"

tap_diag "$FIG_UP"
tap_diag "$FIG_STOP"
tap_diag "$FIG_PURGE"
tap_diag "total $((SECONDS - T0)) s"
if [ "$TAP_FAILED" -ne 0 ]; then
        for n in "${NODES[@]}"; do
                tap_diag "$n: mlbd's journal:"
                X "$n" journalctl -q -o short-monotonic --no-pager -u mlbd.service | grep -v 'Got notification\|Child [0-9]' |
                        tail -n 40 | sed 's/^/# /'
        done
fi
tap_done
