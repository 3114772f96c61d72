#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The client side of tests/bench/bridge: talks to the API server itself (HTTP/1.1 over TLS,
# verified against the CA; standard library only), with a watch of the namespace's
# Services that timestamps every event as it arrives.
#
#   bridge-load.py SERVER CA TOKEN latency NS N
#       N rounds, one at a time: (1) the API floor: PATCH the status of Service floor-I
#       (of a loadBalancerClass mlbd leaves alone) and time until the watch shows it;
#       (2) PATCH Service edit-I from ClusterIP to LoadBalancer and time until the watch
#       shows its status.loadBalancer.ingress (written by mlbd-bridge). Makes both
#       Services first. Prints "floor MS" and "edit MS" lines.
#   bridge-load.py SERVER CA TOKEN bulk NS N THREADS
#       creates N LoadBalancer Services bulk-I with THREADS connections in parallel; prints
#       "created S" when the last create returned and "all S" when the watch has shown
#       every one with an address (seconds since the first create).
#   bridge-load.py SERVER CA TOKEN patch NS N THREADS
#       the API server's own write rate, the floor of (b): PATCHes an annotation onto
#       Services bulk-0..N-1 with THREADS connections (the same objects, the same etcd
#       writes and watch events as a status write; the bridge sees them and writes
#       nothing); prints "patched S".
#   bridge-load.py SERVER CA TOKEN addrs NS
#       "name address" per Service of NS with an address, sorted.
import os
import json
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kubeapi  # noqa: E402

server, ca, token, cmd = sys.argv[1:5]
api = kubeapi.Api(server, ca, token)
conn = api.conn


def req(c, method, path, body=None, ctype="application/json"):
    data = api.req(c, method, path, body, ctype)
    return json.loads(data) if data else None


def svc(name, typ, cls=None):
    spec = {"type": typ, "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
            "selector": {"app": name}, "ports": [{"port": 80}]}
    if typ == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = False  # 2,768 NodePorts would run out
    if cls:
        spec["loadBalancerClass"] = cls
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


class Watch(threading.Thread):
    """Watches NS's Services from RV; seen[name] = time the first event with an ingress
    arrived; every event is also passed to hook."""

    def __init__(self, ns, rv):
        super().__init__(daemon=True)
        self.ns, self.rv, self.seen, self.cv = ns, rv, {}, threading.Condition()

    def run(self):
        c = conn(None)
        c.request("GET", "/api/v1/namespaces/%s/services?watch=1&resourceVersion=%s"
                  "&allowWatchBookmarks=true&timeoutSeconds=3600" % (self.ns, self.rv),
                  headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        while True:
            line = r.readline()
            if not line:
                return
            t = time.time()
            ev = json.loads(line)
            o = ev.get("object", {})
            ing = (o.get("status", {}).get("loadBalancer", {}) or {}).get("ingress")
            if ev.get("type") in ("ADDED", "MODIFIED") and ing:
                name = o["metadata"]["name"]
                with self.cv:
                    if name not in self.seen:
                        self.seen[name] = t
                        self.cv.notify_all()

    def wait(self, name, timeout):
        with self.cv:
            self.cv.wait_for(lambda: name in self.seen, timeout)
            return self.seen.get(name)

    def wait_count(self, n, timeout):
        with self.cv:
            self.cv.wait_for(lambda: len(self.seen) >= n, timeout)
            return len(self.seen)


def in_parallel(n, threads, do):
    """do(connection, i) for i in 0..n-1, spread over THREADS connections; returns when all are done"""
    def worker(k):
        cc = conn()
        for i in range(k, n, threads):
            do(cc, i)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def list_rv(c, ns):
    return req(c, "GET", "/api/v1/namespaces/%s/services?limit=1" % ns)["metadata"]["resourceVersion"]


if cmd == "latency":
    ns, n = sys.argv[5], int(sys.argv[6])
    c = conn()
    for i in range(n):
        req(c, "POST", "/api/v1/namespaces/%s/services" % ns, svc("floor-%d" % i, "LoadBalancer", "example.com/other"))
        req(c, "POST", "/api/v1/namespaces/%s/services" % ns, svc("edit-%d" % i, "ClusterIP"))
    w = Watch(ns, list_rv(c, ns))
    w.start()
    time.sleep(1)
    mp = "application/merge-patch+json"
    for i in range(n):
        # the floor: a status written and seen, by the API server alone
        ip = "2001:db8:fe::%x" % (i + 1)
        t0 = time.time()
        req(c, "PATCH", "/api/v1/namespaces/%s/services/floor-%d/status" % (ns, i),
            {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}, mp)
        t1 = w.wait("floor-%d" % i, 10)
        print("floor %.3f" % ((t1 - t0) * 1000 if t1 else -1), flush=True)
        # the edit: ClusterIP -> LoadBalancer, until mlbd-bridge's status write is seen
        t0 = time.time()
        req(c, "PATCH", "/api/v1/namespaces/%s/services/edit-%d" % (ns, i),
            {"spec": {"type": "LoadBalancer"}}, mp)
        t1 = w.wait("edit-%d" % i, 30)
        print("edit %.3f" % ((t1 - t0) * 1000 if t1 else -1), flush=True)
elif cmd == "bulk":
    ns, n, threads = sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
    c = conn()
    w = Watch(ns, list_rv(c, ns))
    w.start()
    time.sleep(1)
    t0 = time.time()

    in_parallel(n, threads, lambda cc, i: req(cc, "POST", "/api/v1/namespaces/%s/services" % ns,
                                              svc("bulk-%05d" % i, "LoadBalancer")))
    print("created %.2f" % (time.time() - t0), flush=True)
    got = w.wait_count(n, 600)
    last = max(w.seen.values()) if w.seen else t0
    print("all %.2f %d" % (last - t0, got), flush=True)
elif cmd == "patch":
    ns, n, threads = sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
    t0 = time.time()

    in_parallel(n, threads, lambda cc, i: req(cc, "PATCH", "/api/v1/namespaces/%s/services/bulk-%05d" % (ns, i),
                                              {"metadata": {"annotations": {"example.com/floor": str(i)}}},
                                              "application/merge-patch+json"))
    print("patched %.2f" % (time.time() - t0), flush=True)
elif cmd == "addrs":
    ns = sys.argv[5]
    c = conn()
    out, cont = [], ""
    while True:
        l = req(c, "GET", "/api/v1/namespaces/%s/services?limit=500%s" % (ns, cont))
        for o in l["items"]:
            ing = (o.get("status", {}).get("loadBalancer", {}) or {}).get("ingress") or []
            if ing:
                out.append("%s %s" % (o["metadata"]["name"], ",".join(x.get("ip", "") for x in ing)))
        k = l["metadata"].get("continue")
        if not k:
            break
        cont = "&continue=" + urllib.parse.quote(k)
    print("\n".join(sorted(out)))
else:
    raise SystemExit("unknown command " + cmd)
