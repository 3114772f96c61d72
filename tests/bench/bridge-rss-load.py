#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The client side of tests/bench/bridge-rss: Services that mlbd-bridge caches whole but
# mlbd leaves alone, so the bridge's memory is measured without mlbd having to add
# thousands of addresses to an interface first (HTTP/1.1 over TLS, verified against the
# CA; standard library only).
#
#   bridge-rss-load.py SERVER CA TOKEN make NS N THREADS
#       creates N LoadBalancer Services rss-I of loadBalancerClass example.com/other
#       (IPv6, one port, a selector, as tests/bench/bridge-load.py makes them), then
#       PATCHes each one's status.loadBalancer.ingress to an address of 2001:db8:fe::/64,
#       as the controller of that class would: the objects the bridge lists and watches
#       are the size of addressed Services, with both writers' managedFields. THREADS
#       connections in parallel. Prints "created S" and "addressed S" (seconds from the
#       start) and "bytes B" (the JSON size of one Service as the API returns it).
import os
import json
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kubeapi  # noqa: E402

server, ca, token, cmd = sys.argv[1:5]
api = kubeapi.Api(server, ca, token)
conn = api.conn
req = api.req


def svc(name):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "example.com/other",
                     "allocateLoadBalancerNodePorts": False, "ipFamilies": ["IPv6"],
                     "ipFamilyPolicy": "SingleStack", "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80}]}}


if cmd == "make":
    ns, n, threads = sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
    t0 = time.time()
    size = [0]

    def run(fn):
        ts = [threading.Thread(target=fn, args=(k,)) for k in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def create(k):
        c = conn()
        for i in range(k, n, threads):
            req(c, "POST", "/api/v1/namespaces/%s/services" % ns, svc("rss-%05d" % i))

    def address(k):
        c = conn()
        for i in range(k, n, threads):
            d = req(c, "PATCH", "/api/v1/namespaces/%s/services/rss-%05d/status" % (ns, i),
                    {"status": {"loadBalancer": {"ingress": [{"ip": "2001:db8:fe::%x" % (i + 1)}]}}},
                    "application/merge-patch+json")
            size[0] = len(d)

    run(create)
    print("created %.2f" % (time.time() - t0), flush=True)
    run(address)
    print("addressed %.2f" % (time.time() - t0), flush=True)
    print("bytes %d" % size[0], flush=True)
else:
    raise SystemExit("unknown command " + cmd)
