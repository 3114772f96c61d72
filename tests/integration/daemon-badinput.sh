#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad input on the control socket changes nothing: malformed JSON, a wrong type, an unknown
# op, a 2 MiB line, a client gone mid-line, a client that never reads its replies. After
# each, a fresh client's status still answers and 192.0.2.150 stays on eth0. A user outside
# socket_group cannot connect at all.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root setpriv

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
chmod 0755 "$tmp" # only the socket's own mode may keep others out

daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
daemon_session "$tmp" '"node_assigned"' "$(upsert_msg 3 "$(svc_json demo nginx-service u1)")" >/dev/null
tap_ok "192.0.2.150 on eth0" wait_addr node1 192.0.2.150 5

still_fine() { # still_fine WHAT
        local st
        st=$(daemon_status "$tmp")
        tap_ok "after $1: a fresh client's status answers" grep -q '"node": *"node1"' <<<"$st"
        tap_ok "after $1: 192.0.2.150 still on eth0" host_has_addr node1 192.0.2.150
}

# Raw client in Python: MODE decides what it sends; prints what it received.
raw() {
        "$PY" - "$tmp/mlbd.sock" "$@" <<'PY'
import socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
hello = b'{"op":"hello","id":"h","version":1,"client":"mlbd-test"}\n'
def recv_all(t=2.0):
    s.settimeout(0.2); buf = b""; end = time.monotonic() + t
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:  # reset: the daemon closed with our data still unread
            buf += b"<RESET>\n"; break
        if not d:
            buf += b"<EOF>\n"; break
        buf += d
    return buf.decode(errors="replace")
if mode == "bad":
    s.sendall(hello + b'{"op":"status","id":1\n' + b'{"op":"upsert","id":2,"kind":"Service","object":7}\n'
              + b'{"op":"frobnicate","id":3}\n' + b'{"op":"status","id":4}\n')
    print(recv_all(1.0), end="")
elif mode == "long":
    s.sendall(hello)
    try:
        s.sendall(b'{"op":"status","id":"' + b"x" * (2 << 20) + b'"}\n' + b'{"op":"status","id":5}\n')
    except OSError as e:
        print("<send: %s>" % e.__class__.__name__)
    print(recv_all(2.0), end="")
elif mode == "midline":
    s.sendall(hello + b'{"op":"upsert","id":2,"kind":"Serv')
    s.close()
elif mode == "noread":
    s.setblocking(False)
    req = hello + b''.join(b'{"op":"status","id":%d}\n' % i for i in range(int(sys.argv[4])))
    sent = 0
    end = time.monotonic() + 5
    while sent < len(req) and time.monotonic() < end:
        try:
            sent += s.send(req[sent:])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError as e:
            print("<send: %s>" % e.__class__.__name__); break
    print("sent %d of %d bytes" % (sent, len(req)), flush=True)
    time.sleep(float(sys.argv[3]))
    # Now look: a dropped client reads its EOF (or a reset) after whatever was queued.
    s.setblocking(True); s.settimeout(2)
    got = 0
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                print("dropped: EOF after %d bytes" % got); break
            got += len(d)
    except socket.timeout:
        print("still connected after %d bytes" % got)
    except OSError as e:
        print("dropped: %s after %d bytes" % (e.__class__.__name__, got))
PY
}

out=$(raw bad)
tap_diag "$out"
tap_ok "malformed JSON: error bad_json" grep -q '"error": *"bad_json"' <<<"$out"
tap_ok "wrong type (object: 7): error bad_message" grep -q '"id": *2.*"error": *"bad_message"\|"error": *"bad_message".*"id": *2' <<<"$out"
tap_ok "unknown op: error unknown_op" grep -q '"error": *"unknown_op"' <<<"$out"
tap_ok "the same connection still answers status" grep -q '"op": *"status", *"id": *4' <<<"$out"
tap_is "$(grep -c '"detail": *"line 0:' <<<"$out")" 0 "error details name the line (numbered from 1)"
still_fine "bad messages"

out=$(raw long)
tap_diag "$(cut -c1-300 <<<"$out")"
tap_ok "a 2 MiB line: error line_too_long" grep -q '"error": *"line_too_long"' <<<"$out"
tap_ok "and the client is dropped (closed or reset)" grep -q '<EOF>\|<RESET>' <<<"$out"
still_fine "a 2 MiB line"

raw midline
still_fine "a client gone mid-line"

# 5000 status requests (about 1 MiB of replies) stay below the daemon's 8 MiB output queue
# (CONTROL_OUTQ_MAX): such a client is merely slow and is kept. 50000 (about 11 MiB of
# replies) pass it: that client is dropped.
out=$(raw noread 2 5000)
tap_diag "$out"
tap_ok "5000 unread status replies (under the 8 MiB queue): client kept, all replies delivered" \
        grep -q '^still connected after [1-9][0-9]\{6\} bytes' <<<"$out"
out=$(raw noread 3 50000)
tap_diag "$out"
tap_ok "50000 unread status replies: a client that never reads is dropped" grep -q '^dropped' <<<"$out"
tap_ok "the log says why" grep -q 'dropped: it does not read its replies' "$tmp/mlbd.log.run"
still_fine "a client that never reads"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"

# socket_group=root: uid/gid 65534 with no groups cannot connect.
mode=$(stat -c %a "$tmp/mlbd.sock")
tap_diag "socket mode $mode, group $(stat -c %G "$tmp/mlbd.sock")"
if lan_exec node1 setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$CTL" "$tmp/mlbd.sock" \
        --timeout 2 "$TEST_HELLO" '{"op":"status","id":1}' >"$tmp/nobody.out" 2>&1; then
        nobody=0
else
        nobody=1
fi
tap_diag "$(cat "$tmp/nobody.out")"
tap_ok "a user outside socket_group cannot connect" [ "$nobody" -eq 1 ]
tap_ok "and got no status" not grep -q '"op": *"status"' "$tmp/nobody.out"
still_fine "the refused user"
tap_done
