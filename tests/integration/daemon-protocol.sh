#!/bin/bash
# SPDX-License-Identifier: MIT
# docs/protocol.md against the running mlbd: the handshake (hello_required, version_mismatch
# then a retry on the same connection, the hello reply), framing (blank lines, CRLF, line
# numbers), multi-part sync (pending replies, the model untouched until the last part, every
# refused part or refused sync changing nothing), sync replacing the model, upsert/delete
# of all four kinds with their generation and result (uid_mismatch, absent), what
# Namespaces, Nodes and EndpointSlices decide (a namespace_selector pool, a node_selector
# pool, externalTrafficPolicy Local), leader semantics (only the leader allocates, a
# non-leader adopts from the status, who ends the leadership by closing), subscribe, the
# status/services/pools replies and a reload over the socket. A documented behaviour the
# daemon got wrong when this test was written (16 of them, all fixed since) quotes the line
# of docs/protocol.md it is about (doc).
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
NS1=$(lan_ns node1)
log=$tmp/mlbd.log.run

daemon_conf "$tmp" node1
cat >>"$tmp/pools.yaml" <<'EOF'
  - name: teams
    addresses:
      - 192.0.2.16-192.0.2.31
    auto_assign: false
    namespace_selector:
      team: web
  - name: picky
    addresses:
      - 192.0.2.40-192.0.2.47
    auto_assign: false
    node_selector:
      lb: "yes"
EOF
cp "$tmp/pools.yaml" "$tmp/pools.good"

# conv: a conversation over several connections, read from stdin, one step a line:
#   N> MSG     send MSG on connection N (connected on first use) and read until its reply
#              (3 s at most): the line carrying MSG's id, or an error without id; it is also
#              printed as "N= ID LINE"; N>! MSG sends without waiting, N>cr MSG
#              ends it with CRLF (no waiting either)
#   N wait RE  read N until a line matches RE (5 s at most); N drain S reads N for S seconds
#   N close    close N;  sleep S;  addr A yes|no   wait (3 s at most) until node1's eth0
#              has (or has not) A, prints "addr A yes|no: ok|TIMEOUT"
# Every line received is printed as "N< LINE".
cat >"$tmp/conv.py" <<'PY'
import json, re, socket, subprocess, sys, time
path, ns = sys.argv[1], sys.argv[2]
conns, bufs = {}, {}
NOTES = ("allocated", "allocation_failed", "node_assigned", "released")
def conn(n):
    if n not in conns:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        conns[n], bufs[n] = s, b""
    return conns[n]
def read_until(n, pred, timeout):
    s, end = conns[n], time.monotonic() + timeout
    while True:
        while b"\n" in bufs[n]:
            line, bufs[n] = bufs[n].split(b"\n", 1)
            t = line.decode(errors="replace")
            print(f"{n}< {t}", flush=True)
            if pred(t):
                return True
        left = end - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            d = s.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            print(f"{n}< <RESET>", flush=True)
            return False
        if not d:
            print(f"{n}< <EOF>", flush=True)
            return False
        bufs[n] += d
def is_reply(n, id_):
    # the reply carrying id_; replies come in order, so an error without an id that
    # arrives now answers this request too (tagged "N= ID" for rep)
    def f(t):
        try:
            j = json.loads(t)
        except ValueError:
            return False
        if not isinstance(j, dict) or j.get("op") in NOTES:
            return False
        if j.get("id") == id_ or (j.get("op") == "error" and "id" not in j):
            print(f"{n}= {id_} {t}", flush=True)
            return True
        return False
    return f
def has_addr(a):
    out = subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "addr", "show", "dev", "eth0"],
                         capture_output=True, text=True).stdout
    return (" %s/" % a) in out
for raw in sys.stdin:
    raw = raw.rstrip("\n")
    if not raw.strip() or raw.lstrip().startswith("#"):
        continue
    m = re.match(r"^(\d+)(>!|>cr|>) ?(.*)$", raw)
    if m:
        n, how, msg = m.group(1), m.group(2), m.group(3)
        conn(n).sendall(msg.encode() + (b"\r\n" if how == ">cr" else b"\n"))
        if how == ">":
            read_until(n, is_reply(n, json.loads(msg).get("id")), 3)
        continue
    w = raw.split(None, 2)
    if w[0] == "sleep":
        time.sleep(float(w[1]))
    elif w[0] == "addr":
        end, want = time.monotonic() + 3, w[2] == "yes"
        while has_addr(w[1]) != want and time.monotonic() < end:
            time.sleep(0.05)
        print("addr %s %s: %s" % (w[1], w[2], "ok" if has_addr(w[1]) == want else "TIMEOUT"), flush=True)
    elif w[1] == "close":
        conns.pop(w[0]).close()
    elif w[1] == "wait":
        read_until(w[0], lambda t: re.search(w[2], t), 5)
    elif w[1] == "drain":
        read_until(w[0], lambda t: False, float(w[2]))
PY
conv() { "$PY" "$tmp/conv.py" "$tmp/mlbd.sock" "$NS1"; }

