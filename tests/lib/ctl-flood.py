#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A control-socket client that never pauses: after hello it keeps mlbd's input full of
pipelined requests (one MESSAGE per line, "{id}" replaced by a counter) and reads every
reply, until SECONDS pass or MAX requests are sent. Prints "sent N answered M"."""
import select, signal, socket, sys, time

path, msg, seconds, maximum = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall(b'{"op":"hello","id":"h","version":1,"client":"mlbd-test"}\n')
s.setblocking(False)
sent = answered = 0
out = b""
end = time.monotonic() + seconds


def stop(*_):
    global end
    end = 0


signal.signal(signal.SIGTERM, stop)  # stop early, and still print the counts
try:
    while time.monotonic() < end:
        if not out and sent < maximum:
            n = min(1000, maximum - sent)
            out = b"".join(msg.replace("{id}", str(sent + i)).encode() + b"\n" for i in range(n))
            sent += n
        r, w, _ = select.select([s], [s] if out else [], [], 0.1)
        if r:
            d = s.recv(1 << 20)
            if not d:
                break
            answered += d.count(b"\n")
        if w:
            out = out[s.send(out):]
except (BrokenPipeError, ConnectionResetError):
    pass
print(f"sent {sent} answered {answered - 1}", flush=True)
