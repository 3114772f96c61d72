# SPDX-License-Identifier: MIT
# kubeapi.py: the API client the bench load scripts share (bridge-load.py,
# bridge-rss-load.py): HTTPS with the cluster's CA and a bearer token, the API server's
# own back-pressure (429, 5xx with Retry-After) waited out and retried.
import http.client
import json
import ssl
import sys
import time
import urllib.parse


class Api:
    def __init__(self, server, ca, token):
        self.url = urllib.parse.urlparse(server)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token = token

    def conn(self, timeout=120):
        return http.client.HTTPSConnection(self.url.hostname, self.url.port, context=self.ctx,
                                           timeout=timeout)

    def req(self, c, method, path, body=None, ctype="application/json"):
        """The response body (bytes) of a 2xx; RuntimeError otherwise."""
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = ctype
            body = json.dumps(body)
        for attempt in range(10):
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            if r.status == 429 or r.status >= 500:
                sys.stderr.write("# %s %s: HTTP %d, retrying\n" % (method, path, r.status))
                time.sleep(float(r.getheader("Retry-After") or 1))
                continue
            break
        if r.status >= 300:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, r.status, data[:300]))
        return data
