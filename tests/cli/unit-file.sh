#!/bin/bash
# SPDX-License-Identifier: MIT
# systemd/mlbd.service passes systemd's own checks: `systemd-analyze verify` (no unknown keys,
# no bad values, paths as packaged) and `systemd-analyze security --offline=true` under a
# fixed exposure threshold; the same gate refuses a copy with the hardening stripped, so
# it can fail. Needs no root and no running systemd. Prints TAP.
set -u
top_srcdir=${top_srcdir:-.}
unit=$top_srcdir/systemd/mlbd.service
sysusers=$top_srcdir/systemd/mlbd.sysusers
# Exposure of the shipped unit is 1.9 with systemd 252 (0 = locked down, 10 = unprotected;
# --threshold takes tenths: 20 = 2.0). What is left is what mlbd needs: the host's network
# (0.5), AF_INET/AF_PACKET/AF_NETLINK/AF_UNIX sockets, CAP_NET_ADMIN + CAP_NET_RAW as
# ambient capabilities, chown for the socket group. The threshold is "no worse than now"
# plus rounding: dropping any single one of User=, CapabilityBoundingSet=, SystemCallFilter=,
# ProtectSystem=, RestrictAddressFamilies= goes above it (each is checked below).
THRESHOLD=20
n=0
failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
show() { sed 's/^/#   /' <<<"$1"; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "1..0 # SKIP systemd-analyze is not installed (Debian package systemd)"
        exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlbd-unit.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# A scratch root laid out as the package installs it: the unit, /usr/sbin/mlbd (a stand-in:
# verify only checks that ExecStart's binary exists and is executable), /bin/kill, and
# systemd's own units for the dependencies (network-online.target, sysinit.target ...).
mkroot() {
        local root=$1
        mkdir -p "$root/etc/systemd/system" "$root/usr/sbin" "$root/bin" "$root/lib/systemd" \
                "$root/usr/lib/sysusers.d" || return 1
        cp -a /lib/systemd/system "$root/lib/systemd/" || return 1
        printf '#!/bin/sh\nexit 0\n' >"$root/usr/sbin/mlbd" && chmod 755 "$root/usr/sbin/mlbd"
        cp /bin/kill "$root/bin/kill" || return 1
        cp "$sysusers" "$root/usr/lib/sysusers.d/mlbd.conf"
        mkdir -p "$root/usr/lib/tmpfiles.d" && cp "$top_srcdir/systemd/mlbd.tmpfiles" "$root/usr/lib/tmpfiles.d/mlbd.conf"
}
mkroot "$tmp/root" || { echo "Bail out! cannot build a scratch root in $tmp"; exit 1; }
cp "$unit" "$tmp/root/etc/systemd/system/mlbd.service"

out=$(systemd-analyze verify --man=no --root="$tmp/root" mlbd.service 2>&1)
rc=$?
ok $rc "systemd-analyze verify accepts systemd/mlbd.service" || show "$out"
! grep -qi 'unknown key\|unknown section\|failed to parse\|ignoring' <<<"$out"
ok $? "verify prints no unknown key, unknown section or ignored setting" || show "$out"

# The gate can fail: verify does see a misspelt key and a missing binary.
sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$unit" >"$tmp/root/etc/systemd/system/mlbd.service"
out=$(systemd-analyze verify --man=no --root="$tmp/root" mlbd.service 2>&1)
grep -q "Unknown key 'NoNewPrivilege'" <<<"$out"
ok $? "a misspelt key is reported as 'Unknown key'" || show "$out"
cp "$unit" "$tmp/root/etc/systemd/system/mlbd.service"
mv "$tmp/root/usr/sbin/mlbd" "$tmp/mlbd"
systemd-analyze verify --man=no --root="$tmp/root" mlbd.service >/dev/null 2>&1
[ $? != 0 ]; ok $? "verify fails when /usr/sbin/mlbd is missing (ExecStart is the packaged path)"
mv "$tmp/mlbd" "$tmp/root/usr/sbin/mlbd"

# What the daemon needs, as the spec and the code say.
key() { grep -E "^$1=" "$unit" | tail -n 1 | cut -d= -f2-; }
[ "$(key Type)" = notify ]; ok $? "Type=notify"
[ "$(key NotifyAccess)" = main ]; ok $? "NotifyAccess=main"
[ "$(key ExecStart)" = "/usr/sbin/mlbd -c /etc/mlbd/mlbd.conf" ]; ok $? "ExecStart=/usr/sbin/mlbd -c /etc/mlbd/mlbd.conf"
[ "$(key ExecReload)" = '/bin/kill -HUP $MAINPID' ]; ok $? "ExecReload sends SIGHUP to the main process"
[ "$(key ExecStopPost)" = "/usr/sbin/mlbd -c /etc/mlbd/mlbd.conf --flush" ]; ok $? "ExecStopPost runs mlbd --flush"
[ -n "$(key WatchdogSec)" ]; ok $? "WatchdogSec is set ($(key WatchdogSec))"
[ "$(key RuntimeDirectory)" = mlbd ] && [ "$(key StateDirectory)" = mlbd ]
ok $? "RuntimeDirectory=mlbd (/run/mlbd/mlbd.sock) and StateDirectory=mlbd (/var/lib/mlbd)"
# mlbd-bridge's DaemonSet mounts /run/mlbd from the host: a restart must not remove it.
[ "$(key RuntimeDirectoryPreserve)" = yes ]
ok $? "RuntimeDirectoryPreserve=yes (/run/mlbd survives restarts under the bridge's hostPath mount)"
tmpfiles=$top_srcdir/systemd/mlbd.tmpfiles
grep -qE '^d /run/mlbd 0755 mlbd mlbd' "$tmpfiles" && grep -qE '^d /var/lib/mlbd 0750 mlbd mlbd' "$tmpfiles"
ok $? "systemd/mlbd.tmpfiles makes /run/mlbd and /var/lib/mlbd with the unit's modes and owner"
for cap in CAP_NET_ADMIN CAP_NET_RAW; do
        grep -qE "^CapabilityBoundingSet=.*\b$cap\b" "$unit" && grep -qE "^AmbientCapabilities=.*\b$cap\b" "$unit"
        ok $? "$cap is both ambient and in the bounding set"
done
fams=$(key RestrictAddressFamilies)
for fam in AF_UNIX AF_NETLINK AF_PACKET AF_INET AF_INET6; do
        grep -qw "$fam" <<<"$fams"; ok $? "RestrictAddressFamilies allows $fam"
done
grep -q '^u mlbd ' "$sysusers"; ok $? "systemd/mlbd.sysusers creates the user mlbd the unit runs as ($(key User))"

out=$(systemd-analyze security --offline=true --root="$tmp/root" --threshold=$THRESHOLD \
        mlbd.service 2>&1)
rc=$?
score=$(grep -o 'Overall exposure level for mlbd.service: [0-9.]*' <<<"$out" | awk '{print $NF}')
ok $rc "systemd-analyze security: exposure $score is within the threshold $THRESHOLD/10" || show "$out"

# The threshold bites: each hardening directive removed on its own is refused.
for k in User CapabilityBoundingSet SystemCallFilter RestrictAddressFamilies ProtectSystem; do
        grep -vE "^$k=" "$unit" >"$tmp/root/etc/systemd/system/mlbd.service"
        out=$(systemd-analyze security --offline=true --root="$tmp/root" --threshold=$THRESHOLD \
                mlbd.service 2>&1)
        rc=$?
        score=$(grep -o 'Overall exposure level for mlbd.service: [0-9.]*' <<<"$out" | awk '{print $NF}')
        [ $rc != 0 ] && [ -n "$score" ]
        ok $? "without $k= the unit is refused (exposure $score)"
done

echo "1..$n"
exit $failed
