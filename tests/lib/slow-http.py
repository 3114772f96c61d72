#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# slow-http.py NAME DELAY_S [PORT]: an HTTP/1.0 server on every address (IPv4 and IPv6,
# PORT, default 80) that answers each GET after DELAY_S with the body NAME, one thread per
# connection: with a delay longer than a client's interval, connections are always under
# way, so every switch of the client's neighbour cache meets some (tests of draining).
import http.server
import socket
import socketserver
import sys
import time

NAME, DELAY = sys.argv[1], float(sys.argv[2])
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 80


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(DELAY)
        body = (NAME + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


Server(("::", PORT), Handler).serve_forever()