# rep OUT CONN ID: the reply to request ID on connection CONN (empty if none)
rep() { sed -n "s/^$2= $3 //p" <<<"$1" | head -n 1; }
# jf JSON EXPR: json_get, or "<no reply>" when JSON is empty or not JSON
jf() { json_get "$1" "$2" 2>/dev/null || echo "<no reply>"; }
# doc LINE-TEXT: quote the documented behaviour the next check is about
doc() { tap_diag "docs/protocol.md: \"$1\""; }
status_now() { daemon_status "$tmp"; }
services_now() {
        sleep 0.3 # the reconcile after a change runs at idle priority: let it catch up
        daemon_ctl "$tmp" --until '"op": *"services"' --timeout 3 "$TEST_HELLO" '{"op":"services","id":"s"}' |
                grep '"op": *"services"'
}
pools_now() {
        daemon_ctl "$tmp" --until '"op": *"pools"' --timeout 3 "$TEST_HELLO" '{"op":"pools","id":"p"}' |
                grep '"op": *"pools"'
}
# svc NS NAME UID [METADATA-EXTRA [SPEC-EXTRA [TOP-EXTRA]]]: a LoadBalancer Service, selector
# app=NAME (no two share a selector), TCP 80
svc() {
        printf '{"metadata":{"namespace":"%s","name":"%s","uid":"%s"%s},"spec":{"type":"LoadBalancer","selector":{"app":"%s"},"ports":[{"protocol":"TCP","port":80}]%s}%s}' \
                "$1" "$2" "$3" "${4:+,$4}" "$2" "${5:+,$5}" "${6:+,$6}"
}
BHELLO=$HELLO # the bridge: mlbd-bridge, node1, subscribed
THELLO=$TEST_HELLO
ALL4='"endpointslices":[],"nodes":[],"namespaces":[]'
NSDEMO='{"metadata":{"name":"demo","labels":{"team":"a"}}}'
SA=$(svc demo a u-a)
SB=$(svc demo b u-b)
SC=$(svc demo c u-c)
SD=$(svc demo d u-d)
BADSVC='{"metadata":{"namespace":"demo","name":"bad","uid":"u-bad"},"spec":{"type":"LoadBalancer","ports":[{"protocol":"TCP","port":"http"}]}}'

daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }

