#!/usr/bin/env python3
"""Funnel and retention over a matrix of data shapes: koubei against
ClickHouse's `windowFunnel` (chdb) and a DuckDB retention query, on the
same events, in the same run.

Shapes (each a fresh workspace of events made by DuckDB, 10 per person
over 90 days, 8 event names, times to the second so that ties occur):
- ids: `string` (12 hex characters after a prefix) or `int` (the peers get
  them as integers, as their users would store them; koubei keeps ids as
  text);
- persons: 100k and 1M (1M and 10M events);
- spread: `even`, or `skewed` (30% of the events belong to 0.01% of the
  persons: a few persons with tens of thousands of events).

On each shape: funnels of 3 and 6 steps, 1-day and 30-day windows, ordered
and strict (ClickHouse's 'strict_order'); first-view retention by day and
by week. Counts must be equal to the peer's, level by level and cell by
cell. Prints the medians of `--runs` (koubei: the whole command; peers: the
query in this process, over Parquet) and each ratio, then the worst ratio
of each kind against its target (funnel 0.7, retention 0.5).

    python3 scripts/bench_funnel.py --koubei target/release/koubei
    python3 scripts/bench_funnel.py --persons 100000 --ids int --spread skewed --runs 5

chdb and DuckDB come from PyPI (a virtual environment, as
scripts/check_funnel.py makes); if they cannot be installed the script says
so and exits 2.
"""

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_funnel import DUCKDB_RETENTION, ensure_chdb, export_events, window_funnel_sql  # noqa: E402

NAMES = ["view", "add_to_cart", "checkout", "purchase", "share", "review", "search", "support"]
STEPS = {3: ["view", "add_to_cart", "purchase"], 6: NAMES[:6]}
WINDOWS = {"1d": 86_400, "30d": 30 * 86_400}
EVENTS_PER_PERSON = 10
FUNNEL_TARGET, RETENTION_TARGET = 0.7, 0.5


