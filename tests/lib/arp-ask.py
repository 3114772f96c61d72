#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Asks ARP for an address at a steady pace, for tests/lib/arp-double.py to judge.

Usage: arp-ask.py IFACE ADDRESS INTERVAL_MS SECONDS

Broadcasts an ARP request "who has ADDRESS" from IFACE's own MAC and IPv4 address every
INTERVAL_MS for at most SECONDS (bounded), so that every node holding ADDRESS answers.
"""
import sys
import time

from scapy.all import ARP, Ether, conf, get_if_addr, get_if_hwaddr  # Debian python3-scapy

if len(sys.argv) != 5:
    sys.exit(__doc__)
iface, ip = sys.argv[1], sys.argv[2]
interval, seconds = float(sys.argv[3]) / 1000, float(sys.argv[4])
mac, src = get_if_hwaddr(iface), get_if_addr(iface)
pkt = bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=src, pdst=ip))
sock = conf.L2socket(iface=iface)
end = time.monotonic() + seconds
nxt = time.monotonic()
while time.monotonic() < end:
    sock.send(pkt)
    nxt += interval
    time.sleep(max(0.0, nxt - time.monotonic()))
sock.close()
