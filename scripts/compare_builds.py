#!/usr/bin/env python3
"""Times two koubei binaries on the same workloads, in turns, and prints the
median of each and their ratio: for a refactoring that must leave no step
slower. The peers' own benches (bench_*.py, check_*.py) compare koubei with
DuckDB, chdb and lifetimes; at a fixed peer time, a koubei ratio that holds
between two builds is the same check without installing the peers.

    python3 scripts/compare_builds.py OLD_BINARY NEW_BINARY [--customers 200000] [--runs 5] [--only import]
    python3 scripts/compare_builds.py OLD NEW --workspace WS --command "report --out /tmp/r.html"

With --workspace and --command, only that command on that workspace, each
binary in turn, with the medians of wall and CPU (user + system) time:
for a change measured on a shop of one's own (a 1M demo, a shop with
integer ids) rather than a generated one.

Workloads, on a demo shop that each binary generates for itself (the same
seed gives the same shop; a build may store it differently, as money
became exact decimals):
- import: the shop's orders exported as CSV, imported into a fresh workspace;
- sales by month, by quarter with a country breakdown;
- a 4-step funnel with a 7-day window; weekly retention;
- rfm; clv from the stored purchases and with --recompute;
- wom metrics and wom seeds on the referral graph;
- wom seeds on NetHEPT when ../shared/data/nethept/hep.txt (or --nethept) exists.
That a build gives the outputs it should is checked elsewhere:
scripts/snapshots.sh --check.
"""

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(binary, args, cwd):
    started = time.perf_counter()
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", help="time only the workloads whose name contains this")
    ap.add_argument(
        "--nethept", default=os.path.join(ROOT, "..", "shared", "data", "nethept", "hep.txt")
    )
    ap.add_argument("--workspace", help="with --command: the workspace it reads")
    ap.add_argument("--command", help="with --workspace: the arguments after `koubei -w WS`")
    a = ap.parse_args()
    old, new = os.path.abspath(a.old), os.path.abspath(a.new)
    if a.command or a.workspace:
        if not (a.command and a.workspace):
            sys.exit("--command and --workspace go together")
        return command_in_turns(old, new, a.workspace, shlex.split(a.command), a.runs)
    work = tempfile.mkdtemp(prefix="koubei-compare-")
    try:
        shops = {b: os.path.join(work, name) for b, name in ((old, "shop-old"), (new, "shop-new"))}
        for b, shop in shops.items():
            print(f"generating a demo shop of {a.customers} customers ...", file=sys.stderr)
            subprocess.run(
                [b, "-w", shop, "demo", "--customers", str(a.customers), "--format", "json"],
                check=True,
                capture_output=True,
            )
        orders = os.path.join(work, "orders.csv")
        with open(orders, "w") as f:
            subprocess.run(
                [new, "-w", shops[new], "sql", "SELECT * FROM orders", "--format", "csv"],
                check=True,
                stdout=f,
            )
        shop = "SHOP"
        workloads = [
            ("sales by month", ["-w", shop, "sales", "--by", "month", "--format", "json"]),
            (
                "sales by quarter and country",
                ["-w", shop, "sales", "--by", "quarter", "--breakdown", "country", "--format", "json"],
            ),
            (
                "funnel, 4 steps, 7 days",
                ["-w", shop, "funnel", "--steps", "view,add_to_cart,checkout,purchase",
                 "--window", "7d", "--format", "json"],
            ),
            ("retention by week", ["-w", shop, "retention", "--period", "week", "--format", "json"]),
            ("rfm", ["-w", shop, "rfm", "--format", "json"]),
            ("clv (stored purchases)", ["-w", shop, "clv", "--format", "json"]),
            ("clv --recompute", ["-w", shop, "clv", "--recompute", "--format", "json"]),
            ("wom metrics", ["-w", shop, "wom", "metrics", "--format", "json"]),
            ("wom seeds -k 20", ["-w", shop, "wom", "seeds", "-k", "20", "--format", "json"]),
        ]
        if os.path.exists(a.nethept):
            workloads.append(
                ("NetHEPT seeds -k 50",
                 ["wom", "seeds", "--graph", a.nethept, "--undirected", "-k", "50", "--format", "json"])
            )
        else:
            print(f"{a.nethept} not found: NetHEPT skipped", file=sys.stderr)
        print(f"| workload | old median (s) | new median (s) | new / old |")
        print(f"|---|---|---|---|")
        workloads = [w for w in workloads if not a.only or a.only in w[0]]
        # Import: into a fresh workspace each time.
        times = {old: [], new: []}
        for i in range(a.runs if not a.only or a.only in "import of the orders CSV" else 0):
            for b in (old, new) if i % 2 == 0 else (new, old):
                ws = os.path.join(work, f"import-{i}")
                shutil.rmtree(ws, ignore_errors=True)
                t = run(b, ["-w", ws, "import", "orders", orders, "--output", "json"], work)
                times[b].append(t)
                shutil.rmtree(ws, ignore_errors=True)
        if times[old]:
            report("import of the orders CSV", times, old, new)
        for name, args in workloads:
            times = {old: [], new: []}
            for i in range(a.runs):
                for b in (old, new) if i % 2 == 0 else (new, old):
                    times[b].append(run(b, [shops[b] if x == shop else x for x in args], work))
            report(name, times, old, new)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def command_in_turns(old, new, workspace, args, runs):
    wall, cpu = {old: [], new: []}, {old: [], new: []}
    for i in range(runs):
        for b in (old, new) if i % 2 == 0 else (new, old):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall[b].append(run(b, ["-w", workspace, *args], os.getcwd()))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[b].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print("| binary | wall median (fastest) | CPU median |")
    print("|---|---|---|")
    for b in (old, new):
        print(f"| {b} | {statistics.median(wall[b]):.2f} s ({min(wall[b]):.2f}) "
              f"| {statistics.median(cpu[b]):.2f} s |")
    print(f"new / old: wall {statistics.median(wall[new]) / statistics.median(wall[old]):.2f}, "
          f"CPU {statistics.median(cpu[new]) / statistics.median(cpu[old]):.2f}")


def report(name, times, old, new):
    mo, mn = statistics.median(times[old]), statistics.median(times[new])
    print(f"| {name} | {mo:.3f} | {mn:.3f} | {mn / mo:.2f} |", flush=True)


if __name__ == "__main__":
    main()