def make_events(duckdb, path, persons, ids, spread):
    """Writes the shape's events as CSV (ts in epoch seconds, customer_id,
    event), the same for the same arguments."""
    n = persons * EVENTS_PER_PERSON
    heavy = max(1, persons // 10_000)
    who = (f"CASE WHEN h4 % 100 < 30 THEN h2 % {heavy} ELSE h2 % {persons} END"
           if spread == "skewed" else f"h2 % {persons}")
    ident = ("CAST(pid AS VARCHAR)" if ids == "int"
             else "'c' || substr(md5(CAST(pid AS VARCHAR)), 1, 12)")
    names = "[" + ", ".join(f"'{x}'" for x in NAMES) + "]"
    duckdb.sql(f"""
        COPY (
          WITH r AS (SELECT hash(4 * i) AS h1, hash(4 * i + 1) AS h2, hash(4 * i + 2) AS h3, hash(4 * i + 3) AS h4
                     FROM range({n}) t(i)),
          p AS (SELECT 1704067200 + h1 % {90 * 86_400} AS ts, {who} AS pid, h3 FROM r)
          SELECT ts, {ident} AS customer_id, {names}[CAST(1 + h3 % {len(NAMES)} AS BIGINT)] AS event FROM p
        ) TO '{path}' (HEADER, DELIMITER ',')""")


def median_time(f, runs):
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--koubei", help="the koubei binary (default: build it in release)")
    ap.add_argument("--persons", default="100000,1000000")
    ap.add_argument("--ids", default="string,int")
    ap.add_argument("--spread", default="even,skewed")
    ap.add_argument("--steps", default="3,6", help="funnel lengths; empty for retention only")
    ap.add_argument("--windows", default="1d,30d")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", help="keep the shapes' files here (default: a temporary folder)")
    a = ap.parse_args()
    ensure_chdb()
    import chdb
    import duckdb

    from peers import koubei as koubei_binary
    koubei = koubei_binary(a.koubei, release=True)
    root = a.dir or tempfile.mkdtemp(prefix="koubei-bench-funnel-")
    os.makedirs(root, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    rows, ok = [], True
    shapes = itertools.product(a.ids.split(","), [int(p) for p in a.persons.split(",")],
                               a.spread.split(","))
    for ids, persons, spread in shapes:
        shape = f"{ids} ids, {persons // 1000}k persons, {spread}"
        ws = os.path.join(root, f"ws-{ids}-{persons}-{spread}")
        csv = os.path.join(root, f"events-{ids}-{persons}-{spread}.csv")
        parquet = os.path.join(root, f"events-{ids}-{persons}-{spread}.parquet")
        shutil.rmtree(ws, ignore_errors=True)
        print(f"== {shape}: making {persons * EVENTS_PER_PERSON:,} events", file=sys.stderr)
        make_events(con, csv, persons, ids, spread)

        def k(*args):
            return subprocess.run([koubei, "--workspace", ws, *args], check=True,
                                  capture_output=True, text=True).stdout

        k("import", "events", csv)
        os.remove(csv)
        # The peers read what koubei stored, with integer ids as integers.
        person = "CAST(customer_id AS BIGINT)" if ids == "int" else "customer_id"
        export_events(ws, parquet, lambda q: k("sql", q, "--format", "csv"), person)
        source = f"file('{parquet}', Parquet)"

        for n_steps, window, mode in itertools.product(
                [int(s) for s in a.steps.split(",") if s], a.windows.split(","), ["ordered", "strict"]):
            steps = STEPS[n_steps]
            sql = window_funnel_sql(source, steps, WINDOWS[window], mode == "strict")
            peer_s, out = median_time(lambda: chdb.query(sql, "CSV").bytes().decode(), a.runs)
            levels = {int(l): int(c) for l, c in (line.split(",") for line in out.split())}
            theirs = [sum(c for l, c in levels.items() if l >= i + 1) for i in range(n_steps)]
            mine_s, out = median_time(lambda: k("funnel", "--steps", ",".join(steps), "--window", window,
                                                "--order", mode, "--format", "json"), a.runs)
            mine = [s["persons"] for s in json.loads(out)["steps"]]
            rows.append(("funnel", shape, f"{n_steps} steps, {window}, {mode}", mine_s, peer_s,
                         mine == theirs))
            ok &= mine == theirs
            report(rows[-1], f"{mine} chdb {theirs}")

        for period, periods in [("day", 7), ("week", 4)]:
            q = DUCKDB_RETENTION.format(source=f"read_parquet('{parquet}')", period=period,
                                        periods=periods)
            peer_s, out = median_time(lambda: con.sql(q).fetchall(), a.runs)
            theirs = {}
            for cohort, kk, n in out:
                theirs.setdefault(cohort, [0] * (periods + 1))[kk] = n
            mine_s, out = median_time(lambda: k("retention", "--period", period, "--periods", str(periods),
                                                "--start-event", "view", "--return-event", "view",
                                                "--format", "json"), a.runs)
            mine = {c["cohort"]: [n or 0 for n in c["retained"]] for c in json.loads(out)["cohorts"]}
            rows.append(("retention", shape, f"by {period}", mine_s, peer_s, mine == theirs))
            ok &= mine == theirs
            report(rows[-1], f"{len(mine)} cohorts")
        if not a.dir:
            shutil.rmtree(ws, ignore_errors=True)
            os.remove(parquet)

    print("\n| kind | shape | query | koubei | peer | koubei / peer | counts |")
    print("|---|---|---|---:|---:|---:|---|")
    for kind, shape, query, mine_s, peer_s, same in rows:
        print(f"| {kind} | {shape} | {query} | {mine_s:.2f} s | {peer_s:.2f} s | "
              f"{mine_s / peer_s:.2f} | {'equal' if same else 'DIFFERENT'} |")
    for kind, target in [("funnel", FUNNEL_TARGET), ("retention", RETENTION_TARGET)]:
        ratios = [r[3] / r[4] for r in rows if r[0] == kind]
        if ratios:
            over = sum(x > target for x in ratios)
            print(f"{kind}: worst ratio {max(ratios):.2f}, median {statistics.median(ratios):.2f}; "
                  f"{over} of {len(ratios)} over the target {target}")
    if not a.dir:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if ok else 1)


def report(row, counts):
    kind, shape, query, mine_s, peer_s, same = row
    print(f"{kind:<9} {shape:<34} {query:<24} koubei {mine_s:6.2f} s  peer {peer_s:6.2f} s  "
          f"ratio {mine_s / peer_s:5.2f}  {'equal' if same else 'DIFFERENT'}: {counts}", flush=True)


if __name__ == "__main__":
    main()
