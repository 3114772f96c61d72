#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbctl against a running mlbd on a namespace LAN: a LoadBalancer Service fed over the
# control socket gets 192.0.2.150; `services`, `pools`, `status`, `peers` show it as
# tables and `--json` parses; `reload` works, and with a broken pools.yaml it exits 1 with
# the FILE:LINE:COL error while nothing changes; a wrong socket exits 1 with the message,
# an unknown command exits 2. Prints TAP.
. "$(dirname "$0")/../lib/lan.sh"
lan_require_root

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
mlbd=$(realpath "$top_builddir/mlbd")
mlbctl=$(realpath "$top_builddir/mlbctl")
ctl="/usr/bin/python3 $top_srcdir/tests/lib/ctl.py"

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
sock=$tmp/mlbd.sock

cat >"$tmp/mlbd.conf" <<CONF
[mlbd]
node_name = node1
pools = $tmp/pools.yaml
socket = $sock
socket_group = root
state_dir = $tmp/state
log_level = debug

[announce]
garp_count = 1
garp_interval_ms = 10

[cluster]
key_file = $tmp/cluster.key
peers = node1=192.0.2.1
CONF
"$mlbd" --gen-key "$tmp/cluster.key" >/dev/null || { echo "Bail out! mlbd --gen-key failed"; exit 1; }
cat >"$tmp/pools.yaml" <<YAML
pools:
  - name: cheap
    addresses:
      - 192.0.2.150-192.0.2.200
YAML
mkdir -p "$tmp/state"
"$mlbd" -c "$tmp/mlbd.conf" --check-config >"$tmp/check.out" 2>&1 ||
        { tap_diag "$(cat "$tmp/check.out")"; echo "Bail out! test config invalid"; exit 1; }

lan_bg node1 "$tmp/mlbd.log" "$mlbd" -c "$tmp/mlbd.conf"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { tap_diag "$(cat "$tmp/mlbd.log")"; echo "Bail out! mlbd did not create $sock"; exit 1; }

svc='{"op":"upsert","id":3,"kind":"Service","object":{"apiVersion":"v1","kind":"Service",
"metadata":{"namespace":"demo","name":"nginx-service","uid":"7d1f2c3b-0000-4000-8000-000000000001",
"resourceVersion":"1","labels":{"app":"nginx"}},
"spec":{"type":"LoadBalancer","selector":{"app":"nginx"},
"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":31080}],
"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","externalTrafficPolicy":"Cluster",
"clusterIP":"10.96.12.8"}}}'
svc=$(tr -d '\n' <<<"$svc")
out=$($ctl "$sock" --until '"op": *"allocated"' \
        '{"op":"hello","id":1,"version":1,"client":"mlbd-bridge","subscribe":true}' \
        '{"op":"leader","id":2,"leader":true}' "$svc" 2>&1)
tap_diag "$out"
tap_ok "the Service is allocated (bridge session)" grep -q '"op": *"allocated".*192\.0\.2\.150' <<<"$out"

