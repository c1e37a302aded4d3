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
`implicit` 0.7 ALS (15 iterations, one BLAS thread) is fitted on them here
at the same two settings as koubei's ALS (64 factors with regularisation
0.01; koubei's defaults, 32 factors with 10), its top k (training items
left out) written, and scored by the same koubei function. Prints each
model's metrics (the mean over --runs runs, each ALS from other random
starting factors), the median fit time, and koubei's ALS time over
implicit's. Targets, at each setting: koubei's NDCG@10 at least
implicit's, and its ALS fit at most 1.5x implicit's time.
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


def implicit_run(train_csv, k, runs, out, factors, regularization):
    """Fits implicit `runs` times (seeds 1, 2, ...); writes each run's top k
    to `out` with the run's number, and returns the fit times."""
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
    user_names, item_names = list(users), list(items)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        for run in range(runs):
            model = AlternatingLeastSquares(factors=factors, iterations=15, regularization=regularization,
                                            random_state=run + 1)
            started = time.perf_counter()
            model.fit(m, show_progress=False)
            times.append(time.perf_counter() - started)
            ids, _ = model.recommend(np.arange(len(users)), m, N=k, filter_already_liked_items=True)
            for u, row in enumerate(ids):
                for rank, i in enumerate(row):
                    if i >= 0:
                        w.writerow([run, user_names[u], item_names[i], rank + 1])
    return times


def score_runs(base, recs, runs, name, tmp):
    """The metrics of each run's recommendations in `recs`, by koubei's
    function; their mean."""
    with open(recs, newline="") as f:
        rows = list(csv.reader(f))
    found = []
    for run in range(runs):
        path = os.path.join(tmp, f"run-{run}.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["user", "item", "rank"])
            w.writerows(r[1:] for r in rows if r[0] == str(run))
        found.append(json.loads(subprocess.run(base + ["--score", path, "--name", name],
                                               check=True, capture_output=True, text=True).stdout))
    return mean_of(found)


def mean_of(results):
    out = dict(results[0])
    for key in ["precision", "recall", "ndcg", "map", "coverage"]:
        out[key] = statistics.mean(r[key] for r in results)
    return out


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
        # Each run starts ALS from other random factors (seeds 1, 2, ...),
        # koubei's and implicit's alike; metrics are the runs' means.
        for run in range(a.runs):
            out = subprocess.run(base + ["--write-split", tmp, "--seed", str(run + 1)],
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                r = json.loads(line)
                ours.setdefault(r["model"], []).append(r)
        peers.module("implicit", "implicit")
        # The settings (64 factors, λ = 0.01), and koubei's defaults.
        found = {}
        for ours_name, factors, reg in [("als-64-0.01", 64, 0.01), ("als", 32, 10.0)]:
            recs = os.path.join(tmp, f"implicit-{ours_name}.csv")
            times = implicit_run(os.path.join(tmp, "train.csv"), int(a.k), a.runs, recs, factors, reg)
            peer = score_runs(base, recs, a.runs, f"implicit {ours_name}", tmp)
            found[ours_name] = (peer, statistics.median(times), times)
    users = found["als"][0]["users"]
    print(f"MovieLens-100K, split {a.split} by time, k = {a.k}, {users} users with training and test items")
    print("| model | precision | recall | NDCG | MAP | coverage | fit (s, median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [(f"koubei {name}", mean_of(rs), statistics.median(r["fit_seconds"] for r in rs)) for name, rs in ours.items()]
    rows += [(f"implicit {name}", peer, median) for name, (peer, median, _) in found.items()]
    for name, r, t in rows:
        print(f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['map']:.4f} | "
              f"{r['coverage']:.4f} | {t:.3f} |")
    missed = []
    for name, (peer, median, times) in found.items():
        fit = statistics.median(r["fit_seconds"] for r in ours[name])
        print(f"{name}: koubei fit / implicit fit {fit / median:.2f} "
              f"(implicit runs {', '.join(f'{t:.3f}' for t in times)})")
        mine = mean_of(ours[name])["ndcg"]
        if mine < peer["ndcg"]:
            missed.append(f"{name}: NDCG {mine:.4f} is under implicit's {peer['ndcg']:.4f}")
        if fit > 1.5 * median:
            missed.append(f"{name}: fit {fit:.3f} s is over 1.5x implicit's {median:.3f} s")
    for m in missed:
        print(m, file=sys.stderr)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
