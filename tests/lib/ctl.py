#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Talks to mlbd's control socket for tests: sends each argument (or stdin line) as one
message, prints every line received until `--wait` seconds pass with nothing new, or until
a line matching --until arrives. Exit 1 if the connection fails."""
import argparse, json, re, socket, sys, time

p = argparse.ArgumentParser()
p.add_argument("socket")
p.add_argument("messages", nargs="*")
p.add_argument("--wait", type=float, default=0.5, help="idle seconds before exiting")
p.add_argument("--until", help="exit once a received line matches this regex")
p.add_argument("--timeout", type=float, default=10.0, help="total seconds at most")
p.add_argument("--half-close", action="store_true",
               help="shut down the sending side once the messages are sent (replies still come)")
a = p.parse_intermixed_args()

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(a.socket)
except OSError as e:
    print(f"connect {a.socket}: {e}", file=sys.stderr)
    sys.exit(1)
msgs = a.messages or [l.rstrip("\n") for l in sys.stdin]
for m in msgs:
    s.sendall(m.encode() + b"\n")
if a.half_close:
    s.shutdown(socket.SHUT_WR)
s.settimeout(0.05)
buf = b""
start = last = time.monotonic()
while time.monotonic() - start < a.timeout:
    try:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        last = time.monotonic()
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            print(line.decode(errors="replace"), flush=True)
            if a.until and re.search(a.until, line.decode(errors="replace")):
                sys.exit(0)
    except socket.timeout:
        if not a.until and time.monotonic() - last > a.wait:
            break
sys.exit(0 if not a.until else 2)
