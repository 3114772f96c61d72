#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Craft mlbd heartbeats (wire format v1, docs/heartbeat.md) for tests.

Usage:
  hb-send.py --key FILE [options] KIND TARGET

KIND:
  valid      a genuine heartbeat
  forged     a genuine one with one bit flipped (--flip-bit, default: in the sequence)
  wrongkey   tagged with a random key instead of FILE's
  replay     the genuine packet sent --count times (default 2): all but the first are replays
  truncated  the genuine packet cut to --length bytes (default 40)
  oversize   65001 bytes (the limit is 65000)
  version    version byte 2, correctly tagged
  malformed  unknown flag bit set, correctly tagged
  capture    receive one datagram on --listen ADDR:PORT (e.g. a heartbeat a daemon sends
             to a member address the test owns) and re-send it unchanged: a replay
             when the target already saw a newer one

TARGET: HOST:PORT or [V6]:PORT to send to, or "-" to print the packet(s) as hex.

Options:
  --key FILE         base64 key file (as written by mlbd --gen-key)
  --name NAME        node name (default "node1")
  --incarnation N    default 1
  --sequence N       default 1 (incremented per packet only for --count with KIND valid)
  --leaving          set the LEAVING flag
  --owned ADDR       an address it holds (repeatable)
  --bind ADDR[:PORT] source address (the receiver checks it against the member's address)
  --count N          packets to send (default 1; replay: 2)
  --listen ADDR:PORT for capture; --timeout SEC (default 5)

The tag is HMAC-SHA-512 cut to its first 32 bytes, which is what libsodium's crypto_auth
computes (HMAC-SHA-512-256); tests/cli/hb-send.sh checks that against the daemon's encoder.
Exit status: 0 sent/printed, 1 error (message on stderr).
"""

import argparse
import base64
import hashlib
import hmac
import ipaddress
import os
import socket
import struct
import sys

MAGIC = b"MLBH"
MAX_PACKET = 65000


def tag(key, body):
    return hmac.new(key, body, hashlib.sha512).digest()[:32]


def load_key(path):
    with open(path, "rb") as f:
        text = f.read()
    line = text[:-1] if text.endswith(b"\n") else text
    key = base64.b64decode(line, validate=True)
    if len(key) != 32:
        raise ValueError(f"{path}: key is {len(key)} bytes, expected 32")
    return key


def body(name, inc, seq, leaving, owned, version=1, flags_extra=0):
    nb = name.encode()
    entries = b""
    for a in owned:
        ip = ipaddress.ip_address(a)
        entries += bytes([4 if ip.version == 4 else 6]) + ip.packed
    flags = (1 if leaving else 0) | flags_extra
    hdr = MAGIC + struct.pack(">BBHQQH", version, flags, len(nb), inc, seq, len(owned))
    return hdr + nb + entries


def packet(key, *args, **kw):
    b = body(*args, **kw)
    return b + tag(key, b)


def parse_hostport(s):
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    return host, int(port)


def sock_for(host, bind):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if bind:
        if bind.count(":") == 1 or bind.startswith("["):
            bh, bp = parse_hostport(bind)
        else:
            bh, bp = bind, 0
        s.bind((bh, bp))
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["valid", "forged", "wrongkey", "replay", "truncated",
                                     "oversize", "version", "malformed", "capture"])
    ap.add_argument("target")
    ap.add_argument("--key", required=True)
    ap.add_argument("--name", default="node1")
    ap.add_argument("--incarnation", type=int, default=1)
    ap.add_argument("--sequence", type=int, default=1)
    ap.add_argument("--leaving", action="store_true")
    ap.add_argument("--owned", action="append", default=[])
    ap.add_argument("--bind")
    ap.add_argument("--count", type=int)
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--flip-bit", type=int, default=16 * 8 + 7)
    ap.add_argument("--listen")
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()

    try:
        key = load_key(a.key)
    except (OSError, ValueError) as e:
        print(f"hb-send: {e}", file=sys.stderr)
        return 1

    common = (a.name, a.incarnation, a.sequence, a.leaving, a.owned)
    pkts = []
    if a.kind == "valid":
        for i in range(a.count or 1):
            pkts.append(packet(key, a.name, a.incarnation, a.sequence + i, a.leaving, a.owned))
    elif a.kind == "forged":
        p = bytearray(packet(key, *common))
        p[a.flip_bit // 8] ^= 1 << (a.flip_bit % 8)
        pkts.append(bytes(p))
    elif a.kind == "wrongkey":
        pkts.append(packet(os.urandom(32), *common))
    elif a.kind == "replay":
        pkts = [packet(key, *common)] * (a.count or 2)
    elif a.kind == "truncated":
        pkts.append(packet(key, *common)[: a.length])
    elif a.kind == "oversize":
        p = packet(key, *common)
        pkts.append(p + b"\0" * (MAX_PACKET + 1 - len(p)))
    elif a.kind == "version":
        pkts.append(packet(key, *common, version=2))
    elif a.kind == "malformed":
        pkts.append(packet(key, *common, flags_extra=0x80))
    elif a.kind == "capture":
        if not a.listen:
            print("hb-send: capture needs --listen ADDR:PORT", file=sys.stderr)
            return 1
        lh, lp = parse_hostport(a.listen)
        ls = socket.socket(socket.AF_INET6 if ":" in lh else socket.AF_INET, socket.SOCK_DGRAM)
        ls.bind((lh, lp))
        ls.settimeout(a.timeout)
        try:
            data, _ = ls.recvfrom(70000)
        except socket.timeout:
            print("hb-send: nothing captured", file=sys.stderr)
            return 1
        pkts.append(data)

    if a.target == "-":
        for p in pkts:
            print(p.hex())
        return 0
    host, port = parse_hostport(a.target)
    s = sock_for(host, a.bind)
    for p in pkts:
        s.sendto(p, (host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
