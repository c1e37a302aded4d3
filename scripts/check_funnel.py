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
    python3 scripts/check_funnel.py --customers 265000       # about 10M events

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
        subprocess.run([py, "-m", "pip", "install", "-q", "chdb"], check=True)
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

    if a.random:
        import random
        rng = random.Random(5)
        names = STEPS + ["search", "support_call"]
        path = os.path.join(tmp, "random_events.csv")
        with open(path, "w") as f:
            f.write("ts,customer_id,event\n")
            for _ in range(a.random):
                t = 1_704_067_200 + rng.randrange(30 * 86400)
                f.write(f"{t},p{rng.randrange(max(1, a.random // 20))},{rng.choice(names)}\n")
        k("import", "events", path)
    elif not a.workspace:
        print(f"generating a demo shop of {a.customers} customers ...", file=sys.stderr)
        k("demo", "--customers", str(a.customers))
    parquet = os.path.join(tmp, "events.parquet")
    k("sql", f"COPY (SELECT COALESCE(customer_id, anonymous_id) AS person, ts, event FROM events "
             f"WHERE COALESCE(customer_id, anonymous_id) IS NOT NULL) TO '{parquet}' STORED AS PARQUET")
    n_events = int(chdb.query(f"SELECT count() FROM file('{parquet}', Parquet)", "CSV").bytes().decode().strip())
    print(f"{n_events} events")

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    ok = True
    for window in a.windows.split(","):
        secs = int(window[:-1]) * units[window[-1]]
        for mode, ch_mode in [("ordered", ""), ("strict", ", 'strict_order'")]:
            conds = ", ".join(f"event = '{s}'" for s in STEPS)
            sql = (f"SELECT level, count() FROM (SELECT person, "
                   f"windowFunnel({secs * 1_000_000}{ch_mode})(toUInt64(toUnixTimestamp64Micro(ts)), {conds}) AS level "
                   f"FROM file('{parquet}', Parquet) GROUP BY person) WHERE level > 0 GROUP BY level ORDER BY level")
            ch_times, levels = [], {}
            for _ in range(a.runs):
                t0 = time.perf_counter()
                out = chdb.query(sql, "CSV").bytes().decode()
                ch_times.append(time.perf_counter() - t0)
            for line in out.strip().splitlines():
                lvl, cnt = line.split(",")
                levels[int(lvl)] = int(cnt)
            theirs = [sum(c for l, c in levels.items() if l >= i + 1) for i in range(len(STEPS))]
            k_times = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                r = json.loads(k("funnel", "--steps", ",".join(STEPS), "--window", window,
                                 "--order", mode, "--format", "json"))
                k_times.append(time.perf_counter() - t0)
            mine = [s["persons"] for s in r["steps"]]
            same = mine == theirs
            ok &= same
            km, cm = statistics.median(k_times), statistics.median(ch_times)
            print(f"window {window:>4} {mode:<8} koubei {mine} chdb {theirs} "
                  f"{'EQUAL' if same else 'DIFFERENT'}; median koubei {km:.2f} s, chdb {cm:.2f} s, "
                  f"ratio {km / cm:.2f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
