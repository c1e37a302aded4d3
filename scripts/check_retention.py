#!/usr/bin/env python3
"""Cross-check: koubei's weekly first-order retention matrix against DuckDB.

Generates a demo shop, exports its paid orders with `koubei sql`, computes
the same matrix with a DuckDB query written from the definition in
docs/metrics.md, and compares every cell. They must be equal, not close.

    python3 scripts/check_retention.py [--customers 5000] [--koubei PATH]

DuckDB is installed from PyPI; if it cannot be, the script says so and exits 2.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import peers


DUCKDB_QUERY = """
WITH o AS (SELECT customer_id AS person, CAST(ts AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS ts FROM read_csv('{csv}')),
s AS (SELECT person, min(date_trunc('week', ts)) AS cohort FROM o GROUP BY person),
r AS (SELECT DISTINCT person, date_trunc('week', ts) AS period FROM o)
SELECT strftime(s.cohort, '%Y-%m-%d') AS cohort,
       CAST(date_diff('week', s.cohort, r.period) AS INTEGER) AS k,
       count(DISTINCT s.person) AS n
FROM s JOIN r ON s.person = r.person AND r.period > s.cohort
WHERE date_diff('week', s.cohort, r.period) <= {periods}
GROUP BY 1, 2
UNION ALL
SELECT strftime(cohort, '%Y-%m-%d'), 0, count(*) FROM s GROUP BY 1
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--periods", type=int, default=10)
    ap.add_argument("--koubei", help="path to a built koubei binary")
    args = ap.parse_args()
    duckdb = peers.module("duckdb")

    koubei = peers.koubei(args.koubei)
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        run = lambda *a: subprocess.run([koubei, "--workspace", ws, *a], check=True, capture_output=True, text=True).stdout
        run("demo", "--customers", str(args.customers))
        csv = os.path.join(tmp, "orders.csv")
        with open(csv, "w") as f:
            f.write(run("sql", "SELECT customer_id, ts FROM orders WHERE status = 'paid'", "--format", "csv"))
        ours = json.loads(run("retention", "--period", "week", "--periods", str(args.periods), "--format", "json"))
        theirs = {}
        for cohort, k, n in duckdb.sql(DUCKDB_QUERY.format(csv=csv, periods=args.periods)).fetchall():
            theirs.setdefault(cohort, [0] * (args.periods + 1))[k] = n
        # Periods not yet elapsed are null in koubei's output and 0 in the peer's.
        mine = {c["cohort"]: [n or 0 for n in c["retained"]] for c in ours["cohorts"]}
        cells = sum(len(v) for v in theirs.values())
        if mine != theirs:
            bad = [c for c in sorted(set(mine) | set(theirs)) if mine.get(c) != theirs.get(c)]
            print(f"MISMATCH in {len(bad)} cohorts, first {bad[0]}: koubei {mine.get(bad[0])} duckdb {theirs.get(bad[0])}")
            sys.exit(1)
        print(f"equal: {len(mine)} weekly cohorts, {cells} cells, {args.customers} customers (duckdb {duckdb.__version__})")


if __name__ == "__main__":
    main()
