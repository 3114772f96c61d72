#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Print every address with its IFA_PROTO, read with a raw rtnetlink dump.

An independent judge for the integration tests: iproute2 6.1 does not show the address
protocol, and the C code under test must not check itself. Output, one line per address:
    IFNAME ADDRESS/PREFIXLEN proto N
"""
import socket
import struct

RTM_GETADDR, RTM_NEWADDR = 22, 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFA_ADDRESS, IFA_LOCAL, IFA_PROTO = 1, 2, 11


def main():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    req = struct.pack("=LHHLL", 16 + 8, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    req += struct.pack("=BBBBL", socket.AF_UNSPEC, 0, 0, 0, 0)
    s.send(req)
    names = {i: n for i, n in socket.if_nameindex()}
    while True:
        data = s.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, mtype, _flags, _seq, _pid = struct.unpack_from("=LHHLL", data, off)
            if mtype == NLMSG_DONE:
                return 0
            if mtype == NLMSG_ERROR:
                raise SystemExit("netlink error")
            if mtype == RTM_NEWADDR:
                family, plen, _fl, _scope, index = struct.unpack_from("=BBBBL", data, off + 16)
                attrs, proto, a = off + 24, 0, None
                while attrs + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, attrs)
                    if alen < 4:
                        break
                    val = data[attrs + 4 : attrs + alen]
                    if atype == IFA_PROTO:
                        proto = val[0]
                    elif atype == IFA_LOCAL or (atype == IFA_ADDRESS and a is None):
                        a = socket.inet_ntop(family, val)
                    attrs += (alen + 3) & ~3
                print(f"{names.get(index, index)} {a}/{plen} proto {proto}")
            off += (length + 3) & ~3


if __name__ == "__main__":
    raise SystemExit(main())
