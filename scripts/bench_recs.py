#!/usr/bin/env python3
"""Recommendations on MovieLens-100K against `implicit`, same split, same
metrics, same run.

    python3 scripts/bench_recs.py [--split 0.8] [-k 10] [--runs 3]

MovieLens-100K comes from the `recbole` 1.2.1 wheel on PyPI
(`recbole/dataset_example/ml-100k/ml-100k.inter`), downloaded and checked
against a pinned SHA-256 (GroupLens' terms do not let the project
redistribute it, so it is not committed). Every rating is an interaction;
the earliest 80% by time train (ties in file order), the rest test.

koubei's example (crates/koubei-recs/examples/movielens.rs) makes the split,
fits popularity, item-kNN and ALS, and writes the training interactions;
`implicit` 0.7 ALS (64 factors, 15 iterations, regularisation 0.01, one
BLAS thread) is fitted on them here, its top k (training items left out)
written, and scored by the same koubei function. Prints each model's
metrics, the median fit time of --runs, and koubei's ALS time over
implicit's. Targets: koubei's NDCG@10 at least implicit's, and its ALS fit
at most 1.5x implicit's time.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

WHEEL = ("https://files.pythonhosted.org/packages/ab/fe/7d606cb7cd2b166a36b100cb9435d21014ceee16c192d972deb0976967a8/"
         "recbole-1.2.1-py3-none-any.whl")
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
INTER = "recbole/dataset_example/ml-100k/ml-100k.inter"


def movielens(cache):
    path = os.path.join(cache, "ml-100k.inter")
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    data = urllib.request.urlopen(WHEEL, timeout=120).read()
    got = hashlib.sha256(data).hexdigest()
    if got != WHEEL_SHA256:
        sys.exit(f"{WHEEL}: SHA-256 {got}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(io.BytesIO(data)) as z, open(path, "wb") as f:
        f.write(z.read(INTER))
    return path


def implicit_run(train_csv, k, runs, out):
    import numpy as np
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares

    with open(train_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    users = {u: i for i, u in enumerate(dict.fromkeys(r["user"] for r in rows))}
    items = {x: i for i, x in enumerate(dict.fromkeys(r["item"] for r in rows))}
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32),
                       ([users[r["user"]] for r in rows], [items[r["item"]] for r in rows])),
                      shape=(len(users), len(items)))
    times = []
    for run in range(runs):
        model = AlternatingLeastSquares(factors=64, iterations=15, regularization=0.01, random_state=run)
        started = time.perf_counter()
        model.fit(m, show_progress=False)
        times.append(time.perf_counter() - started)
    ids, _ = model.recommend(np.arange(len(users)), m, N=k, filter_already_liked_items=True)
    user_names, item_names = list(users), list(items)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "rank"])
        for u, row in enumerate(ids):
            for rank, i in enumerate(row):
                if i >= 0:
                    w.writerow([user_names[u], item_names[i], rank + 1])
    return statistics.median(times), times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="0.8")
    p.add_argument("-k", default="10")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--example", help="the movielens example, built already")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/koubei-bench/recbole-1.2.1"))
    a = p.parse_args()
    exe = peers.example("movielens", "koubei-recs", a.example)
    data = movielens(a.cache)
    with tempfile.TemporaryDirectory() as tmp:
        base = [exe, data, "--split", a.split, "-k", a.k]
        ours = {}
        for run in range(a.runs):
            out = subprocess.run(base + ["--write-split", tmp], check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                r = json.loads(line)
                ours.setdefault(r["model"], []).append(r)
        peers.module("implicit", "implicit")
        recs = os.path.join(tmp, "implicit.csv")
        median, times = implicit_run(os.path.join(tmp, "train.csv"), int(a.k), a.runs, recs)
        peer = json.loads(subprocess.run(base + ["--score", recs, "--name", "implicit-als", "--fit-seconds", str(median)],
                                         check=True, capture_output=True, text=True).stdout)
    print(f"MovieLens-100K, split {a.split} by time, k = {a.k}, {peer['users']} users with training and test items")
    print("| model | precision | recall | NDCG | MAP | coverage | fit (s, median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [(name, rs[0], statistics.median(r["fit_seconds"] for r in rs)) for name, rs in ours.items()]
    rows.append(("implicit ALS", peer, median))
    for name, r, t in rows:
        print(f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['map']:.4f} | "
              f"{r['coverage']:.4f} | {t:.3f} |")
    als = statistics.median(r["fit_seconds"] for r in ours["als"])
    print(f"koubei ALS fit / implicit ALS fit: {als / median:.2f} (implicit runs: {', '.join(f'{t:.3f}' for t in times)})")
    missed = []
    if ours["als"][0]["ndcg"] < peer["ndcg"]:
        missed.append(f"ALS NDCG {ours['als'][0]['ndcg']:.4f} is under implicit's {peer['ndcg']:.4f}")
    if als > 1.5 * median:
        missed.append(f"ALS fit {als:.3f} s is over 1.5x implicit's {median:.3f} s")
    for m in missed:
        print(m, file=sys.stderr)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
