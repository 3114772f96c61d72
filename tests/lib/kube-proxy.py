#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""kube-proxy.py: a TLS-terminating HTTP/1.1 proxy between mlbd-bridge and a real
kube-apiserver, for the bridge's failure tests (tests/lib/kube-proxy.sh drives it).

It serves TLS with its own certificate (the bridge's kubeconfig trusts the proxy's CA),
offers only http/1.1 by ALPN, and forwards every request to the API server over TLS
(verified against the API server's CA), headers and body unchanged, so the API server
sees the bridge's own token and User-Agent. Responses are relayed as they arrive, so
watches stream.

What it does is read from a control file (one line, re-read whenever it changes; a
leading "SEQ " number is ignored, so that the same command can be given twice):
  pass                          forward everything
  status CODE N [SECS|-] [RE]   answer the next N requests whose "METHOD PATH" matches
                                the regular expression RE (default: all) with HTTP CODE,
                                a Kubernetes Status body and, unless "-", Retry-After: SECS
  cut N [RE]                    the next N streamed answers (watches) matching RE: relay
                                the headers, then announce the first chunk of the body and
                                send only half of it, then close the connection
  down                          close every open connection and every new one at once,
                                without an answer (the API server out of reach)
Every request is logged, one line each, to --log:
  EPOCH_MS METHOD PATH STATUS ACTION ua=USER_AGENT tok=FINGERPRINT
where ACTION is pass, inject, cut or down and FINGERPRINT the first 12 hex digits of the
SHA-256 of the bearer token (or "-").
"""
import argparse
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection",
       "upgrade", "te", "trailer"}


class State:
    def __init__(self, ctl):
        self.ctl = ctl
        self.lock = threading.Lock()
        self.seen = None
        self.mode = "pass"
        self.code = 0
        self.count = 0
        self.retry_after = None
        self.match = None
        self.conns = set()

    def poll(self):
        try:
            st = os.stat(self.ctl)
            with open(self.ctl) as f:
                text = f.read().strip()
        except OSError:
            return
        key = (st.st_mtime_ns, text)
        with self.lock:
            if key == self.seen:
                return
            self.seen = key
            words = text.split()
            if words and words[0].isdigit():
                words = words[1:]
            self.mode, self.count, self.code, self.retry_after, self.match = "pass", 0, 0, None, None
            if not words:
                return
            if words[0] == "status" and len(words) >= 3:
                self.mode, self.code, self.count = "status", int(words[1]), int(words[2])
                if len(words) > 3 and words[3] != "-":
                    self.retry_after = words[3]
                if len(words) > 4:
                    self.match = re.compile(" ".join(words[4:]))
            elif words[0] == "cut" and len(words) >= 2:
                self.mode, self.count = "cut", int(words[1])
                if len(words) > 2:
                    self.match = re.compile(" ".join(words[2:]))
            elif words[0] == "down":
                self.mode = "down"
                for c in list(self.conns):
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            elif words[0] != "pass":
                print("kube-proxy: unknown command %r" % text, file=sys.stderr, flush=True)

    def decide(self, line, streamed=None):
        """What to do with a request ("METHOD PATH"): pass, inject, cut, down."""
        with self.lock:
            if self.mode == "down":
                return "down"
            if self.mode in ("status", "cut") and self.count > 0 and (
                    self.match is None or self.match.search(line)):
                if self.mode == "status":
                    self.count -= 1
                    return "inject"
                if streamed:
                    self.count -= 1
                    return "cut"
            return "pass"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--upstream", required=True, help="https://127.0.0.1:PORT")
    ap.add_argument("--upstream-ca", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()

    m = re.match(r"https://([^:/]+):(\d+)$", a.upstream)
    if not m:
        sys.exit("kube-proxy: --upstream must be https://HOST:PORT")
    up_host, up_port = m.group(1), int(m.group(2))
    up_ctx = ssl.create_default_context(cafile=a.upstream_ca)
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(a.cert, a.key)
    srv_ctx.set_alpn_protocols(["http/1.1"])
    state = State(a.ctl)
    logf = open(a.log, "a", buffering=1)
    loglock = threading.Lock()

    def log(method, path, status, action, headers):
        auth = headers.get("Authorization") or ""
        tok = hashlib.sha256(auth[7:].encode()).hexdigest()[:12] if auth.startswith("Bearer ") else "-"
        ua = (headers.get("User-Agent") or "-").replace(" ", "_")
        with loglock:
            logf.write("%d %s %s %s %s ua=%s tok=%s\n" % (time.time() * 1000, method, path, status,
                                                          action, ua, tok))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream = None

        def setup(self):
            self.request.settimeout(120)
            try:
                self.request = srv_ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self.request.close()
                raise
            with state.lock:
                state.conns.add(self.request)
            super().setup()

        def finish(self):
            with state.lock:
                state.conns.discard(self.request)
            try:
                super().finish()
            except OSError:
                pass
            if self.upstream:
                self.upstream.close()

        def log_message(self, *args):
            pass

        def hangup(self):
            self.close_connection = True
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def handle_one(self):
            method, path = self.command, self.path
            line = method + " " + path
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            state.poll()
            action = state.decide(line)
            if action == "down":
                log(method, path, 0, "down", self.headers)
                return self.hangup()
            if action == "inject":
                code = state.code
                st = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Failure", "message": "injected by kube-proxy.py",
                                 "reason": http.client.responses.get(code, "Error").replace(" ", ""),
                                 "code": code}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(st)))
                if state.retry_after is not None:
                    self.send_header("Retry-After", state.retry_after)
                self.end_headers()
                self.wfile.write(st)
                self.wfile.flush()
                log(method, path, code, "inject", self.headers)
                return
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            for attempt in (0, 1):
                try:
                    if self.upstream is None:
                        self.upstream = http.client.HTTPSConnection(up_host, up_port,
                                                                    context=up_ctx, timeout=660)
                    self.upstream.request(method, path, body=body, headers=hdrs)
                    resp = self.upstream.getresponse()
                    break
                except (OSError, http.client.HTTPException):
                    if self.upstream:
                        self.upstream.close()
                    self.upstream = None
                    if attempt:
                        log(method, path, 0, "unreachable", self.headers)
                        return self.hangup()
            streamed = resp.getheader("Content-Length") is None
            if streamed and state.decide(line, streamed=True) == "cut":
                action = "cut"
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            log(method, path, resp.status, action, self.headers)
            if not streamed:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            with state.lock:
                state.conns.add(self.upstream.sock)
            try:
                while True:
                    data = resp.read1(65536)
                    if not data:
                        break
                    if action == "cut":
                        self.wfile.write(b"%x\r\n" % len(data) + data[:max(1, len(data) // 2)])
                        self.wfile.flush()
                        self.upstream.close()
                        self.upstream = None
                        return self.hangup()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (OSError, http.client.HTTPException, ValueError):
                if self.upstream:
                    self.upstream.close()
                self.upstream = None
                return self.hangup()
            finally:
                if self.upstream and self.upstream.sock:
                    with state.lock:
                        state.conns.discard(self.upstream.sock)

        def do_GET(self):
            self.handle_one()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request, client_address):
            pass

    srv = Server(("127.0.0.1", a.port), Handler)

    def poller():
        while True:
            state.poll()
            time.sleep(0.05)

    threading.Thread(target=poller, daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
