#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""How long two nodes answered ARP for the same address at once, from a capture.

Usage: arp-double.py PCAP ADDRESS [WINDOW_MS]

Reads every ARP packet in PCAP. Each ARP request for ADDRESS (the client asks, e.g.
`arping -b` every 20 ms) opens a window of WINDOW_MS (default 15); the MACs that answer
ADDRESS (ARP replies, and gratuitous ARPs) inside that window are the nodes answering at
that moment. Prints three numbers: the requests seen, the requests that two or more MACs
answered, and the longest run of consecutive such requests in milliseconds (from the first
request of the run to the last one answered twice; 0 when none); then one line per run.
"""
import sys

from scapy.all import ARP, rdpcap  # Debian python3-scapy

if len(sys.argv) < 3:
    sys.exit(__doc__)
path, ip = sys.argv[1], sys.argv[2]
window = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.015

requests, answers = [], []
for p in rdpcap(path):
    if ARP not in p:
        continue
    a = p[ARP]
    t = float(p.time)
    if a.op == 1 and a.pdst == ip and a.psrc != ip:
        requests.append(t)
    elif a.psrc == ip:  # a reply for ip, or a gratuitous ARP (request or reply) for it
        answers.append((t, a.hwsrc))

t0 = requests[0] if requests else 0.0
runs, run, n_double = [], None, 0
for t in requests:
    macs = {m for (u, m) in answers if t <= u < t + window}
    if len(macs) >= 2:
        n_double += 1
        run = run or [t, t, set()]
        run[1] = t
        run[2] |= macs
    elif run:
        runs.append(run)
        run = None
if run:
    runs.append(run)
longest = max((r[1] - r[0] for r in runs), default=0.0)
print(len(requests), n_double, round(longest * 1000))
for r in runs:  # for the test's diagnostics: where each run was, in ms from the first request
    print(f"run at {round((r[0] - t0) * 1000)} ms for {round((r[1] - r[0]) * 1000)} ms: "
          + " ".join(sorted(r[2])))