# ---- 3. Handshake, 1. Framing ----------------------------------------------------------
out=$(conv <<EOF
1> {"op":"leader","id":"early","leader":true}
1> {"op":"status","id":"early2"}
1> {"op":"hello","id":"v2","version":2,"client":"mlbd-test"}
1> {"op":"hello","id":"v1","version":1,"client":"mlbd-test","node":"node9"}
1> {"op":"status","id":"st1"}
2> $THELLO
2>!
2 drain 0.2
2>cr {"op":"status","id":"crlf"}
2 wait "crlf"
2> {"op":"status","id":"afterblank"}
2>! {"op":"status",
2 drain 0.3
EOF
)
tap_diag "$out"
r=$(rep "$out" 1 early)
tap_is "$(jf "$r" 'j["op"], j["error"]')" "('error', 'hello_required')" "a request before hello: error hello_required, with its id"
tap_is "$(jf "$(rep "$out" 1 early2)" 'j["error"]')" "hello_required" "and so is every request until hello"
tap_is "$(jf "$(rep "$out" 1 st1)" 'j["leader"]')" "False" "the refused leader request was not executed"
r=$(rep "$out" 1 v2)
tap_is "$(jf "$r" 'j["error"], j["min_version"], j["max_version"]')" "('version_mismatch', 1, 1)" "hello version 2: version_mismatch with min_version 1, max_version 1"
tap_ok "its detail names the versions" grep -q 'client speaks version 2, this mlbd speaks versions 1-1' <<<"$r"
doc 'If mlbd does not speak the client'"'"'s version the reply is an error carrying the range [example: "op": "error", "id": 1, "error": "version_mismatch"]'
tap_is "$(jf "$r" 'j.get("id")')" "v2" "the version_mismatch error carries the hello's id"
r=$(rep "$out" 1 v1)
tap_is "$(jf "$r" 'j["op"], j["version"], j["min_version"], j["max_version"], j["server"], j["node"], type(j["server_version"]).__name__')" \
        "('hello', 1, 1, 1, 'mlbd', 'node1', 'str')" "after version_mismatch the same connection says hello with version 1: the hello reply"
tap_is "$(jf "$(rep "$out" 1 st1)" 'j["op"]')" "status" "and its requests are carried out"
doc '| `node` | text, up to 253 bytes | no | the node the client thinks it serves; mlbd logs a warning if it is not its own name |'
tap_is "$(grep -c 'node9' "$log")" "1" "hello with node node9 (mlbd is node1): a warning in the log naming node9"
doc "Empty and blank lines are ignored."
tap_is "$(grep -c '^2< .*"error"' <<<"$out" | tr -d ' ')" "1" "a blank line gets no reply (only the broken last line is an error)"
tap_ok "a line ending in CRLF is answered" grep -q '^2< {"op":"status","id":"crlf"' <<<"$out"
tap_ok "the request after the blank line is answered" grep -q '^2< {"op":"status","id":"afterblank"' <<<"$out"
bad=$(grep '^2< .*"bad_json"' <<<"$out" | tail -n 1)
tap_ok "line numbers count blank lines: the broken 5th line is 'line 5: column N'" grep -q '"line 5: column [0-9]' <<<"$bad"

# ---- 5. sync in parts --------------------------------------------------------------------
g0=$(jf "$(status_now)" 'j["generation"]')
out=$(conv <<EOF
1> $THELLO
2> $THELLO
1> {"op":"sync","id":"p1","more":true,"services":[$SA],$ALL4}
2> {"op":"status","id":"mid"}
2> {"op":"services","id":"midsvc"}
1> {"op":"sync","id":"p2","continue":true,"more":true,"services":[$SB]}
1> {"op":"sync","id":"p3","continue":true,"namespaces":[$NSDEMO]}
2> {"op":"status","id":"after"}
sleep 0.3
2> {"op":"services","id":"svcs"}
EOF
)
tap_diag "$out"
sel='j["pending"], j["generation"], j["services"], j["endpointslices"], j["nodes"], j["namespaces"]'
tap_is "$(jf "$(rep "$out" 1 p1)" "$sel")" "(True, $g0, 1, 0, 0, 0)" "part 1 (more): pending, the old generation, the counts gathered so far"
tap_is "$(jf "$(rep "$out" 2 mid)" 'j["generation"]')" "$g0" "between the parts another client sees the old generation"
tap_is "$(jf "$(rep "$out" 2 midsvc)" 'len(j["services"])')" "0" "and none of the Services of the unfinished sync"
tap_is "$(jf "$(rep "$out" 1 p2)" "$sel")" "(True, $g0, 2, 0, 0, 0)" "part 2 (continue, more): pending, 2 Services so far"
g1=$((g0 + 1))
tap_is "$(jf "$(rep "$out" 1 p3)" "$sel")" "(False, $g1, 2, 0, 0, 1)" "last part: applied, generation + 1, counts of the whole sync"
tap_is "$(jf "$(rep "$out" 2 after)" 'j["generation"]')" "$g1" "status shows the new generation"
tap_is "$(jf "$(rep "$out" 2 svcs)" '[(s["namespace"], s["name"], s["uid"], s["state"], s["addresses"], s["pool"], s["owner"]) for s in j["services"]]')" \
        "[('demo', 'a', 'u-a', 'pending', [], None, None), ('demo', 'b', 'u-b', 'pending', [], None, None)]" \
        "no leader: both Services pending, no address (only a leader allocates)"
tap_is "$(jf "$(rep "$out" 2 svcs)" 'sorted(j["services"][0].keys())')" \
        "['addresses', 'name', 'namespace', 'owner', 'pool', 'reason', 'sharing_key', 'state', 'uid']" \
        "services reply: every documented key present"

# ---- refused parts and syncs change nothing ------------------------------------------
out=$(conv <<EOF
1> $THELLO
1> {"op":"sync","id":"c1","continue":true,"services":[$SC]}
1> {"op":"sync","id":"f1","more":true,"services":[$SC],"endpointslices":[]}
1> {"op":"sync","id":"q1","more":true,"services":[$SC],$ALL4}
1> {"op":"status","id":"q2"}
1> {"op":"sync","id":"q3","continue":true,"services":[$SD]}
1> {"op":"sync","id":"d1","more":true,"services":[$SC],$ALL4}
1> {"op":"sync","id":"d2","continue":true,"more":true,"services":[$SC]}
1> {"op":"sync","id":"d3","continue":true,"services":[$SD]}
1> {"op":"sync","id":"x1","services":[$SC,$BADSVC],$ALL4}
1> {"op":"sync","id":"x2","services":[$SC,$SC],$ALL4}
3> $THELLO
3> {"op":"sync","id":"r1","more":true,"services":[$SC],$ALL4}
3 close
sleep 0.1
4> $THELLO
4> {"op":"sync","id":"r2","continue":true,"services":[$SD]}
EOF
)
tap_diag "$out"
e() { jf "$(rep "$out" "$1" "$2")" 'j["op"], j["error"]'; }
tap_is "$(e 1 c1)" "('error', 'bad_message')" "continue with no unfinished sync: bad_message"
tap_is "$(e 1 f1)" "('error', 'bad_message')" "a first part without all four arrays: bad_message"
tap_is "$(e 1 q2)" "('error', 'sync_in_progress')" "a status between the parts: sync_in_progress"
tap_ok "and the status was not answered" not grep -q '"op": *"status"' <<<"$out"
tap_is "$(e 1 q3)" "('error', 'bad_message')" "the unfinished sync was dropped: its continuation is a bad_message"
tap_is "$(e 1 d2)" "('error', 'duplicate')" "an object sent in two parts: duplicate"
tap_is "$(e 1 d3)" "('error', 'bad_message')" "which dropped the whole sync"
tap_is "$(e 1 x1)" "('error', 'bad_message')" "a single sync with one malformed Service: bad_message"
tap_is "$(e 1 x2)" "('error', 'duplicate')" "a single sync with a Service twice: duplicate"
tap_is "$(e 4 r2)" "('error', 'bad_message')" "closing the connection dropped its unfinished sync"
doc '{"op":"error","id":<the request'"'"'s id, when it could be read>,"error":"<code>","detail":"<what is wrong, in words>"}'
for i in c1 q2 d2; do
        tap_is "$(jf "$(rep "$out" 1 $i)" '"id" in j')" "True" "the $(e 1 $i | cut -d"'" -f4) error to request $i carries its id"
done
tap_is "$(jf "$(status_now)" 'j["generation"]')" "$g1" "after all of them: generation unchanged"
tap_is "$(jf "$(services_now)" 'sorted(s["name"] for s in j["services"])')" "['a', 'b']" "the model still holds demo/a and demo/b only"

# a malformed continuation part
out=$(conv <<EOF
1> $THELLO
1> {"op":"sync","id":"m1","more":true,"services":[$SC],$ALL4}
1> {"op":"sync","id":"m2","continue":true,"more":true,"services":[$BADSVC]}
1> {"op":"sync","id":"m3","continue":true,"services":[$SD]}
EOF
)
tap_diag "$out"
tap_is "$(e 1 m2)" "('error', 'bad_message')" "a malformed object in a continuation part: bad_message"
tap_ok "naming the line and field" grep -q '"line 3: services\[0\]\.spec\.ports\[0\]\.port' <<<"$(rep "$out" 1 m2)"
doc "an error in any part (including an object sent in two parts, \`duplicate\`) drops the whole sync"
tap_is "$(e 1 m3)" "('error', 'bad_message')" "which dropped the whole sync: the next continuation is refused"
doc "if any one is invalid, or two have the same key, the whole sync is refused with an error and **nothing changes**"
tap_is "$(jf "$(services_now)" 'sorted(s["name"] for s in j["services"])')" "['a', 'b']" "the model still holds demo/a and demo/b only"

# a sync without continue drops an unfinished one and starts anew
gb=$(jf "$(status_now)" 'j["generation"]')
out=$(conv <<EOF
1> $THELLO
1> {"op":"sync","id":"n1","more":true,"services":[$SC],$ALL4}
1> {"op":"sync","id":"n2","more":true,"services":[$SA],$ALL4}
1> {"op":"sync","id":"n3","continue":true,"services":[$SB],"namespaces":[$NSDEMO]}
EOF
)
tap_diag "$out"
g2=$((gb + 1))
tap_is "$(jf "$(rep "$out" 1 n3)" "$sel")" "(False, $g2, 2, 0, 0, 1)" "a new first part dropped the unfinished sync: the result counts a and b only"
tap_is "$(jf "$(services_now)" 'sorted(s["name"] for s in j["services"])')" "['a', 'b']" "demo/c (of the dropped sync) is not in the model"

# ---- leader, notifications, subscribe ---------------------------------------------------
g2=$(jf "$(status_now)" 'j["generation"]')
out=$(conv <<EOF
1> $BHELLO
2> {"op":"hello","id":"h2","version":1,"client":"mlbd-test","subscribe":false}
3> {"op":"hello","id":"h3","version":1,"client":"mlbd-test"}
1> {"op":"leader","id":"L1","leader":true}
1 wait "node_assigned".*demo/b
1> $(upsert_msg '"U1"' "$SC")
1 wait "node_assigned".*demo/c
2 drain 0.3
3 drain 0.1
4> $BHELLO
4 close
sleep 0.2
5> $THELLO
5> {"op":"status","id":"lst"}
1> {"op":"leader","id":"L2","leader":true}
1> {"op":"leader","id":"L3","leader":false}
5> {"op":"status","id":"lst2"}
1> $(upsert_msg '"U2"' "$SD")
1 drain 0.5
5> {"op":"services","id":"sv"}
1> $(upsert_msg '"U3"' "$(svc demo e u-e '' '' '"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.170"}]}}')")
addr 192.0.2.170 yes
5> {"op":"services","id":"sv2"}
6> $THELLO
6> {"op":"leader","id":"L6","leader":true}
6 close
sleep 0.2
5> {"op":"status","id":"lst3"}
EOF
)
tap_diag "$out"
tap_is "$(jf "$(rep "$out" 1 L1)" 'j["op"], j["leader"]')" "('leader', True)" "leader true: reply leader true"
tap_ok "the leader allocates the pending demo/a" grep -q '^1< {"op": *"allocated".*"demo/a"' <<<"$out"
tap_ok "and demo/b" grep -q '^1< {"op": *"allocated".*"demo/b"' <<<"$out"
r=$(rep "$out" 1 U1)
tap_is "$(jf "$r" 'j["op"], j["kind"], j["key"], j["result"], j["generation"]')" "('upsert', 'Service', 'demo/c', 'created', $((g2 + 1)))" \
        "upsert of a new Service: result created, generation + 1"
tap_ok "its allocated notification comes after the upsert reply" \
        "$PY" -c 'import sys; l = sys.argv[1].splitlines(); r = [i for i, x in enumerate(l) if "\"U1\"" in x]; a = [i for i, x in enumerate(l) if "allocated" in x and "demo/c" in x]; sys.exit(not (r and a and r[0] < a[0]))' "$out"
tap_is "$(grep -c '^[23]< {"op": *"\(allocated\|node_assigned\|allocation_failed\|released\)"' <<<"$out")" 0 \
        "clients with subscribe false or absent get no notifications"
tap_is "$(jf "$(rep "$out" 3 h3)" 'j["op"]')" "hello" "(they did say hello)"
doc "If the connection that made mlbd the leader closes, mlbd stops being the leader"
tap_is "$(jf "$(rep "$out" 5 lst)" 'j["leader"]')" "True" "another bridge connection closing leaves the leader (made by connection 1, still open) the leader"
tap_is "$(jf "$(rep "$out" 1 L3)" 'j["leader"]')" "False" "leader false: reply leader false"
tap_is "$(jf "$(rep "$out" 5 lst2)" 'j["leader"]')" "False" "status: not the leader"
tap_ok "a non-leader does not allocate the new demo/d" not grep -q '"allocated".*demo/d' <<<"$out"
tap_is "$(jf "$(rep "$out" 5 sv)" '[(s["state"], s["addresses"]) for s in j["services"] if s["name"] == "d"]')" "[('pending', [])]" \
        "demo/d is pending with no address"
tap_ok "a non-leader adopts demo/e's status address 192.0.2.170 and announces it" grep -q 'addr 192.0.2.170 yes: ok' <<<"$out"
tap_is "$(jf "$(rep "$out" 5 sv2)" '[(s["state"], s["addresses"], s["pool"], s["owner"]) for s in j["services"] if s["name"] == "e"]')" \
        "[('allocated', ['192.0.2.170'], 'cheap', 'node1')]" "services: demo/e allocated 192.0.2.170 from cheap, owner node1"
doc "If the connection that made mlbd the leader closes, mlbd stops being the leader"
tap_is "$(jf "$(rep "$out" 5 lst3)" 'j["leader"]')" "False" "a non-bridge connection that made mlbd the leader closes: no longer the leader"
# whatever the daemon did, leave it a non-leader
daemon_ctl "$tmp" --until '"L9"' --timeout 2 "$THELLO" '{"op":"leader","id":"L9","leader":false}' >/dev/null

# ---- upsert/delete of the other kinds and what they decide --------------------------------
TEAMSVC=$(svc web teamsvc u-t '"annotations":{"mlbd.io/address-pool":"teams"}')
NSWEB='{"metadata":{"name":"web","labels":{"team":"web"}}}'
PICKY=$(svc demo picky u-p '"annotations":{"mlbd.io/address-pool":"picky"}')
NODE1='{"metadata":{"name":"node1","labels":{"lb":"yes"}},"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.1"}],"conditions":[{"type":"Ready","status":"True"}]}}'
LOCAL=$(svc demo local u-l '"annotations":{"mlbd.io/loadBalancerIPs":"192.0.2.180"}' '"externalTrafficPolicy":"Local"')
SHFAIL=$(svc demo shfail u-sf '"annotations":{"mlbd.io/address-pool":"teams","mlbd.io/allow-shared-ip":"k1"}')
PICKY_ST=$(svc demo picky u-p '"annotations":{"mlbd.io/address-pool":"picky"}' '' '"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.40"}]}}')
LOCAL_ST=$(svc demo local u-l '"annotations":{"mlbd.io/loadBalancerIPs":"192.0.2.180"}' '"externalTrafficPolicy":"Local"' '"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.180"}]}}')
slice() { printf '{"metadata":{"namespace":"demo","name":"local-1","labels":{"kubernetes.io/service-name":"local"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.5"],"nodeName":"node1"%s}]}' "${1:+,$1}"; }
up() { printf '{"op":"upsert","id":"%s","kind":"%s","object":%s}' "$1" "$2" "$3"; }
out=$(conv <<EOF
1> $BHELLO
1> $LEADER
1> $(up T1 Service "$TEAMSVC")
1 wait "allocation_failed".*web/teamsvc
1> $(up T2 Service "$TEAMSVC")
1 drain 0.3
1> $(up N1 Namespace "$NSWEB")
1 wait "allocated".*web/teamsvc
addr 192.0.2.16 yes
1> {"op":"delete","id":"DX","kind":"Service","namespace":"web","name":"teamsvc","uid":"someone-else"}
1> {"op":"delete","id":"DA","kind":"Service","namespace":"web","name":"nosuch"}
1> {"op":"delete","id":"DN","kind":"Node","namespace":"web","name":"node1"}
1> $(up P1 Service "$PICKY")
1 wait "allocated".*demo/picky
addr 192.0.2.40 no
1> $(up ND1 Node "$NODE1")
addr 192.0.2.40 yes
1> $(up P2 Service "$PICKY_ST")
1> {"op":"delete","id":"ND2","kind":"Node","name":"node1"}
addr 192.0.2.40 no
1> $(up SF Service "$SHFAIL")
1 wait "allocation_failed".*demo/shfail
1> $(up L1 Service "$LOCAL")
1 wait "allocated".*demo/local
2> $THELLO
2> {"op":"services","id":"lsv"}
1> $(up ES1 EndpointSlice "$(slice '"conditions":{"ready":true}')")
addr 192.0.2.180 yes
1> $(up ES2 EndpointSlice "$(slice '"conditions":{"ready":false}')")
addr 192.0.2.180 no
1> $(up L2 Service "$LOCAL_ST")
addr 192.0.2.180 no
1> $(up ES3 EndpointSlice "$(slice '"conditions":{"ready":null}')")
addr 192.0.2.180 yes
1> {"op":"delete","id":"ES4","kind":"EndpointSlice","namespace":"demo","name":"local-1"}
addr 192.0.2.180 no
EOF
)
tap_diag "$out"
ch() { jf "$(rep "$out" 1 "$1")" 'j["op"], j["kind"], j["key"], j["result"], j["generation"]'; }
gt1=$(jf "$(rep "$out" 1 T1)" 'j["generation"]')
tap_is "$(ch T1)" "('upsert', 'Service', 'web/teamsvc', 'created', $gt1)" "upsert of Service web/teamsvc (pool teams): created"
fail=$(grep '^1< {"op":"allocation_failed".*web/teamsvc' <<<"$out")
tap_ok "allocation_failed: namespace web matches none of the pool's namespace selectors" grep -q 'namespace selectors' <<<"$fail"
tap_is "$(ch T2)" "('upsert', 'Service', 'web/teamsvc', 'updated', $((gt1 + 1)))" "the same object again: updated, generation + 1"
tap_is "$(grep -c . <<<"$fail")" 1 "allocation_failed is not repeated while the reason stays the same"
tap_is "$(ch N1)" "('upsert', 'Namespace', 'web', 'created', $((gt1 + 2)))" "upsert of Namespace web (team=web): created"
tap_ok "the Namespace's labels now admit web/teamsvc: allocated 192.0.2.16 from teams" \
        grep -q '^1< {"op":"allocated","service":"web/teamsvc","uid":"u-t","addresses":\["192.0.2.16"\],"pool":"teams"}' <<<"$out"
tap_ok "192.0.2.16 on eth0" grep -q 'addr 192.0.2.16 yes: ok' <<<"$out"
tap_is "$(ch DX)" "('delete', 'Service', 'web/teamsvc', 'uid_mismatch', $((gt1 + 2)))" "delete with another uid: uid_mismatch, generation unchanged"
tap_is "$(ch DA)" "('delete', 'Service', 'web/nosuch', 'absent', $((gt1 + 2)))" "delete of an absent Service: absent, generation unchanged"
tap_is "$(jf "$(rep "$out" 1 DN)" 'j["error"]')" "bad_message" "delete of a Node with a namespace: bad_message"
tap_ok "demo/picky (pool picky, node_selector lb=yes) is allocated 192.0.2.40" grep -q '^1< {"op":"allocated","service":"demo/picky".*"192.0.2.40"' <<<"$out"
tap_ok "but not announced: no Node object gives node1 the label" grep -q 'addr 192.0.2.40 no: ok' <<<"$out"
tap_is "$(jf "$(rep "$out" 1 ND1)" 'j["kind"], j["key"], j["result"]')" "('Node', 'node1', 'created')" "upsert of Node node1 (lb=yes): created"
tap_ok "node1 now announces 192.0.2.40" grep -q 'addr 192.0.2.40 yes: ok' <<<"$out"
tap_is "$(jf "$(rep "$out" 1 ND2)" 'j["result"]')" "deleted" "delete of Node node1: deleted"
tap_ok "(its status written back by then) 192.0.2.40 leaves eth0" grep -q 'addr 192.0.2.40 no: ok' <<<"$(sed -n '/ND2/,$p' <<<"$out")"
tap_ok "demo/local (externalTrafficPolicy Local) is allocated 192.0.2.180" grep -q '^1< {"op":"allocated","service":"demo/local".*"192.0.2.180"' <<<"$out"
tap_is "$(jf "$(rep "$out" 2 lsv)" '[(s["state"], s["addresses"], s["owner"]) for s in j["services"] if s["name"] == "local"]')" \
        "[('allocated', ['192.0.2.180'], None)]" "services: demo/local has no owner while no endpoint is ready"
tap_is "$(jf "$(rep "$out" 1 ES1)" 'j["kind"], j["key"], j["result"]')" "('EndpointSlice', 'demo/local-1', 'created')" "upsert of its EndpointSlice: created"
tap_ok "a ready endpoint on node1: 192.0.2.180 announced" grep -q 'addr 192.0.2.180 yes: ok' <<<"$(sed -n '/ES1/,/ES2/p' <<<"$out")"
doc '| `spec.externalTrafficPolicy` | `Cluster`, `Local` | `Cluster` | `Local`: only nodes with a ready endpoint announce |'
tap_is "$(grep -o 'addr 192.0.2.180 no: [A-Za-z]*' <<<"$(sed -n '/ES2/,/L2/p' <<<"$out")" | head -n 1)" "addr 192.0.2.180 no: ok" \
        "the endpoint not ready, status not yet written back: 192.0.2.180 withdrawn"
tap_ok "once the Service's status shows 192.0.2.180: withdrawn" grep -q 'addr 192.0.2.180 no: ok' <<<"$(sed -n '/L2/,/ES3/p' <<<"$out")"
tap_ok "ready null counts as ready: announced again" grep -q 'addr 192.0.2.180 yes: ok' <<<"$(sed -n '/ES3/,/ES4/p' <<<"$out")"
tap_is "$(jf "$(rep "$out" 1 ES4)" 'j["result"]')" "deleted" "delete of the EndpointSlice: deleted"
tap_ok "192.0.2.180 withdrawn" grep -q 'addr 192.0.2.180 no: ok' <<<"$(sed -n '/ES4/,$p' <<<"$out")"
tap_ok "192.0.2.16 is still there (the uid_mismatch delete removed nothing)" host_has_addr node1 192.0.2.16

# ---- status, services, pools replies ------------------------------------------------------
out=$(conv <<EOF
1> $THELLO
1> {"op":"status","id":"S1"}
2> $BHELLO
1> {"op":"status","id":"S2"}
1> {"op":"services","id":"S3"}
1> {"op":"pools","id":"S4"}
EOF
)
tap_diag "$out"
s1=$(rep "$out" 1 S1)
s2=$(rep "$out" 1 S2)
sv=$(rep "$out" 1 S3)
po=$(rep "$out" 1 S4)
tap_is "$(jf "$s1" 'sorted(j.keys()), sorted(j["services"].keys()), sorted(j["peers"].keys())')" \
        "(['bridge_connected', 'generation', 'id', 'leader', 'node', 'op', 'owned', 'peers', 'services', 'version'], ['allocated', 'failed', 'total'], ['alive', 'total'])" \
        "status reply: the documented keys"
tap_is "$(jf "$s1" 'j["node"], j["leader"], j["bridge_connected"], j["peers"]')" "('node1', False, False, {'alive': 1, 'total': 1})" \
        "status: node1, not the leader, no bridge, peers alive 1 of 1 (this node)"
tap_is "$(jf "$s2" 'j["bridge_connected"]')" "True" "bridge_connected while an mlbd-bridge client is connected"
tap_is "$(jf "$s1" 'j["services"]["total"], j["services"]["allocated"], j["services"]["failed"]')" \
        "$(jf "$sv" 'len(j["services"]), sum(s["state"] == "allocated" for s in j["services"]), sum(s["state"] == "failed" for s in j["services"])')" \
        "status services total/allocated/failed agree with the services reply"
eth0=$(lan_exec node1 ip -o -4 addr show dev eth0 | awk '$4 ~ /\/32$/ { sub("/32", "", $4); print $4 }' | sort | tr '\n' ' ')
tap_is "$(jf "$s1" '" ".join(sorted(j["owned"])) + " "')" "$eth0" "status owned: the addresses on node1's eth0 ($eth0)"
names=$(jf "$sv" '[(s["namespace"], s["name"]) for s in j["services"]]')
doc "Per Service, sorted by namespace and name"
tap_is "$names" "$(jf "$sv" 'sorted((s["namespace"], s["name"]) for s in j["services"])')" "services reply sorted by namespace and name"
doc '"sharing_key": "web-and-dns"'
tap_is "$(jf "$sv" '[(s["state"], s["sharing_key"]) for s in j["services"] if s["name"] == "shfail"]')" "[('failed', 'k1')]" \
        "services: demo/shfail (allow-shared-ip k1, refused by pool teams) shows sharing_key k1"
tap_is "$(jf "$sv" 'sorted(set(k for s in j["services"] for k in s))')" \
        "['addresses', 'name', 'namespace', 'owner', 'pool', 'reason', 'sharing_key', 'state', 'uid']" "every Service has every documented key"
tap_is "$(jf "$sv" '[(s["state"], s["addresses"], s["pool"], s["owner"], s["reason"]) for s in j["services"] if s["name"] == "teamsvc"]')" \
        "[('allocated', ['192.0.2.16'], 'teams', 'node1', None)]" "services: web/teamsvc allocated 192.0.2.16 from teams, owner node1, reason null"
tap_is "$(jf "$po" '[(p["name"], p["ranges"], p["auto_assign"]) for p in j["pools"]]')" \
        "[('cheap', ['192.0.2.150-192.0.2.200', '2001:db8::150-2001:db8::1ff'], True), ('teams', ['192.0.2.16/28'], False), ('picky', ['192.0.2.40/29'], False)]" \
        "pools: names, ranges (192.0.2.16-192.0.2.31 and 192.0.2.40-192.0.2.47 are exactly one prefix: shown as CIDRs), auto_assign"
tap_is "$(jf "$po" '[(p["size"], p["used"], p["free"]) for p in j["pools"]]')" \
        "$(jf "$sv" '[(sz, str(u), str(int(sz) - u)) for sz, name in (("227", "cheap"), ("16", "teams"), ("8", "picky")) for u in [sum(len(s["addresses"]) for s in j["services"] if s["pool"] == name)]]')" \
        "pools: size, used (the addresses of the services reply) and free, as decimal strings"

# ---- reload over the socket -------------------------------------------------------------
cat >>"$tmp/pools.yaml" <<'YAML'
  - name: extra
    addresses:
      - 198.51.100.16/28
    auto_assign: false
YAML
cat >"$tmp/pools.bad" <<'YAML'
pools:
  - name: cheap
    addresses:
      - 192.0.2.150-192.0.2.20
YAML
out=$(conv <<EOF
1> $THELLO
1> {"op":"reload","id":"R1"}
1> {"op":"pools","id":"R1p"}
EOF
)
tap_diag "$out"
tap_is "$(jf "$(rep "$out" 1 R1)" 'j["op"], j["pools"], j["addresses"], j["warnings"]')" "('reload', 4, '267', [])" \
        "reload of a good file: pools 4, addresses \"267\" (a decimal string), warnings []"
tap_is "$(jf "$(rep "$out" 1 R1p)" '[p["name"] for p in j["pools"]]')" "['cheap', 'teams', 'picky', 'extra']" "the pools reply shows pool extra"
cp "$tmp/pools.yaml" "$tmp/pools.good"
cp "$tmp/pools.bad" "$tmp/pools.yaml"
out=$(conv <<EOF
1> $THELLO
1> {"op":"reload","id":"R2"}
1> {"op":"pools","id":"R2p"}
EOF
)
tap_diag "$out"
cp "$tmp/pools.good" "$tmp/pools.yaml"
r=$(rep "$out" 1 R2)
tap_is "$(jf "$r" 'j["op"], j["id"], j["error"]')" "('error', 'R2', 'reload_failed')" "reload of a broken file: error reload_failed"
tap_is "$(jf "$r" '[d.split(": ")[0].rsplit(":", 2)[0] for d in j["diagnostics"]]')" "['$tmp/pools.yaml']" "diagnostics: one, FILE:LINE:COL: message"
tap_ok "naming line 4" grep -q "\"$tmp/pools.yaml:4:[0-9]*: " <<<"$r"
doc '"detail": "/etc/mlbd/pools.yaml: 1 error, nothing changed"'
tap_is "$(jf "$r" 'j["detail"]')" "$tmp/pools.yaml: 1 error, nothing changed" "its detail names the file and the number of errors"
tap_is "$(jf "$(rep "$out" 1 R2p)" '[p["name"] for p in j["pools"]]')" "['cheap', 'teams', 'picky', 'extra']" "pools unchanged"
tap_ok "192.0.2.16 still on eth0" host_has_addr node1 192.0.2.16

# ---- a full sync replaces everything ----------------------------------------------------
gen=$(jf "$(status_now)" 'j["generation"]')
held=$(jf "$(services_now)" '" ".join(sorted(a for s in j["services"] for a in s["addresses"])) + " "')
out=$(conv <<EOF
1> $BHELLO
1> $LEADER
1> {"op":"sync","id":"FS","services":[],$ALL4}
1 drain 1
1> {"op":"status","id":"FS2"}
addr 192.0.2.16 no
EOF
)
tap_diag "$out"
tap_is "$(jf "$(rep "$out" 1 FS)" "$sel")" "(False, $((gen + 1)), 0, 0, 0, 0)" "an empty full sync: generation + 1, nothing held"
released=$(sed -n 's/^1< {"op":"released",.*"addresses":\["\([^"]*\)".*/\1/p' <<<"$out" | sort | tr '\n' ' ')
tap_is "$released" "$held" "released for every address allocated before"
tap_is "$(jf "$(rep "$out" 1 FS2)" 'j["owned"], j["leader"], j["services"]["total"]')" "([], True, 0)" \
        "status: nothing owned, still the leader (a sync leaves the leader flag), no Services"
tap_ok "the addresses left eth0" not grep -q ' 192\.0\.2\.\(1[5-9][0-9]\|16\|40\)/32' <<<"$(lan_exec node1 ip -o addr show dev eth0)"

# ---- ports and selectors past the sharing rule's limits: refused, never cut -----------------
big_svc() { # NAME PORTS LABELS VALUE_LEN: a Service with that many ports and selector labels
        "$PY" -c 'import json,sys
name, n, k, vl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(json.dumps({"op": "upsert", "id": name, "kind": "Service", "object": {
    "metadata": {"namespace": "demo", "name": name, "uid": "u-" + name},
    "spec": {"type": "LoadBalancer", "selector": {"k%d" % i: "v" * vl for i in range(k)},
             "ports": [{"protocol": "TCP", "port": 1000 + i} for i in range(n)]}}}))' "$@"
}
out=$(daemon_ctl "$tmp" --until '"id": *"sel-long"' --timeout 5 "$TEST_HELLO" \
        "$(big_svc ports-64 64 1 1)" "$(big_svc ports-65 65 1 1)" "$(big_svc sel-64 1 64 1)" \
        "$(big_svc sel-65 1 65 1)" "$(big_svc sel-long 1 20 63)")
tap_diag "$out"
res() { grep "\"id\": *\"$1\"" <<<"$out" | "$PY" -c 'import json,sys; j=json.loads(sys.stdin.read()); print(j["op"], j.get("error", j.get("result")))'; }
tap_is "$(res ports-64) $(res sel-64)" "upsert created upsert created" "64 ports, 64 selector labels: accepted"
tap_is "$(res ports-65)" "error bad_message" "65 ports: bad_message"
tap_ok "the detail names the field and the limit" grep -q '"id": *"ports-65".*spec.ports: 65 ports; at most 64' <<<"$out"
tap_is "$(res sel-65)" "error bad_message" "65 selector labels: bad_message"
tap_ok "the detail names the field" grep -q '"id": *"sel-65".*spec.selector: 65 labels' <<<"$out"
tap_is "$(res sel-long)" "error bad_message" "a selector over 1023 bytes as k=v,...: bad_message"
tap_ok "the detail names its size" grep -q '"id": *"sel-long".*spec.selector: 20 labels, 1349 bytes' <<<"$out"

# ---- the sharing key (last: mlbd does not survive it) ---------------------------------------
SHARED=$(svc demo shared u-s '"annotations":{"mlbd.io/allow-shared-ip":"k1"}')
out=$(conv <<EOF
1> $BHELLO
1> $LEADER
1> $(up SK1 Service "$SHARED")
1 wait "node_assigned".*demo/shared
EOF
)
tap_diag "$out"
tap_diag "$(grep -A3 'ERROR: AddressSanitizer' "$log")"
doc '| sharing key | `mlbd.io/allow-shared-ip`, `metallb.io/allow-shared-ip`, `metallb.universe.tf/allow-shared-ip` |'
tap_is "$(grep -c '^1< {"op":"allocated".*demo/shared' <<<"$out")" 1 "a Service with allow-shared-ip gets allocated"
tap_is "$(status_now | grep -q '"op": *"status"' && echo running)" "running" "mlbd still answers"
tap_done
