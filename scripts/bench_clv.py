#!/usr/bin/env python3
"""CLV benchmark: koubei against lifetimes on the same orders.

Data: the demo shop (`koubei demo --customers N`, 1,000,000 by default), whose
purchases are drawn from BG/NBD. Its paid order lines are exported once to CSV.

lifetimes: `summary_data_from_transaction_data` (daily periods, weeks as days/7)
plus `BetaGeoFitter().fit`, timed in this process after pandas has read the CSV.
koubei: the whole `koubei clv --model bgnbd` command (open the workspace, read
the summary, fit, predict every customer), as a process, two ways in turns:
- as it runs by default, reading each customer's purchases that the import
  stored (`koubei refresh` stores them for a workspace made before they were);
- with `--recompute`, grouping the 4.28M order lines again with DataFusion;
- with `--calibration-end` 30 days before the last paid day, which groups the
  lines up to it, against lifetimes' summary with that observation end.

Each is run `--runs` times; the script prints both parameter sets, their
largest relative difference, the median times and three ratios: lifetimes'
summary + fit against each koubei way, and lifetimes' fit alone against
koubei's default (both starting from a stored summary).

    python3 scripts/bench_clv.py                       # 1M customers, builds koubei first
    python3 scripts/bench_clv.py --customers 100000    # quicker
    python3 scripts/bench_clv.py --koubei-only --models all --customers 10000000
    python3 scripts/bench_clv.py --koubei-only --duckdb          # and DuckDB on the summary's query alone
    python3 scripts/bench_clv.py --shape gamma                   # another shop: see below

`--shape gamma` times the same on another shop instead of the demo's:
integer customer ids, purchases drawn here from BG/NBD (r 0.8, alpha 60
days, a 0.8, b 2.5) over two years with first purchases spread over the
first, one line per order (4.3 per customer), and gamma-distributed
spend (each customer's mean from a gamma, each order's amount from a gamma
around it), written to CSV with numpy and imported with `koubei import`.

lifetimes comes from PyPI (`pip install lifetimes`, with pandas < 2.2 and
numpy < 2, which it needs); if it cannot be installed the script says so and
times koubei alone.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_lifetimes():
    try:
        import lifetimes  # noqa: F401
        return True
    except ImportError:
        pass
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "lifetimes==0.11.3", "pandas<2.2", "numpy<2", "scipy<1.14"]
    )
    if r.returncode != 0:
        print("note: could not install lifetimes from PyPI; timing koubei alone", file=sys.stderr)
        return False
    try:
        import lifetimes  # noqa: F401
        return True
    except ImportError as e:
        print(f"note: lifetimes does not import ({e}); timing koubei alone", file=sys.stderr)
        return False


def duckdb_summary(ws, runs):
    """Times DuckDB (from PyPI) on the summary's GROUP BY over the same Parquet
    files, on as many threads as koubei: first and last purchase, total and
    first-day spend, and distinct purchase days per paid customer. The query
    alone, without any model: how fast the summary can be on this machine."""
    try:
        import duckdb
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"])
        try:
            import duckdb
        except ImportError:
            print("note: could not install duckdb from PyPI; no DuckDB timing", file=sys.stderr)
            return
    import glob
    files = sorted(glob.glob(os.path.join(ws, "tables", "orders", "*.parquet")))
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    day = "CAST(ts AS DATE)"
    query = f"""SELECT customer_id, count(DISTINCT {day}) AS days, min({day}) AS first, max({day}) AS last,
        sum(amount) AS spend, sum(amount) FILTER (WHERE {day} = first_day) AS first_spend
        FROM (SELECT *, min({day}) OVER (PARTITION BY customer_id) AS first_day
              FROM read_parquet({files}) WHERE status = 'paid' AND customer_id IS NOT NULL)
        GROUP BY customer_id"""
    for name, q in [("summary", query),
                    ("without distinct days or first-day spend",
                     f"SELECT customer_id, min(ts), max(ts), sum(amount) FROM read_parquet({files}) "
                     "WHERE status = 'paid' AND customer_id IS NOT NULL GROUP BY customer_id")]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP TABLE s AS {q}")
            times.append(time.perf_counter() - t0)
        n = con.execute("SELECT count(*) FROM s").fetchone()[0]
        print(f"duckdb {duckdb.__version__} {name}: median {statistics.median(times):.2f} s, {n:,} customers")


def gamma_shop(ws, customers, work, koubei):
    """Writes the `--shape gamma` orders to CSV and imports them into `ws`."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(20261208)
    n = customers
    lam = rng.gamma(0.8, 1 / 60, n)  # purchases per day while active
    p = rng.beta(0.8, 2.5, n)  # chance of leaving after each purchase
    horizon = 730.0
    t = rng.uniform(0, 365, n)
    cust, times = [np.arange(n)], [t.copy()]
    # As in BG/NBD, a customer may leave only after a repeat purchase.
    alive = np.ones(n, dtype=bool)
    while alive.any():
        i = np.flatnonzero(alive)
        t[i] += rng.exponential(1 / lam[i])
        i = i[t[i] < horizon]
        cust.append(i)
        times.append(t[i].copy())
        alive[:] = False
        alive[i] = rng.random(len(i)) >= p[i]
    cust, times = np.concatenate(cust), np.concatenate(times)
    mean = rng.gamma(3.0, 15.0, n)
    amount = np.maximum(np.round(rng.gamma(4.0, mean[cust] / 4.0), 2), 0.01)
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.round(times * 86400), unit="s")
    orders = pd.DataFrame({
        "order_id": np.arange(len(cust)) + 1,
        "customer_id": cust + 1_000_000,
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "amount": amount,
    })
    csv = os.path.join(work, f"gamma-orders-{customers}.csv")
    orders.to_csv(csv, index=False)
    print(f"{len(orders):,} order lines for {n:,} customers in {csv}", file=sys.stderr)
    subprocess.run([koubei, "-w", ws, "import", "orders", csv], check=True, stdout=subprocess.DEVNULL)


