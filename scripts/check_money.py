#!/usr/bin/env python3
"""Cross-check: koubei's revenue by month against DuckDB's DECIMAL sums.

Two shapes of orders, each written as a CSV that both read:
  demo    the demo shop's orders (string ids), exported and imported again;
  tenths  synthetic orders with integer customer ids, skewed amounts made of
          tenths and cents (0.10, 0.20, 0.70, ...) beside large ones: a
          float sum gets their last digits wrong.

For each, koubei imports the CSV and reports `sales --by month` on 1 and 7
partitions; DuckDB sums `CAST(amount AS DECIMAL(18, 2))` over the paid lines
by month. Every month's revenue must equal DuckDB's to the cent, and the
decimal it prints as must be DuckDB's exactly. `koubei sql` sums are
compared as text too.

    python3 scripts/check_money.py [--customers 5000] [--lines 300000] [--koubei PATH]

DuckDB is installed from PyPI; if it cannot be, the script says so and exits 2.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import peers
from decimal import Decimal


DUCKDB_QUERY = """
SELECT strftime(date_trunc('month', CAST(ts AS TIMESTAMPTZ) AT TIME ZONE 'UTC'), '%Y-%m-%d') AS month,
       sum(CAST(amount AS DECIMAL(18, 2))) AS revenue,
       sum(CAST(amount AS DOUBLE)) AS float_revenue
FROM read_csv('{csv}', all_varchar = true)
WHERE coalesce(status, 'paid') = 'paid'
GROUP BY 1 ORDER BY 1
"""


def tenths(path, lines, seed=7):
    """Orders whose amounts a float sum cannot add exactly."""
    rng = random.Random(seed)
    small = ["0.10", "0.20", "0.30", "0.70", "1.10", "2.20", "9.99", "19.90"]
    with open(path, "w") as f:
        f.write("order_id,customer_id,ts,amount,status\n")
        for i in range(lines):
            # A few customers hold most lines.
            customer = int(rng.paretovariate(1.2)) % 50_000
            amount = rng.choice(small) if rng.random() < 0.9 else f"{rng.randint(1, 10**9) / 100:.2f}"
            month = 1 + i % 12
            day = 1 + rng.randrange(28)
            status = "refunded" if rng.random() < 0.03 else "paid"
            f.write(f"o{i},{customer},2024-{month:02d}-{day:02d}T12:00:00Z,{amount},{status}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--koubei", help="path to a built koubei binary")
    args = ap.parse_args()
    duckdb = peers.module("duckdb")

    koubei = peers.koubei(args.koubei)

    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        def run(ws, *a, partitions=None):
            env = dict(os.environ)
            if partitions:
                env["DATAFUSION_EXECUTION_TARGET_PARTITIONS"] = str(partitions)
            return subprocess.run([koubei, "--workspace", ws, *a], check=True, capture_output=True,
                                  text=True, env=env).stdout

        demo_csv = os.path.join(tmp, "demo.csv")
        run(os.path.join(tmp, "demo"), "demo", "--customers", str(args.customers))
        with open(demo_csv, "w") as f:
            f.write(run(os.path.join(tmp, "demo"), "sql",
                        "SELECT order_id, line, customer_id, ts, amount, status FROM orders", "--format", "csv"))
        tenths_csv = os.path.join(tmp, "tenths.csv")
        tenths(tenths_csv, args.lines)

        for shape, csv in [("demo", demo_csv), ("tenths", tenths_csv)]:
            ws = os.path.join(tmp, f"ws-{shape}")
            run(ws, "import", "orders", csv)
            theirs = {m: (Decimal(r), f) for m, r, f in duckdb.sql(DUCKDB_QUERY.format(csv=csv)).fetchall()}
            float_off = sum(1 for r, f in theirs.values() if Decimal(repr(f)) != r)
            for p in (1, 7):
                report = json.loads(run(ws, "sales", "--by", "month", "--format", "json", partitions=p))
                mine = {r["period"]: Decimal(repr(r["revenue"])) for r in report["total"]}
                bad = [m for m in sorted(set(mine) | set(theirs)) if mine.get(m) != theirs.get(m, (None,))[0]]
                if bad:
                    failed = True
                    m = bad[0]
                    print(f"{shape}, {p} partitions: MISMATCH in {len(bad)} months, first {m}: "
                          f"koubei {mine.get(m)} duckdb {theirs.get(m, (None,))[0]}")
                else:
                    total = sum(r for r, _ in theirs.values())
                    print(f"{shape}, {p} partitions: {len(mine)} months equal to the cent and exactly "
                          f"(total {total}); DuckDB's DOUBLE sum is off in {float_off} of them")
            # The SQL path keeps the decimal as text.
            text = run(ws, "sql", "SELECT CAST(sum(amount) AS VARCHAR) AS s FROM orders WHERE status = 'paid'",
                       "--format", "json")
            ours = Decimal(json.loads(text)[0]["s"])
            want = sum(r for r, _ in theirs.values())
            if ours != want:
                failed = True
                print(f"{shape}: sql sum {ours} against duckdb {want}")
    print(f"duckdb {duckdb.__version__}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
