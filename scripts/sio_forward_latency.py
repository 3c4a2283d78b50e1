#!/usr/bin/env python3
"""The latency a forwarded poll adds (wsx_sio::server::forward): one polling session on node A,
then one-packet POSTs one at a time on a keep-alive connection, straight to A and through B
(which forwards them to A); prints the medians and 90th percentiles of three rounds.

usage: python3 scripts/sio_forward_latency.py HOST:PORT_A HOST:PORT_B [ROUNDS]

A and B: two `sio_demo --redis URL --advertise auto --ping-interval 10000 --ping-timeout 10000`
nodes on one Redis (see examples/sio_demo.rs), e.g. built with
`cargo build --release -p wsx-sio --features redis --example sio_demo`. Standard library only.
"""

import http.client
import json
import sys
import time


def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port))


def main():
    if len(sys.argv) < 3:
        print(next(l for l in __doc__.splitlines() if l.startswith("usage:")), file=sys.stderr)
        sys.exit(2)
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    c = conn(a)
    c.request("GET", "/socket.io/?EIO=4&transport=polling")
    sid = json.loads(c.getresponse().read()[1:])["sid"]
    url = "/socket.io/?EIO=4&transport=polling&sid=" + sid
    c.request("POST", url, body="40")
    c.getresponse().read()

    def run(addr, n=300):
        c = conn(addr)
        took = []
        for _ in range(n):
            start = time.perf_counter()
            c.request("POST", url, body="3")
            response = c.getresponse()
            response.read()
            took.append(time.perf_counter() - start)
            assert response.status == 200, response.status
        took.sort()
        return took[n // 2] * 1e6, took[int(n * 0.9)] * 1e6

    run(b, 50)  # warm: the lookup, the pooled connection
    for _ in range(rounds):
        d, f = run(a), run(b)
        print(
            f"300 POSTs, keep-alive client: straight to the owner median {d[0]:.0f} us "
            f"(p90 {d[1]:.0f}); through the other node median {f[0]:.0f} us (p90 {f[1]:.0f}); "
            f"added {f[0] - d[0]:.0f} us"
        )


if __name__ == "__main__":
    main()
