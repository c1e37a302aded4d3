#!/usr/bin/env python3
"""One process against a local Ballista cluster (a scheduler and two
executors, all from the koubei binary) on generated events and orders:
funnel, retention and sales. Prints each workload's median time on both,
the ratio, whether the JSON answers are equal, and each process's peak
memory.

    python3 scripts/bench_cluster.py --koubei PATH --events 100000000 --runs 3

The data is made with DuckDB (installed from PyPI if missing) as Parquet
and imported with `koubei import`: persons `p0..`, five event types spread
evenly over 90 days, and one paid order line for every ten events. Needs
a koubei built with `--features cluster`.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

WORKLOADS = [
    ("funnel", ["funnel", "--steps", "view,add_to_cart,purchase", "--window", "7d"]),
    ("retention", ["retention", "--period", "week", "--periods", "12",
                   "--start-event", "view", "--return-event", "purchase"]),
    ("sales", ["sales", "--by", "month", "--breakdown", "country"]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def generate(duckdb, dir, events, persons, chunks):
    con = duckdb.connect()
    con.sql("SET threads TO 2")
    con.sql("SET enable_progress_bar = false")
    per = events // chunks
    files = {"events": [], "orders": []}
    for c in range(chunks):
        ev = os.path.join(dir, f"events_{c}.parquet")
        con.sql(f"""COPY (
            SELECT TIMESTAMPTZ '2025-01-01 00:00:00+00'
                     + to_microseconds(CAST(hash(i, 1) % (90 * 86400000000) AS BIGINT)) AS ts,
                   'p' || CAST(hash(i, 2) % {persons} AS VARCHAR) AS customer_id,
                   ['view', 'view', 'search', 'add_to_cart', 'purchase', 'share'][CAST(1 + hash(i, 3) % 6 AS BIGINT)] AS event
            FROM range({c * per}, {(c + 1) * per}) t(i)) TO '{ev}' (FORMAT PARQUET)""")
        files["events"].append(ev)
        od = os.path.join(dir, f"orders_{c}.parquet")
        con.sql(f"""COPY (
            SELECT 'o' || CAST(i AS VARCHAR) AS order_id,
                   'p' || CAST(hash(i, 4) % {persons} AS VARCHAR) AS customer_id,
                   TIMESTAMPTZ '2025-01-01 00:00:00+00'
                     + to_microseconds(CAST(hash(i, 5) % (90 * 86400000000) AS BIGINT)) AS ts,
                   CAST(1 + hash(i, 6) % 50000 AS DECIMAL(18, 2)) / 100 AS amount,
                   'paid' AS status,
                   ['CN', 'CN', 'CN', 'US', 'JP', 'DE', 'GB', 'SG'][CAST(1 + hash(i, 7) % 8 AS BIGINT)] AS country
            FROM range({c * per // 10}, {(c + 1) * per // 10}) t(i)) TO '{od}' (FORMAT PARQUET)""")
        files["orders"].append(od)
        print(f"generated part {c + 1} of {chunks}", file=sys.stderr)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--koubei", help="a koubei built with --features cluster")
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--persons", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workspace", help="reuse a workspace made by an earlier run")
    ap.add_argument("--only", help="comma-separated workloads")
    a = ap.parse_args()
    koubei = a.koubei or peers.koubei(release=True)
    tmp = tempfile.mkdtemp(prefix="koubei-cluster-")
    ws = a.workspace or os.path.join(tmp, "ws")

    def k(args, env=None):
        return subprocess.run([koubei, "--workspace", ws, *args], check=True,
                              capture_output=True, text=True, env=env)

    if not a.workspace:
        duckdb = peers.module("duckdb")
        chunks = max(1, a.events // 25_000_000)
        files = generate(duckdb, tmp, a.events, a.persons, chunks)
        for table in ("orders", "events"):
            for f in files[table]:
                t0 = time.perf_counter()
                k(["import", table, f])
                print(f"imported {f} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                os.remove(f)
    n = json.loads(k(["sql", "SELECT count(*) AS n FROM events", "--format", "json"]).stdout)[0]["n"]
    lines = json.loads(k(["sql", "SELECT count(*) AS n FROM orders", "--format", "json"]).stdout)[0]["n"]
    print(f"{n:,} events, {lines:,} order lines in {ws}")

    def timed(args, cluster=None):
        env = dict(os.environ)
        extra = ["--cluster", cluster] if cluster else []
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", koubei, "--workspace", ws, *args,
                            "--format", "json", *extra],
                           capture_output=True, text=True, env=env)
        secs = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"koubei {' '.join(args + extra)} failed: {p.stderr[-2000:]}")
        return p.stdout, secs, int(p.stderr.strip().splitlines()[-1])

    only = set(a.only.split(",")) if a.only else None
    rows = []
    for name, args in WORKLOADS:
        if only and name not in only:
            continue
        local = [timed(args) for _ in range(a.runs)]
        # A fresh cluster per workload: its processes' peak memory is this
        # workload's.
        port = free_port()
        procs = [subprocess.Popen([koubei, "cluster", "scheduler", "--bind", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        wait_port(port)
        for i in range(2):
            flight, grpc = free_port(), free_port()
            procs.append(subprocess.Popen(
                [koubei, "cluster", "executor", "--scheduler", f"df://127.0.0.1:{port}",
                 "--port", str(flight), "--grpc-port", str(grpc), "--work-dir", os.path.join(tmp, f"exec{i}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            os.makedirs(os.path.join(tmp, f"exec{i}"), exist_ok=True)
            wait_port(flight)
        try:
            remote = [timed(args, f"df://127.0.0.1:{port}") for _ in range(a.runs)]
            peaks = [peak_kib(p.pid) for p in procs]
        finally:
            for p in procs:
                p.kill()
                p.wait()
        same = all(r[0] == local[0][0] for r in remote + local)
        lt = statistics.median(r[1] for r in local)
        rt = statistics.median(r[1] for r in remote)
        rows.append((name, lt, max(r[2] for r in local), rt, max(r[2] for r in remote), peaks, same))
        print(f"{name}: one process {lt:.2f} s, cluster {rt:.2f} s ({rt / lt:.2f}x), same JSON: {same}",
              file=sys.stderr)

    print()
    print("| workload | one process | cluster (2 executors) | cluster / one | same JSON | "
          "peak MB: one process | client | scheduler | executors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, lt, lm, rt, rm, peaks, same in rows:
        print(f"| {name} | {lt:.2f} s | {rt:.2f} s | {rt / lt:.2f} | {'yes' if same else 'NO'} | "
              f"{lm / 1024:.0f} | {rm / 1024:.0f} | {peaks[0] / 1024:.0f} | "
              f"{peaks[1] / 1024:.0f}, {peaks[2] / 1024:.0f} |")
    if not all(r[-1] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
