#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd-bridge's control-socket client (k8s-bridge/ctl-client.c) against a real mlbd on a
# namespace LAN, through tests/integration/ctl-client-tool: hello; a ~3.5 MiB sync split
# into parts that mlbd takes whole; an object too large for a line skipped with a log line
# while the rest goes through; leader true -> `allocated`; upsert and delete; an error
# reply logged naming the request; mlbd killed and started again -> `disconnected`, a
# reconnect within seconds, `connected` again, and the re-sent sync + leader bring the
# allocation back.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

TOOL=${CTL_CLIENT_TOOL:-${top_builddir:-.}/tests/integration/ctl-client-tool}
[ -x "$TOOL" ] || { echo "Bail out! $TOOL is not built"; exit 1; }

lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
out=$tmp/tool.out
daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }

# The tool reads commands from a FIFO held open here (read-write, so neither side blocks).
mkfifo "$tmp/cmd"
exec 3<>"$tmp/cmd"
# (through sh: a command put in the background gets /dev/null as stdin; exec keeps the PID)
lan_bg node1 "$out" sh -c 'exec "$0" -v "$1" node1 <"$2"' "$TOOL" "$tmp/mlbd.sock" "$tmp/cmd"
TOOL_PID=$LAN_LAST_PID
send() { echo "$*" >&3; }
# Lines of the tool's output after line $1 (so a check sees only what came after a mark).
after() { tail -n +"$(($1 + 1))" "$out"; }
mark() { wc -l <"$out"; }
# Wait (bounded) until a line after mark $1 matches ERE $2.
wait_after() {
        local m=$1 re=$2 secs=${3:-10} i
        for ((i = 0; i < secs * 20; i++)); do
                after "$m" | grep -Eq -- "$re" && return 0
                sleep 0.05
        done
        return 1
}
services() {
        daemon_ctl "$tmp" --until '"op": *"services"' --timeout 5 "$TEST_HELLO" \
                '{"op":"services","id":"s"}' | grep '"op": *"services"'
}

tap_ok "hello answered: the tool reports connected 1" lan_wait_for "$out" '^connected 1$' 5
tap_is "$(json_get "$(daemon_status "$tmp")" 'j["bridge_connected"]')" True \
        "mlbd counts it as a bridge (hello client mlbd-bridge)"
tap_ok "and the node it named is mlbd's" not grep -q 'says it runs on node' "$tmp/mlbd.log.run"

# --- a sync of ~3.5 MiB: 3000 Services with 1 KiB annotations each, in parts ---
"$PY" - "$tmp/big.json" <<'EOF'
import json, sys
svcs = [{"metadata": {"namespace": "demo", "name": "svc-%04d" % i, "uid": "u-%d" % i,
                      "annotations": {"example.com/filler": "x" * 1024}},
         "spec": {"type": "LoadBalancer", "ports": [{"protocol": "TCP", "port": 80}]}}
        for i in range(3000)]
json.dump({"services": svcs, "endpointslices": [],
           "nodes": [{"metadata": {"name": "node1"}}],
           "namespaces": [{"metadata": {"name": "demo"}}]}, open(sys.argv[1], "w"))
EOF
m=$(mark)
send "sync $tmp/big.json"
tap_ok "the last part of the big sync is answered pending false" \
        wait_after "$m" 'took sync part ([0-9]+)/\1: pending false' 20
parts=$(after "$m" | sed -n 's/.*sync of \([0-9]*\) bytes in \([0-9]*\) parts.*/\1 \2/p' | tail -1)
tap_diag "sync bytes and parts: $parts"
read -r bytes nparts <<<"$parts"
tap_ok "the sync was over 3 MiB" [ "${bytes:-0}" -gt $((3 * 1024 * 1024)) ]
tap_ok "it went in at least 5 parts of at most 768 KiB" [ "${nparts:-0}" -ge 5 ]
tap_is "$(after "$m" | grep -c 'took sync part [0-9]*/[0-9]*: pending true')" $((${nparts:-0} - 1)) \
        "every part but the last answered pending true"
