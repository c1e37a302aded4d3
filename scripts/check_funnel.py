#!/usr/bin/env python3
"""Funnel cross-check and benchmark: koubei against ClickHouse's windowFunnel
(through chdb, ClickHouse in a Python process) on the same events.

Generates a demo shop (or uses `--workspace`, or with `--random N` writes N
random events: few event names, second-resolution times so that ties occur,
and other events between the steps), exports its events to Parquet
with `koubei sql "COPY ..."`, and for each mode (ordered; strict, ClickHouse's
'strict_order') and window:
- compares the persons at each funnel level, which must be equal, not close;
- times the whole `koubei funnel` command and the chdb query over the Parquet
  file, `--runs` times each, and prints the medians and their ratio.

    python3 scripts/check_funnel.py                          # 10,000 customers
    python3 scripts/check_funnel.py --random 10000000 --persons 1000000 \
        --steps view,add_to_cart,purchase --windows 7d --retention
                                                             # the issue's benchmark

With `--retention`, it also times `koubei retention --period week` (first
view, returning views) against the same matrix computed by DuckDB, checks
that every cell is equal, and prints both peak memories.

chdb is installed from PyPI into a virtual environment; if it cannot be, the
script says so and exits 2.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ["view", "add_to_cart", "checkout", "purchase"]


def ensure_chdb():
    try:
        import chdb  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("KOUBEI_CHECK_IN_VENV"):
        print("chdb is not importable in its virtual environment", file=sys.stderr)
        sys.exit(2)
    venv = os.path.join(tempfile.gettempdir(), "koubei-check-funnel-venv")
    py = os.path.join(venv, "bin", "python")
    try:
        if not os.path.exists(py):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "chdb", "duckdb"], check=True)
    except subprocess.CalledProcessError as e:
        print(f"cannot install chdb from PyPI ({e}); no cross-check was run", file=sys.stderr)
        sys.exit(2)
    os.execve(py, [py] + sys.argv, dict(os.environ, KOUBEI_CHECK_IN_VENV="1"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--koubei", help="the koubei binary (default: build it in release)")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--workspace", help="use this workspace instead of generating a demo")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--windows", default="1h,1d,14d")
    ap.add_argument("--random", type=int, default=0,
                    help="instead of a demo shop, N random events (a harder test of the modes)")
    ap.add_argument("--persons", type=int, default=0, help="persons of the random events (default N / 20)")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--retention", action="store_true", help="also time weekly retention against DuckDB")
    a = ap.parse_args()
    ensure_chdb()
    import chdb

    koubei = a.koubei
    if not koubei:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        koubei = os.path.join(target, "release", "koubei")

    tmp = tempfile.mkdtemp(prefix="koubei-funnel-")
    ws = a.workspace or os.path.join(tmp, "ws")

    def k(*args):
        return subprocess.run([koubei, "--workspace", ws, *args], check=True,
                              capture_output=True, text=True).stdout

    def k_timed(*args):
        """stdout, seconds and peak KiB of a koubei command."""
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", koubei, "--workspace", ws, *args],
                           check=True, capture_output=True, text=True)
        return p.stdout, time.perf_counter() - t0, int(p.stderr.strip().splitlines()[-1])

    steps = a.steps.split(",")

    if a.random:
        import random
        rng = random.Random(5)
        names = STEPS + ["search", "support_call"]
        persons = a.persons or max(1, a.random // 20)
        path = os.path.join(tmp, "random_events.csv")
        with open(path, "w") as f:
            f.write("ts,customer_id,event\n")
            for _ in range(a.random):
                t = 1_704_067_200 + rng.randrange(30 * 86400)
                f.write(f"{t},p{rng.randrange(persons)},{rng.choice(names)}\n")
        k("import", "events", path)
    elif not a.workspace:
        print(f"generating a demo shop of {a.customers} customers ...", file=sys.stderr)
        k("demo", "--customers", str(a.customers))
    parquet = os.path.join(tmp, "events.parquet")
    n_events = export_events(ws, parquet, lambda q: k("sql", q, "--format", "csv"))
    print(f"{n_events} events")

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    ok = True
    for window in a.windows.split(","):
        window_secs = int(window[:-1]) * units[window[-1]]
        for mode in ["ordered", "strict"]:
            sql = window_funnel_sql(f"file('{parquet}', Parquet)", steps, window_secs, mode == "strict")
            ch_times, levels = [], {}
            for _ in range(a.runs):
                t0 = time.perf_counter()
                try:
                    out = chdb.query(sql, "CSV").bytes().decode()
                except RuntimeError as e:
                    sys.exit(f"chdb failed on: {sql}\n{e}")
                ch_times.append(time.perf_counter() - t0)
            for line in out.strip().splitlines():
                lvl, cnt = line.split(",")
                levels[int(lvl)] = int(cnt)
            theirs = [sum(c for l, c in levels.items() if l >= i + 1) for i in range(len(steps))]
            k_times, peak = [], 0
            for _ in range(a.runs):
                out, secs, kib = k_timed("funnel", "--steps", ",".join(steps), "--window", window,
                                         "--order", mode, "--format", "json")
                r = json.loads(out)
                k_times.append(secs)
                peak = max(peak, kib)
            mine = [s["persons"] for s in r["steps"]]
            same = mine == theirs
            ok &= same
            km, cm = statistics.median(k_times), statistics.median(ch_times)
            print(f"window {window:>4} {mode:<8} koubei {mine} chdb {theirs} "
                  f"{'EQUAL' if same else 'DIFFERENT'}; median koubei {km:.2f} s ({peak / 1024:.0f} MiB peak), "
                  f"chdb {cm:.2f} s, ratio {km / cm:.2f}")
    if a.retention:
        ok &= retention(a, parquet, k_timed)
    import resource
    print(f"this Python process (chdb, DuckDB) peaked at "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    sys.exit(0 if ok else 1)


def export_events(ws, path, koubei_sql, person="COALESCE(customer_id, anonymous_id)"):
    """Writes the workspace's events with a person (`person`, ts, event) to
    the Parquet file `path`, for the peers, and returns their number.

    `koubei sql` only reads, so DuckDB reads the events table's Parquet
    files; the count is checked against koubei's, which holds while every
    file is live (the table was only ever appended to)."""
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = os.path.join(ws, "tables", "events", "*.parquet")
    con.sql(f"COPY (SELECT {person} AS person, ts, event FROM read_parquet('{files}') "
            f"WHERE customer_id IS NOT NULL OR anonymous_id IS NOT NULL) TO '{path}' (FORMAT PARQUET)")
    n = con.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
    theirs = int(koubei_sql("SELECT count(*) AS n FROM events "
                            "WHERE customer_id IS NOT NULL OR anonymous_id IS NOT NULL").split()[-1])
    if n != theirs:
        sys.exit(f"the events table's files hold {n} events with a person, koubei counts {theirs}: "
                 "not every file is live")
    return n


def window_funnel_sql(source, steps, window_secs, strict):
    """ClickHouse's persons by the level they reached (`level, count`), over
    `source` with columns person, ts and event."""
    conds = ", ".join(f"event = '{s}'" for s in steps)
    mode = ", 'strict_order'" if strict else ""
    return (f"SELECT level, count() FROM (SELECT person, "
            f"windowFunnel({window_secs * 1_000_000}{mode})(toUInt64(toUnixTimestamp64Micro(ts)), {conds}) AS level "
            f"FROM {source} GROUP BY person) WHERE level > 0 GROUP BY level ORDER BY level")


DUCKDB_RETENTION = """
WITH e AS (SELECT person, ts FROM {source} WHERE event = 'view'),
s AS (SELECT person, min(date_trunc('{period}', ts)) AS cohort FROM e GROUP BY person),
r AS (SELECT DISTINCT person, date_trunc('{period}', ts) AS period FROM e)
SELECT strftime(s.cohort, '%Y-%m-%d') AS cohort,
       CAST(date_diff('{period}', s.cohort, r.period) AS INTEGER) AS k, count(*) AS n
