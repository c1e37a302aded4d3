#!/usr/bin/env python3
"""Import benchmark: koubei against DuckDB on the same 10-million-row orders CSV.

koubei: `koubei import orders FILE` into a fresh workspace (parse, validate,
de-duplicate against the table, write Delta/Parquet, commit).
DuckDB: `COPY (SELECT * FROM read_csv(FILE)) TO 'x.parquet'` (parse, write Parquet).

Both run as separate processes, in turns, `--runs` times each; the script
prints the median wall time, the peak resident memory, and the ratio.

    python3 scripts/bench_import.py                  # builds koubei in release first
    python3 scripts/bench_import.py --rows 1000000   # a quicker run

DuckDB comes from PyPI (`pip install duckdb`); if it cannot be installed the
script says so and times koubei alone.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_duckdb():
    try:
        import duckdb  # noqa: F401
        return True
    except ImportError:
        pass
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"])
    if r.returncode != 0:
        print("note: could not install duckdb from PyPI; timing koubei alone", file=sys.stderr)
        return False
    return True


def koubei_binary(args):
    if args.koubei:
        return args.koubei
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "-p", "koubei-cli"], cwd=ROOT, check=True)
    return os.path.join(target, "release", "koubei")


def make_csv(path, rows):
    """Orders lines with realistic shapes, written by DuckDB (fast, and independent of koubei)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("CREATE MACRO h(x) AS CAST(hash(x) >> 1 AS BIGINT)")
    con.execute(f"""
        COPY (
          SELECT
            'o' || lpad(CAST(i // 2 AS VARCHAR), 9, '0')          AS order_id,
            CAST(i % 2 + 1 AS BIGINT)                              AS line,
            'c' || lpad(CAST(h(i // 2) % 1000000 AS VARCHAR), 7, '0') AS customer_id,
            strftime(TIMESTAMP '2024-01-01' + to_seconds(CAST((h(i // 2) >> 20) % 63072000 AS BIGINT)),
                     '%Y-%m-%dT%H:%M:%SZ')                         AS ts,
            CAST(1 + h(i) % 3 AS BIGINT)                        AS quantity,
            round(5 + (h(i * 7) % 50000) / 100.0, 2)            AS amount,
            'CNY'                                                  AS currency,
            'p' || lpad(CAST(h(i * 13) % 240 AS VARCHAR), 4, '0') AS product_id,
            ['apparel','beauty','electronics','home','food','baby','sports','books'][1 + h(i * 13) % 8] AS category,
            CASE WHEN h(i // 2) % 100 < 92 THEN 'CN' ELSE ['US','JP','GB','DE','AU'][1 + h(i // 2) % 5] END AS country,
            ['Guangdong','Zhejiang','Jiangsu','Shanghai','Beijing','Sichuan'][1 + h(i // 2 + 1) % 6] AS region,
            ['Guangzhou','Hangzhou','Nanjing','Shanghai','Beijing','Chengdu'][1 + h(i // 2 + 1) % 6] AS city,
            ['app','mini_program','web'][1 + h(i // 2 + 2) % 3] AS channel,
            CASE WHEN h(i // 2 + 3) % 100 < 95 THEN 'paid' WHEN h(i // 2 + 3) % 100 < 98 THEN 'refunded' ELSE 'cancelled' END AS status
          FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)


def timed(cmd, env=None):
    """Wall seconds and peak RSS (MiB) of one process, via /usr/bin/time."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    peak_kib = int(r.stderr.strip().splitlines()[-1])
    return wall, peak_kib / 1024


DUCKDB_COPY = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--koubei", help="path to a built koubei binary")
    ap.add_argument("--dir", help="working folder (default: a temporary one)")
    args = ap.parse_args()

    have_duckdb = ensure_duckdb()
    if not have_duckdb:
        sys.exit("error: the CSV is generated with DuckDB, which could not be installed")
    koubei = koubei_binary(args)
    work = args.dir or tempfile.mkdtemp(prefix="koubei-bench-")
    os.makedirs(work, exist_ok=True)
    csv = os.path.join(work, f"orders_{args.rows}.csv")
    if not os.path.exists(csv):
        print(f"generating {args.rows:,} rows ...", file=sys.stderr)
        make_csv(csv, args.rows)
    size = os.path.getsize(csv) / 2**20
    print(f"file: {csv} ({size:,.0f} MiB, {args.rows:,} rows); {os.cpu_count()} cores")

    k_times, k_mem, d_times, d_mem = [], [], [], []
    for run in range(args.runs):
        ws = os.path.join(work, "ws")
        shutil.rmtree(ws, ignore_errors=True)
        t, m = timed([koubei, "--workspace", ws, "import", "orders", csv])
        k_times.append(t)
        k_mem.append(m)
        out = os.path.join(work, "duck.parquet")
        if os.path.exists(out):
            os.remove(out)
        t, m = timed([sys.executable, "-c", DUCKDB_COPY, csv, out])
        d_times.append(t)
        d_mem.append(m)
        print(f"run {run + 1}: koubei {k_times[-1]:.2f} s, {k_mem[-1]:.0f} MiB; duckdb {d_times[-1]:.2f} s, {d_mem[-1]:.0f} MiB")

    # Re-import of the same file: every row is already stored.
    t_re, m_re = timed([koubei, "--workspace", os.path.join(work, "ws"), "import", "orders", csv])

    km, dm = statistics.median(k_times), statistics.median(d_times)
    print()
    print(f"{'':24}{'median s':>10}{'peak MiB':>10}")
    print(f"{'koubei import':24}{km:>10.2f}{max(k_mem):>10.0f}")
    print(f"{'duckdb csv->parquet':24}{dm:>10.2f}{max(d_mem):>10.0f}")
    print(f"{'koubei re-import':24}{t_re:>10.2f}{m_re:>10.0f}")
    print(f"ratio koubei/duckdb: {km / dm:.2f} (below 1 means koubei is faster)")
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