def koubei_binary(args):
    if args.koubei:
        return args.koubei
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-p", "koubei-cli"], cwd=ROOT, check=True)
    return os.path.join(target, "release", "koubei")


def timed(cmd):
    """Wall seconds, peak RSS (MiB) and stdout of one process, via /usr/bin/time."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    peak_kib = int(r.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024, r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--koubei", help="a koubei binary (default: build one in release)")
    ap.add_argument("--workdir", help="keep the demo workspace here (default: a temporary folder)")
    ap.add_argument("--koubei-only", action="store_true", help="skip lifetimes")
    ap.add_argument("--models", default="bgnbd", help="koubei models to time, comma-separated, or 'all'")
    ap.add_argument("--duckdb", action="store_true", help="also time DuckDB on the summary's query alone")
    ap.add_argument("--shape", choices=["demo", "gamma"], default="demo", help="the shop (see above)")
    args = ap.parse_args()

    koubei = koubei_binary(args)
    have_lifetimes = not args.koubei_only and ensure_lifetimes()
    work = args.workdir or tempfile.mkdtemp(prefix="koubei-bench-clv-")
    ws = os.path.join(work, f"{args.shape}-{args.customers}")
    if args.shape == "gamma":
        if not os.path.exists(os.path.join(ws, "tables", "orders")):
            gamma_shop(ws, args.customers, work, koubei)
    elif not os.path.exists(os.path.join(ws, "demo.json")):
        print(f"generating the demo shop with {args.customers:,} customers in {ws} ...", file=sys.stderr)
        subprocess.run([koubei, "-w", ws, "demo", "--customers", str(args.customers), "--replace"], check=True,
                       stdout=subprocess.DEVNULL)
    refresh = timed([koubei, "-w", ws, "refresh"])
    print(f"koubei refresh (stores the customers' purchases, as an import of orders does; "
          f"instant when already stored): {refresh[0]:.2f} s, peak {refresh[1]:.0f} MiB")

    models = ["bgnbd", "mbgnbd", "pareto", "bgbb", "gamma-gamma"] if args.models == "all" else args.models.split(",")
    last = subprocess.run([koubei, "-w", ws, "sql", "SELECT CAST(max(ts) AS DATE) AS d FROM orders WHERE status = 'paid'",
                           "--format", "csv"], check=True, capture_output=True, text=True).stdout.split()[-1]
    calibration_end = (datetime.date.fromisoformat(last) - datetime.timedelta(days=30)).isoformat()
    results = {}
    for model in models:
        cmd = [koubei, "-w", ws, "clv", "--model", model, "--format", "json"]
        ways = {"": [], " --recompute": [], f" --calibration-end {calibration_end}": []}
        for _ in range(args.runs):
            for way, runs in ways.items():
                runs.append(timed(cmd + way.split()))
        for way, runs in ways.items():
            report = json.loads(runs[-1][2])
            results[model + way] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs), report)
            print(f"koubei clv --model {model}{way}: median {results[model + way][0]:.2f} s, "
                  f"peak {results[model + way][1]:.0f} MiB, {report['customers']:,} customers, "
                  f"params {report['params']}")
        if results[model][2]["params"] != results[model + " --recompute"][2]["params"]:
            sys.exit(f"{model}: the parameters differ with --recompute")

    if args.duckdb:
        duckdb_summary(ws, args.runs)

    if not have_lifetimes or "bgnbd" not in results:
        return
    import pandas as pd
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    csv = os.path.join(work, f"orders-{args.shape}-{args.customers}.csv")
    if not os.path.exists(csv):
        with open(csv, "w") as f:
            subprocess.run([koubei, "-w", ws, "sql",
                            "SELECT customer_id, ts, amount FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL",
                            "--format", "csv"], check=True, stdout=f)
    tx = pd.read_csv(csv, parse_dates=["ts"])
    tx["ts"] = tx["ts"].dt.tz_localize(None) if tx["ts"].dt.tz is not None else tx["ts"]
    end = tx["ts"].max().normalize()

    def lifetimes_runs(end):
        times, fits = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            s = summary_data_from_transaction_data(tx, "customer_id", "ts", observation_period_end=end,
                                                   freq="D", freq_multiplier=7)
            t1 = time.perf_counter()
            bgf = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
            times.append(time.perf_counter() - t0)
            fits.append(time.perf_counter() - t1)
        return statistics.median(times), statistics.median(fits), len(s), bgf.params_.to_dict()

    def worst(kb, lt):
        return max(abs(kb[k] - lt[k]) / abs(lt[k]) for k in lt)

    lt_median, fit_median, n, lt = lifetimes_runs(end)
    print(f"lifetimes summary + BetaGeoFitter.fit: median {lt_median:.2f} s (the fit alone {fit_median:.2f} s), "
          f"{n:,} customers, params {lt}")
    print(f"largest relative parameter difference: {worst(results['bgnbd'][2]['params'], lt):.2e}")
    cal = f"bgnbd --calibration-end {calibration_end}"
    cal_median, _, cal_n, cal_lt = lifetimes_runs(pd.Timestamp(calibration_end))
    print(f"lifetimes with observation_period_end={calibration_end}: median {cal_median:.2f} s, {cal_n:,} customers; "
          f"largest relative parameter difference: {worst(results[cal][2]['params'], cal_lt):.2e}")
    print(f"ratio (lifetimes summary + fit / koubei): {lt_median / results['bgnbd'][0]:.1f}x; "
          f"with --recompute: {lt_median / results['bgnbd --recompute'][0]:.1f}x; "
          f"with --calibration-end {calibration_end}: {cal_median / results[cal][0]:.1f}x")
    print(f"ratio (lifetimes fit alone / koubei): {fit_median / results['bgnbd'][0]:.1f}x")


if __name__ == "__main__":
    main()
