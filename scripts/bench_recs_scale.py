#!/usr/bin/env python3
"""`koubei recommend train` at scale: 1M customers, 100k products and 10M
paid order lines, against `implicit` fitting ALS on the same cells.

    python3 scripts/bench_recs_scale.py [--koubei PATH] [--customers 1000000]
        [--products 100000] [--lines 10000000] [--ids string|integer] [--runs 1]

Order lines are generated with numpy: each customer has a taste (one of 50
groups of products) and buys 10 lines on average (geometric), 70% from
their group and the rest from every product, products by a Zipf-like
popularity (exponent 1.1). The file is imported (`koubei import orders`),
then `koubei recommend train` (ALS, 32 factors, λ = 10, 15 sweeps) runs
under /usr/bin/time for its wall time and peak memory; then one customer's
top 10 from the stored model (`recommend for`, median of 5 runs, the whole
process). `implicit` 0.7 (PyPI) fits ALS with the same settings on the
same customer × product counts (all cores, one BLAS thread), timed around
`fit` only: koubei's figure also reads the orders and stores the model.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def generate(path, customers, products, lines, ids, seed=7):
    np = peers.module("numpy")
    rng = np.random.default_rng(seed)
    per = rng.geometric(customers / lines, size=customers)
    per = np.maximum(1, (per * lines / per.sum()).round().astype(np.int64))
    who = np.repeat(np.arange(customers), per)[:lines]
    n = len(who)
    pop = 1.0 / np.arange(1, products + 1) ** 1.1
    pop /= pop.sum()
    any_product = rng.choice(products, size=n, p=pop)
    groups = 50
    group_of = (who * 2654435761) % groups
    # Within a group: the group's products (every 50th), by popularity.
    in_group = rng.choice(products // groups, size=n, p=pop[: products // groups] / pop[: products // groups].sum())
    mine = in_group * groups + group_of
    product = np.where(rng.random(n) < 0.7, mine, any_product)
    day = rng.integers(0, 365, size=n)
    with open(path, "w") as f:
        f.write("order_id,customer_id,ts,amount,status,product_id\n")
        chunk = 1_000_000
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            rows = []
            for i in range(a, b):
                c = int(who[i])
                cid = str(c) if ids == "integer" else f"c{c:07d}"
                d = int(day[i])
                rows.append(f"o{i},{cid},2025-{1 + d // 31 % 12:02d}-{1 + d % 28:02d},10.00,paid,p{int(product[i]):06d}\n")
            f.write("".join(rows))
    return n


def timed(cmd):
    """Wall seconds and peak resident MiB of a command, from /usr/bin/time."""
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) / 1024
    return seconds, rss, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--koubei")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--ids", choices=["string", "integer"], default="string")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    koubei = peers.koubei(a.koubei, release=True)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        csv = os.path.join(tmp, "orders.csv")
        started = time.time()
        n = generate(csv, a.customers, a.products, a.lines, a.ids)
        print(f"generated {n} order lines in {time.time() - started:.0f} s", file=sys.stderr)
        ws = os.path.join(tmp, "ws")
        secs, rss, _ = timed([koubei, "-w", ws, "import", "orders", csv])
        print(f"import: {secs:.1f} s, peak {rss:.0f} MiB")
        trains = []
        for _ in range(a.runs):
            secs, rss, out = timed([koubei, "-w", ws, "recommend", "train", "--format", "json"])
            trains.append((secs, rss))
        import json
        m = json.loads(out)["models"][0]
        print(f"train: {m['customers']} customers x {m['products']} products, {m['interactions']} cells")
        wall = statistics.median(t[0] for t in trains)
        print(f"koubei recommend train: {wall:.1f} s wall (ALS fit {m['fit_seconds']:.1f} s), "
              f"peak {max(t[1] for t in trains):.0f} MiB")
        fors = []
        for c in ["c0000001", "c0500000", "c0999999"] if a.ids == "string" else ["1", "500000", "999999"]:
            for _ in range(2):
                t0 = time.time()
                subprocess.run([koubei, "-w", ws, "recommend", "for", "--customer", c], check=True, capture_output=True)
                fors.append(time.time() - t0)
        print(f"koubei recommend for (stored model, whole process): median {statistics.median(fors) * 1000:.0f} ms")
        if a.no_peer:
            return
        np = peers.module("numpy")
        sp = peers.module("scipy.sparse", "scipy")
        implicit = peers.module("implicit")
        import implicit.cpu.als  # noqa: F401
        users, items = [], []
        with open(csv) as f:
            next(f)
            for line in f:
                p = line.rstrip("\n").split(",")
                users.append(p[1])
                items.append(p[5])
        _, u = np.unique(np.array(users), return_inverse=True)
        _, i = np.unique(np.array(items), return_inverse=True)
        matrix = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)))
        matrix.sum_duplicates()
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=32, regularization=10.0, iterations=15, calculate_training_loss=False, random_state=42)
        t0 = time.time()
        model.fit(matrix, show_progress=False)
        peer = time.time() - t0
        print(f"implicit ALS fit: {peer:.1f} s ({matrix.shape[0]} x {matrix.shape[1]}, {matrix.nnz} cells)")
        print(f"koubei ALS fit / implicit fit: {m['fit_seconds'] / peer:.2f}x; "
              f"whole train / implicit fit: {wall / peer:.2f}x")


if __name__ == "__main__":
    main()