# --- services ---
out=$("$mlbctl" -s "$sock" services 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 0 "mlbctl services exits 0"
tap_ok "services has a header row" grep -Eq '^NAMESPACE/NAME +STATE +ADDRESSES +POOL +OWNER +REASON$' <<<"$out"
tap_ok "services shows demo/nginx-service allocated 192.0.2.150 from cheap" \
        grep -Eq '^demo/nginx-service +allocated +192\.0\.2\.150 +cheap ' <<<"$out"
col() { awk -v w="$1" 'NR == 1 { print index($0, w) } NR == 2 { exit }' <<<"$out"; }
col2() { grep "^demo/nginx-service" <<<"$out" | awk -v a="$1" '{ print index($0, a) }'; }
tap_is "$(col2 192.0.2.150)" "$(col ADDRESSES)" "the ADDRESSES column is aligned under its header"

json=$("$mlbctl" -s "$sock" --json services 2>&1); rc=$?
tap_is "$rc" 0 "mlbctl --json services exits 0"
got=$(/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert "op" not in d and "id" not in d, "op/id not stripped"
s = [x for x in d["services"] if x["namespace"] == "demo" and x["name"] == "nginx-service"][0]
print(s["state"], ",".join(s["addresses"]), s["pool"])' <<<"$json" 2>&1)
tap_is "$got" "allocated 192.0.2.150 cheap" "--json services parses, without op/id, and has the address"

# --- pools ---
out=$("$mlbctl" -s "$sock" pools 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 0 "mlbctl pools exits 0"
tap_ok "pools has a header row" grep -Eq '^NAME +SIZE +USED +FREE +RANGES$' <<<"$out"
tap_ok "pool cheap: size 51, 1 used, 50 free" \
        grep -Eq '^cheap +51 +1 +50 +192\.0\.2\.150-192\.0\.2\.200$' <<<"$out"

# --- status, peers ---
out=$("$mlbctl" -s "$sock" status 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 0 "mlbctl status exits 0"
tap_ok "status names node1" grep -Eq '^node: +node1$' <<<"$out"
tap_ok "status has a leader line" grep -Eq '^leader: +(yes|no)$' <<<"$out"
tap_ok "status says the bridge is gone (its session ended)" grep -Eq '^bridge: +not connected$' <<<"$out"
tap_ok "status lists the owned address" grep -Eq '^owned addresses: +1 \(192\.0\.2\.150\)$' <<<"$out"
tap_ok "status counts peers" grep -Eq '^peers: +1 alive of 1$' <<<"$out"
tap_ok "status counts 1 service allocated" grep -Eq '^services: +1 total, 1 allocated, 0 failed$' <<<"$out"
out=$("$mlbctl" -s "$sock" peers 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 0 "mlbctl peers exits 0"
tap_ok "peers has a header row" grep -Eq '^NAME +ADDRESS +STATE +LAST-SEEN +OWNED$' <<<"$out"
tap_ok "peers shows node1 alive" grep -Eq '^node1 +.* alive ' <<<"$out"
tap_ok "peers says no heartbeat was dropped" grep -qx 'heartbeats dropped: none' <<<"$out"
# a forged heartbeat (another key) from the client, which is no member: counted (as
# unknown_peer: dropped before its tag is computed), and shown by reason
lan_exec client /usr/bin/python3 "$top_srcdir/tests/lib/hb-send.py" --key "$tmp/cluster.key" --name node2 wrongkey 192.0.2.1:7947 >/dev/null 2>&1
sleep 0.2
out=$("$mlbctl" -s "$sock" peers 2>&1)
tap_ok "after a forged heartbeat: 'heartbeats dropped: unknown_peer 1'" grep -qx 'heartbeats dropped: unknown_peer 1' <<<"$out"
out=$("$mlbctl" -s "$sock" --json peers 2>&1)
tap_is "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["heartbeats_dropped"]["unknown_peer"])' <<<"$out")" 1 \
        "--json peers: heartbeats_dropped.unknown_peer = 1"

# --- reload ---
out=$("$mlbctl" -s "$sock" reload 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 0 "mlbctl reload exits 0"
tap_ok "reload says reloaded: 1 pools" grep -q '^reloaded: 1 pools' <<<"$out"

cat >"$tmp/pools.yaml" <<YAML
pools:
  - name: cheap
    addresses:
      - 192.0.2.200-192.0.2.150
YAML
out=$("$mlbctl" -s "$sock" reload 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 1 "mlbctl reload with a broken pools.yaml exits 1"
tap_ok "the error names FILE:LINE:COL" grep -Eq "^$tmp/pools.yaml:4:[0-9]+: " <<<"$out"
tap_ok "and names the error code, saying nothing changed" grep -Eq '^mlbctl: reload_failed: .*nothing' <<<"$out"
json=$("$mlbctl" -s "$sock" --json reload 2>/dev/null); rc=$?
tap_is "$rc" 1 "mlbctl --json reload fails with exit 1 too"
got=$(/usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["error"], len(d["diagnostics"]))' <<<"$json" 2>&1)
tap_is "$got" "reload_failed 1" "--json prints the error object with its diagnostics"
out=$("$mlbctl" -s "$sock" services 2>&1)
tap_ok "services still shows 192.0.2.150 (nothing changed)" \
        grep -Eq '^demo/nginx-service +allocated +192\.0\.2\.150 +cheap ' <<<"$out"

# --- errors ---
out=$("$mlbctl" -s "$tmp/nope.sock" status 2>&1); rc=$?
tap_is "$rc" 1 "a wrong socket path exits 1"
tap_is "$out" "mlbctl: cannot connect to $tmp/nope.sock: No such file or directory" "with the message"
out=$("$mlbctl" -s "$sock" frobnicate 2>&1); rc=$?
tap_is "$rc" 2 "an unknown command exits 2"
tap_ok "and prints the usage" grep -q '^Usage: mlbctl' <<<"$out"
out=$("$mlbctl" -s "$sock" 2>&1); rc=$?
tap_is "$rc" 2 "no command exits 2"

# A listener that accepts but never answers: mlbctl gives up after 10 s with exit 1.
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); time.sleep(15)' "$tmp/mute.sock" &
LAN_PIDS+=("$!")
for _ in $(seq 50); do [ -S "$tmp/mute.sock" ] && break; sleep 0.05; done
start=$SECONDS
out=$("$mlbctl" -s "$tmp/mute.sock" status 2>&1); rc=$?
tap_diag "$out"
tap_is "$rc" 1 "no reply within 10 s exits 1"
tap_ok "after about 10 s ($((SECONDS - start)) s)" eval '[ $((SECONDS - start)) -ge 9 ] && [ $((SECONDS - start)) -le 12 ]'
tap_ok "saying so" grep -q 'no reply from mlbd within 10 s' <<<"$out"

tap_ok "mlbd still running" kill -0 "${LAN_PIDS[0]}"
tap_done
