#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A scripted session on mlbd's control socket, for tests that need one connection held
over several steps (a leader that stays the leader). Reads steps from stdin, one a line:
  > MESSAGE          send MESSAGE (one JSON line)
  sleep SECONDS      keep reading (and printing) for SECONDS
  until REGEX SECS   read until a line matches REGEX (at most SECS), then print
                     "# elapsed MS" (milliseconds since the last send); exit 2 on timeout
  run COMMAND        run a shell command (the connection stays open), print its output
Every line received is printed as it comes. Exit 1 if the connection fails."""
import re, socket, subprocess, sys, time

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(f"connect {sys.argv[1]}: {e}", file=sys.stderr)
    sys.exit(1)
s.settimeout(0.01)
buf = b""
sent = time.monotonic()


def read_until(deadline, pattern=None):
    """Prints lines until deadline; with a pattern, returns True at the first match."""
    global buf
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            print(text, flush=True)
            if pattern and re.search(pattern, text):
                return True
        if time.monotonic() >= deadline:
            return False
        try:
            d = s.recv(65536)
            if not d:
                return False
            buf += d
        except socket.timeout:
            pass


for step in sys.stdin:
    step = step.rstrip("\n")
    if step.startswith("> "):
        s.sendall(step[2:].encode() + b"\n")
        sent = time.monotonic()
    elif step.startswith("sleep "):
        read_until(time.monotonic() + float(step.split()[1]))
    elif step.startswith("until "):
        regex, secs = step[6:].rsplit(" ", 1)
        if not read_until(time.monotonic() + float(secs), regex):
            print(f"# timeout waiting for {regex}", flush=True)
            sys.exit(2)
        print("# elapsed %.1f" % ((time.monotonic() - sent) * 1000), flush=True)
    elif step.startswith("run "):
        out = subprocess.run(step[4:], shell=True, capture_output=True, text=True)
        sys.stdout.write(out.stdout + out.stderr)
        sys.stdout.flush()
    elif step.strip():
        print(f"# unknown step: {step}", file=sys.stderr)
        sys.exit(1)
