#!/usr/bin/env python3
"""Latency of `koubei serve` on loopback: the first (computed) and the
cached answers of the dashboard's queries, from several concurrent clients.

    python3 scripts/bench_serve.py [--customers 100000] [--clients 8] [--requests 2000] [--koubei PATH]

Generates a demo shop, starts the server on a free port, times each query
once uncached, then has CLIENTS threads send REQUESTS GETs in all, spread
over the same queries (all cached after the first), and prints the
median, p99 and requests per second. The client is Python's http.client,
one connection per thread: its own overhead is in the figures.
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import peers


QUERIES = [
    "/v1/sales?by=month",
    "/v1/sales?by=quarter&breakdown=country&top=5",
    "/v1/funnel?steps=view,add_to_cart,checkout,purchase&window_seconds=604800",
    "/v1/retention?period=week&periods=8",
    "/v1/rfm",
    "/v1/clv",
    "/v1/wom/metrics",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--koubei", help="path to a built koubei binary (default: a release build)")
    a = ap.parse_args()
    koubei = peers.koubei(a.koubei, release=True)
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        subprocess.run([koubei, "-w", ws, "demo", "--customers", str(a.customers)], check=True, capture_output=True)
        server = subprocess.Popen([koubei, "-w", ws, "serve", "--addr", "127.0.0.1:0"],
                                  stderr=subprocess.PIPE, text=True)
        try:
            line = server.stderr.readline()
            host, port = line.split("http://")[1].split("/")[0].split(":")
            print(f"{a.customers} customers; {a.clients} clients; {a.requests} requests", file=sys.stderr)
            print("| query | first answer (ms) |")
            print("|---|---|")
            conn = http.client.HTTPConnection(host, int(port))
            for q in QUERIES:
                started = time.perf_counter()
                conn.request("GET", q)
                r = conn.getresponse()
                r.read()
                assert r.status == 200, (q, r.status)
                print(f"| `{q}` | {1000 * (time.perf_counter() - started):.0f} |")
            latencies = []
            lock = threading.Lock()

            def client(n, offset):
                c = http.client.HTTPConnection(host, int(port))
                mine = []
                for i in range(n):
                    q = QUERIES[(offset + i) % len(QUERIES)]
                    started = time.perf_counter()
                    c.request("GET", q)
                    r = c.getresponse()
                    r.read()
                    mine.append(time.perf_counter() - started)
                    assert r.getheader("x-koubei-cache") == "hit", q
                with lock:
                    latencies.extend(mine)

            per = a.requests // a.clients
            threads = [threading.Thread(target=client, args=(per, i)) for i in range(a.clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            latencies.sort()
            p99 = latencies[int(0.99 * (len(latencies) - 1))]
            print()
            print(f"cached: median {1000 * statistics.median(latencies):.1f} ms, p99 {1000 * p99:.1f} ms, "
                  f"{len(latencies) / elapsed:.0f} requests/s")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
