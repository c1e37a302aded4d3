#!/usr/bin/env python3
"""Events per second that `koubei serve` acknowledges durably, on loopback.

    python3 scripts/bench_capture.py [--seconds 10] [--runs 3] [--koubei PATH] [--load PATH]

Starts the server with a token on a small demo shop, then runs the load
client (`crates/koubei-server/examples/capture_load.rs`, Rust, one kept-alive
connection per client) in two shapes, RUNS times each:

- batched: 4 clients, 1,000 events per request;
- single: 64 clients, one event per request.

Every answer it counts is a 200, given only after the events' log record
was fdatasync'ed. At the end the server is stopped with SIGTERM (it stores
what is waiting) and the events table must hold every acknowledged event
exactly once. Prints the median of the runs; there is no peer to run on the
same machine (RudderStack publishes about 1,700 events/s on 2 cores).
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile

import peers

SHAPES = [("batched", 4, 1000), ("single", 64, 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--koubei", help="path to a built koubei binary (default: a release build)")
    ap.add_argument("--load", help="path to a built capture_load example (default: a release build)")
    a = ap.parse_args()
    koubei = peers.koubei(a.koubei, release=True)
    load = peers.example("capture_load", "koubei-server", a.load)
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        subprocess.run([koubei, "-w", ws, "demo", "--customers", "1000"], check=True, capture_output=True)
        server = subprocess.Popen([koubei, "-w", ws, "serve", "--addr", "127.0.0.1:0", "--token", "bench"],
                                  stderr=subprocess.PIPE, text=True)
        acked = 0
        results = {}
        try:
            line = server.stderr.readline()
            addr = line.split("http://")[1].split("/")[0]
            for name, clients, batch in SHAPES:
                for run in range(a.runs):
                    out = subprocess.run([load, addr, "bench", str(clients), str(batch), str(a.seconds)],
                                         check=True, capture_output=True, text=True).stdout
                    r = json.loads(out)
                    print(f"{name} run {run + 1}: {out.strip()}", file=sys.stderr)
                    if r["errors"]:
                        print(f"{r['errors']} requests failed", file=sys.stderr)
                    acked += r["events"]
                    results.setdefault(name, []).append(r)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=600)
        stored = subprocess.run(
            [koubei, "-w", ws, "sql", "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events WHERE event_id LIKE 'L%'",
             "--format", "json"], check=True, capture_output=True, text=True).stdout
        row = json.loads(stored)[0]
        print(f"acknowledged {acked}, stored {row['n']} ({row['d']} distinct)", file=sys.stderr)
        if row["n"] != acked or row["d"] != acked:
            print("the stored events do not match the acknowledged ones", file=sys.stderr)
            sys.exit(1)
        print(f"| shape | clients | events per request | events/s (median of {a.runs}) | p50 | p99 |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, clients, batch in SHAPES:
            rs = results[name]
            med = lambda k: statistics.median(r[k] for r in rs)
            print(f"| {name} | {clients} | {batch} | {med('events_per_s'):,.0f} | {med('p50_ms'):.1f} ms | {med('p99_ms'):.1f} ms |")


if __name__ == "__main__":
    main()
