#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd under real systemd (252, booted with systemd-nspawn in a bookworm root), run by the
# shipped systemd/mlbd.service: `systemctl start` returns once mlbd sent READY=1 (the socket
# already answers) and fails for a broken configuration; STATUS= is a one-line summary kept
# current; `systemctl reload` is bracketed by RELOADING=1/READY=1, with a good file (pools
# change) and a broken one (reported, nothing changes, the daemon stays up); WATCHDOG=1
# keeps a 2 s watchdog fed, and a SIGSTOPped mlbd is killed for it and restarted, with
# ExecStopPost's --flush removing the address it left; `systemctl stop` sends STOPPING=1,
# ends inactive, address gone. systemd's own debug log is the judge of what was notified.
#
# The container's network is node1's namespace of a two-host namespace LAN (192.0.2.1/24,
# 2001:db8::1/64 on eth0); the Service is fed through the control socket from the host
# (tests/lib/ctl.py on /proc/INIT/root/run/mlbd/mlbd.sock), so the root needs no Python.
# The binaries are the test build's (ASan+UBSan), run as they are packaged: /usr/sbin/mlbd
# and /usr/bin/mlbctl as the user mlbd, created by systemd-sysusers from systemd/mlbd.sysusers.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/nspawn.sh"
top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
top_builddir=${top_builddir:-.}
lan_require_root systemd-nspawn mmdebstrap nsenter unshare flock
for f in "$top_builddir/mlbd" "$top_builddir/mlbctl"; do
        [ -x "$f" ] || { echo "Bail out! $f is not built"; exit 1; }
done
T0=$SECONDS

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
trap 'nspawn_cleanup; lan_cleanup' EXIT
lan_tmpdir >/dev/null || { echo "Bail out! no scratch directory"; exit 1; }
tmp=$LAN_TMP # not $(lan_tmpdir): a subshell would not record it for lan_cleanup
M=mlbdt-$$

# --- the container root: cached bookworm + systemd, a per-run overlay on top ---
nspawn_root_prepare "$tmp/c" || { echo "Bail out! cannot make the container root (mmdebstrap)"; exit 1; }
R=$NSPAWN_R
nspawn_install_build "$R" || { echo "Bail out! cannot install the build into the root"; exit 1; }
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
peers = node1=192.0.2.1

[announce]
garp_count = 3
garp_interval_ms = 50
EOF
good_pools() {
        cat <<EOF
pools:
  - name: cheap
    addresses:
      - 192.0.2.150-192.0.2.200
      - 2001:db8::150-2001:db8::1ff
EOF
        [ "${1:-}" = more ] && cat <<EOF
  - name: more
    addresses:
      - 198.51.100.0/28
EOF
}
# Line 5, column 9: the end is below the start.
bad_pools() {
        printf 'pools:\n  - name: cheap\n    addresses:\n      - 192.0.2.150-192.0.2.200\n      - 192.0.2.250-192.0.2.240\n'
}
# Only what the test needs on top of the shipped unit: a short watchdog, and ASan's
# LeakSanitizer off (it stops the world with ptrace, which SystemCallFilter= refuses).
cat >"$R/etc/systemd/system/mlbd.service.d/test.conf" <<EOF
[Service]
WatchdogSec=2s
Environment=ASAN_OPTIONS=detect_leaks=0
EOF