tap_ok "no error reply" not grep -q 'refused' <(after "$m")
# (too long for an argument: json_get reads it from a file)
services >"$tmp/services.json"
stdin_get() { "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
tap_is "$(stdin_get 'len(j["services"])' <"$tmp/services.json")" 3000 "mlbd holds all 3000 Services"
tap_is "$(stdin_get 'j["services"][2999]["name"]' <"$tmp/services.json")" svc-2999 \
        "the last one included"

# --- a small sync with one object too large for a line: skipped, the rest goes through ---
"$PY" - "$tmp/small.json" <<'EOF'
import json, sys
def svc(name, uid, **ann):
    return {"metadata": {"namespace": "demo", "name": name, "uid": uid, "annotations": ann},
            "spec": {"type": "LoadBalancer", "selector": {"app": name},
                     "ports": [{"protocol": "TCP", "port": 80}]}}
json.dump({"services": [svc("huge", "u-huge", **{"example.com/filler": "y" * (800 * 1024)}),
                        svc("web", "u-web")],
           "endpointslices": [],
           "nodes": [{"metadata": {"name": "node1"},
                      "status": {"conditions": [{"type": "Ready", "status": "True"}]}}],
           "namespaces": [{"metadata": {"name": "demo"}}]}, open(sys.argv[1], "w"))
EOF
m=$(mark)
send "sync $tmp/small.json"
tap_ok "the small sync is taken" wait_after "$m" 'took sync part 1/1: pending false' 10
tap_ok "the too large Service is skipped with a log line naming it" \
        grep -Eq 'skipping Service demo/huge: [0-9]+ bytes' <(after "$m")
got=$(services)
tap_is "$(json_get "$got" '[s["name"] for s in j["services"]]')" "['web']" \
        "mlbd holds demo/web (the sync replaced the 3000, without demo/huge)"

# --- leader true -> allocated ---
m=$(mark)
send "leader true"
send "wait-notification allocated 10"
tap_ok "leader true: an allocated notification for demo/web arrives" \
        wait_after "$m" '^notification allocated .*"demo/web".*"192\.0\.2\.150"' 10
tap_ok "the tool's wait for it ended" wait_after "$m" '^waited allocated$' 2
tap_ok "192.0.2.150 is on node1's eth0" wait_addr node1 192.0.2.150 5

# --- upsert and delete ---
svc_json demo api u-api >"$tmp/api.json"
m=$(mark)
send "upsert Service $tmp/api.json"
tap_ok "upsert: allocated for demo/api" \
        wait_after "$m" '^notification allocated .*"demo/api".*"192\.0\.2\.151"' 10
tap_ok "the reply said created" grep -q 'took upsert Service demo/api: created' <(after "$m")
m=$(mark)
send "delete Service demo api u-api"
tap_ok "delete: released for demo/api" wait_after "$m" '^notification released .*"demo/api"' 10
tap_ok "the reply said deleted" grep -q 'took delete Service demo/api: deleted' <(after "$m")
tap_ok "192.0.2.151 leaves node1's eth0" wait_no_addr node1 192.0.2.151 5

# --- an error reply is logged with its detail, naming the request ---
echo '{"metadata":{"namespace":"demo","name":"bad","uid":"u-bad"},"spec":{"type":"LoadBalancer","ports":[{"port":"http"}]}}' >"$tmp/bad.json"
m=$(mark)
send "upsert Service $tmp/bad.json"
tap_ok "error reply logged: request, code and detail" \
        wait_after "$m" 'mlbd refused upsert Service demo/bad: bad_message: line [0-9]+: object\.spec\.ports\[0\]\.port' 5
send "delete Service demo bad"

# --- mlbd killed and started again ---
m=$(mark)
daemon_stop KILL
tap_ok "the tool reports disconnected 1" wait_after "$m" '^disconnected 1$' 5
sleep 1.5 # a few refused attempts, so the backoff has grown
tap_ok "it keeps trying while mlbd is down" grep -q 'not reachable' <(after "$m")
m=$(mark)
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start again"; exit 1; }
t0=$(date +%s.%N)
tap_ok "reconnected: connected 2" wait_after "$m" '^connected 2$' 8
t1=$(date +%s.%N)
dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
tap_diag "reconnected ${dt}s after mlbd answered again"
tap_ok "within 6 s (backoff at most 5 s)" awk -v d="$dt" 'BEGIN { exit !(d <= 6) }'
tap_ok "its connected callback re-sent the sync and leader true" \
        wait_after "$m" '^ok leader true \(again\)$' 5
tap_ok "the allocation comes back: allocated for demo/web" \
        wait_after "$m" '^notification allocated .*"demo/web".*"192\.0\.2\.150"' 10
got=$(daemon_status "$tmp")
tap_is "$(json_get "$got" 'j["leader"]')" True "mlbd is leader again (the re-sent leader true)"
tap_is "$(json_get "$got" 'j["bridge_connected"]')" True "and sees the bridge connected"
tap_is "$(json_get "$(services)" '[s["name"] for s in j["services"]]')" "['web']" \
        "the re-sent sync restored the model (demo/huge skipped again)"

# --- mlbd stopped (SIGSTOP): requests pile up; past the queue bound (64 MiB beyond the
# last sync) the client drops the connection and, once mlbd runs again, resyncs ---
kill -STOP "$DAEMON_PID"
m=$(mark)
for _ in $(seq 25); do send "sync $tmp/big.json"; done
tap_ok "the queue bound is hit: the client gives up the connection" \
        wait_after "$m" 'more than 67108864.*; reconnecting' 60
tap_ok "and reports disconnected 2" wait_after "$m" '^disconnected 2$' 5
kill -CONT "$DAEMON_PID"
tap_ok "mlbd running again: connected 3" wait_after "$m" '^connected 3$' 15
tap_diag "$(after "$m" | grep -v '^<7>' | uniq -c | head -20)"
tap_ok "the resync (the 3000 from the cache) is taken whole" \
        wait_after "$m" 'took sync part ([0-9]+)/\1: pending false.* 3000 services' 30
services >"$tmp/services.json"
tap_is "$(stdin_get 'len(j["services"])' <"$tmp/services.json")" 3000 "mlbd holds the 3000 again"

m=$(mark)
send "quit"
for _ in $(seq 50); do kill -0 "$TOOL_PID" 2>/dev/null || break; sleep 0.1; done
tap_ok "the tool exits on quit" not kill -0 "$TOOL_PID"
{ wait "$TOOL_PID"; } 2>/dev/null
tap_is "$?" 0 "with status 0"
tap_ok "no sanitizer report" not grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$out"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
tap_done