FROM s JOIN r ON s.person = r.person AND r.period > s.cohort
WHERE date_diff('{period}', s.cohort, r.period) <= {periods}
GROUP BY 1, 2
UNION ALL SELECT strftime(cohort, '%Y-%m-%d'), 0, count(*) FROM s GROUP BY 1
"""


def retention(a, parquet, k_timed):
    """Weekly first-view retention: koubei against DuckDB, cell by cell."""
    import duckdb
    periods = 4
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        rows = con.sql(DUCKDB_RETENTION.format(source=f"read_parquet('{parquet}')", period="week", periods=periods)).fetchall()
        times.append(time.perf_counter() - t0)
    theirs = {}
    for cohort, kk, n in rows:
        theirs.setdefault(cohort, [0] * (periods + 1))[kk] = n
    k_times, peak = [], 0
    for _ in range(a.runs):
        out, secs, kib = k_timed("retention", "--period", "week", "--periods", str(periods),
                                 "--start-event", "view", "--return-event", "view", "--format", "json")
        k_times.append(secs)
        peak = max(peak, kib)
    mine = {c["cohort"]: [n or 0 for n in c["retained"]] for c in json.loads(out)["cohorts"]}
    same = mine == theirs
    km, dm = statistics.median(k_times), statistics.median(times)
    print(f"weekly retention, {len(mine)} cohorts: {'EQUAL' if same else 'DIFFERENT'}; "
          f"median koubei {km:.2f} s ({peak / 1024:.0f} MiB peak), DuckDB {dm:.2f} s, ratio {km / dm:.2f}")
    return same


if __name__ == "__main__":
    main()