# --- boot ---
t=$SECONDS
nspawn_boot "$M" "$tmp/c" "$(lan_ns node1)" >/dev/null || { echo "Bail out! systemd did not boot"; exit 1; }
INIT=${NSPAWN_INIT[$M]}
tap_diag "systemd booted in $((SECONDS - t)) s (init PID $INIT)"
X() { nspawn_exec "$M" "$@"; }
prop() { X systemctl show -p "$1" --value mlbd.service; }
SOCKDIR=/proc/$INIT/root/run/mlbd
# systemd's debug log records every notification message it accepts.
X systemctl log-level debug
notes() { X journalctl -q -o cat --no-pager -u mlbd.service -g "$1" 2>/dev/null; }
count() { notes "$1" | wc -l; }
wait_prop() { # PROP VALUE SECS
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [ "$(prop "$1")" = "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
wait_count() { # REGEX MIN SECS
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                [ "$(count "$1")" -ge "$2" ] && return 0
                sleep 0.1
        done
        return 1
}
tap_ok "the user mlbd exists (systemd-sysusers ran on systemd/mlbd.sysusers)" eval "X id mlbd >/dev/null"
# The cluster key, as a package's postinst makes it: mlbd --gen-key, readable by mlbd only.
X /usr/sbin/mlbd --gen-key /etc/mlbd/cluster.key >/dev/null &&
        X chown mlbd:mlbd /etc/mlbd/cluster.key
tap_is "$(X stat -c '%U:%G %a' /etc/mlbd/cluster.key)" "mlbd:mlbd 600" "mlbd --gen-key made /etc/mlbd/cluster.key (0600, chowned to mlbd)"

# --- start with a broken pools file: the start job fails ---
bad_pools >"$R/etc/mlbd/pools.yaml"
X timeout 30 systemctl start mlbd.service
rc=$?
tap_ok "systemctl start fails for a broken pools file (rc $rc)" test $rc -ne 0
tap_is "$(prop Result)" "exit-code" "Result=exit-code"
tap_ok "the log names pools.yaml:5:9" wait_count 'pools.yaml:5:9: ' 1 5
X systemctl stop mlbd.service
X systemctl reset-failed mlbd.service 2>/dev/null

# --- start with a good one: success only once READY=1 came ---
good_pools >"$R/etc/mlbd/pools.yaml"
t=$SECONDS
X timeout 30 systemctl start mlbd.service
tap_ok "systemctl start mlbd succeeds" test $? -eq 0
tap_diag "start took $((SECONDS - t)) s"
tap_is "$(prop ActiveState)/$(prop SubState)" "active/running" "right after start: ActiveState=active SubState=running"
tap_ok "the control socket answers right after start returned" eval "daemon_status \"$SOCKDIR\" >/dev/null"
tap_is "$(count 'Got notification message from PID [0-9]+ \(READY=1, STATUS=')" 1 "systemd got READY=1 with a STATUS= once"
status=$(prop StatusText)
tap_diag "StatusText: $status"
tap_ok "StatusText is a non-empty one-line summary" test -n "$status" -a "$(wc -l <<<"$status")" = 1
tap_ok "StatusText counts services and addresses" grep -Eq '^[0-9]+ services .*[0-9]+ addresses owned' <<<"$status"
pid1=$(prop MainPID)
tap_is "$(X stat -c '%U:%G %a' /run/mlbd/mlbd.sock)" "mlbd:mlbd 660" "socket /run/mlbd/mlbd.sock is mlbd:mlbd 0660"
tap_is "$(X stat -c %U "/proc/$pid1")" "mlbd" "the daemon runs as the user mlbd"

# --- a Service: an address on eth0, StatusText follows ---
out=$(daemon_session "$SOCKDIR" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo nginx-service u1)")")
tap_ok "the Service gets 192.0.2.150" grep -q '"op": *"allocated".*192\.0\.2\.150' <<<"$out" || tap_diag "$out"
tap_ok "192.0.2.150 appears on eth0 (CAP_NET_ADMIN, CAP_NET_RAW as the user mlbd)" wait_addr node1 192.0.2.150 5
for ((i = 0; i < 50; i++)); do
        status=$(prop StatusText)
        grep -q '^1 services (1 allocated, 0 failed), 1 addresses owned' <<<"$status" && break
        sleep 0.1
done
tap_ok "StatusText follows: 1 service allocated, 1 address owned" \
        grep -q '^1 services (1 allocated, 0 failed), 1 addresses owned' <<<"$status" || tap_diag "$status"

# --- reload with a good file ---
good_pools more >"$R/etc/mlbd/pools.yaml"
X timeout 30 systemctl reload mlbd.service
tap_ok "systemctl reload (good file) succeeds" test $? -eq 0
tap_ok "the log says the 2 pools are loaded" wait_count 'Reloaded: 2 pools' 1 5
tap_ok "systemd got RELOADING=1" wait_count 'Got notification message from PID [0-9]+ \(RELOADING=1' 1 5
tap_ok "then READY=1 (state back to running)" wait_prop SubState running 5
tap_is "$(prop ActiveState)" active "still active"
tap_is "$(prop MainPID)" "$pid1" "same main process"
status=$(prop StatusText)
tap_ok "StatusText is the summary again, not 'Reloading'" grep -q '^1 services .*1 addresses owned' <<<"$status" || tap_diag "$status"
out=$(X mlbctl pools 2>&1)
tap_ok "mlbctl pools (as root in the container) lists the new pool" grep -q 'more' <<<"$out" || tap_diag "$out"

# --- reload with a broken file: reported, nothing changes ---
bad_pools >"$R/etc/mlbd/pools.yaml"
X timeout 30 systemctl reload mlbd.service
tap_ok "systemctl reload (broken file) returns" test $? -eq 0
tap_ok "the log names pools.yaml:5:9 and keeps the running configuration" \
        wait_count 'Reload failed; the running configuration is unchanged' 1 5
tap_ok "the reload's error names pools.yaml:5:9" wait_count 'pools.yaml:5:9: ' 2 5
tap_ok "systemd got RELOADING=1 twice (both reloads)" wait_count 'Got notification message from PID [0-9]+ \(RELOADING=1' 2 5
tap_ok "the daemon is back to running" wait_prop SubState running 5
tap_is "$(prop ActiveState)/$(prop MainPID)" "active/$pid1" "still active, same main process"
status=$(prop StatusText)
tap_diag "StatusText: $status"
tap_ok "StatusText says the reload failed" grep -q 'Reload failed' <<<"$status"
# (Was a TODO until 1e094e8: STATUS= said only "see the log".)
tap_ok "StatusText names the broken file, place and reason (pools.yaml:5:9: range end ...)" \
        grep -q '/etc/mlbd/pools.yaml:5:9: range end 192.0.2.240 is below its start' <<<"$status"
tap_is "$(wc -l <<<"$status")" 1 "StatusText is still one line"
tap_ok "192.0.2.150 is still on eth0" host_has_addr node1 192.0.2.150
out=$(X mlbctl pools 2>&1)
tap_ok "the pool 'more' from the last good file is still there" grep -q 'more' <<<"$out"
good_pools more >"$R/etc/mlbd/pools.yaml"

# --- watchdog ---
tap_is "$(prop WatchdogUSec)" "2s" "WatchdogUSec=2s (test drop-in over the shipped 10s)"
n0=$(count 'Got notification message from PID [0-9]+ \(WATCHDOG=1\)')
sleep 5
n1=$(count 'Got notification message from PID [0-9]+ \(WATCHDOG=1\)')
tap_diag "WATCHDOG=1 messages in 5 s: $((n1 - n0))"
# sd-event pings at 1/2 to 3/4 of the period: every 1-1.5 s for 2 s.
tap_ok "WATCHDOG=1 keeps coming (at least 3 in 5 s for a 2 s watchdog)" test $((n1 - n0)) -ge 3
tap_is "$(prop ActiveState)/$(prop MainPID)/$(prop NRestarts)" "active/$pid1/0" "up for 5 s (> 2 x WatchdogSec), no restart"
flush0=$(count 'Removed [0-9]+ address')
# never "kill -STOP 0" (an empty or 0 MainPID): that stops the test's own process group
[ "${pid1:-0}" -gt 1 ] 2>/dev/null && X kill -STOP "$pid1"
t=$SECONDS
tap_ok "a SIGSTOPped mlbd is reported for the watchdog" wait_count 'Watchdog timeout' 1 10
tap_ok "... and fails with result 'watchdog'" wait_count "Failed with result 'watchdog'" 1 10
tap_ok "ExecStopPost's --flush removed the address the killed daemon left" \
        wait_count 'Removed 1 address added by mlbd' 1 10
tap_ok "it is restarted (NRestarts=1)" wait_prop NRestarts 1 15
tap_ok "and running again" wait_prop SubState running 15
tap_diag "watchdog kill to running again: $((SECONDS - t)) s"
pid2=$(prop MainPID)
tap_ok "with a new main process ($pid1 -> $pid2)" test "$pid2" != "$pid1" -a "$pid2" != 0
tap_ok "the restarted mlbd puts 192.0.2.150 back from its state" wait_addr node1 192.0.2.150 10

# --- stop ---
X timeout 30 systemctl stop mlbd.service
tap_ok "systemctl stop succeeds" test $? -eq 0
tap_is "$(prop ActiveState)" inactive "ActiveState=inactive"
tap_ok "systemd got STOPPING=1" wait_count 'Got notification message from PID [0-9]+ \(STOPPING=1' 1 5
tap_ok "192.0.2.150 is gone from eth0" not host_has_addr_any node1 192.0.2.150
tap_ok "ExecStopPost's --flush ran after the stop" test "$(count 'Removed [0-9]+ address')" -ge $((flush0 + 2))
tap_is "$(prop Result)" success "Result=success"

# --- no sanitizer reports anywhere ---
out=$(X journalctl -q -o cat --no-pager -u mlbd.service -g 'AddressSanitizer|runtime error|LeakSanitizer' 2>/dev/null)
tap_ok "no ASan/UBSan report in mlbd's journal" test -z "$out" || tap_diag "$out"

tap_diag "total $((SECONDS - T0)) s"
if [ "$TAP_FAILED" -ne 0 ]; then
        tap_diag "mlbd's journal:"
        X journalctl -q -o short-monotonic --no-pager -u mlbd.service | tail -n 80 | sed 's/^/# /'
fi
tap_done
