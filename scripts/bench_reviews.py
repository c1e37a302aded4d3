#!/usr/bin/env python3
"""Speed of review scoring and of the satisfaction report, against the
targets: a million reviews scored with their aspects in under 10 s, and
`koubei reviews` on a 1M-customer shop in under 5 s.

    python3 scripts/bench_reviews.py --koubei target/release/koubei \
        --workspace /tmp/d1m [--customers 1000000] [--runs 3]

The workspace is made with `koubei demo --customers N` when it does not
exist. Measured, each as the median of --runs runs:
- scoring: the stored scores are deleted and `koubei refresh` scores every
  review of the workspace again (sentiment, aspects and tags, on all
  cores) and stores them; the time per million reviews is printed too;
- a file: `koubei reviews score` over the reviews' texts as a CSV;
- the report: `koubei reviews`, `--by month` and `--by product` (a new
  process each time, reading the stored scores).
No peer runs here: these are koubei's own targets (the accuracy against
peers is scripts/check_sentiment.py's).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def run(cmd, **kw):
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - started


def median_of(runs, f):
    times = [f() for _ in range(runs)]
    return statistics.median(times), times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--koubei", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    kb = os.path.abspath(a.koubei)
    ws = a.workspace
    if not os.path.exists(os.path.join(ws, "koubei.json")):
        print(f"making the demo shop of {a.customers:,} customers in {ws}", file=sys.stderr)
        run([kb, "demo", "--customers", str(a.customers), "-w", ws])
    out = subprocess.run([kb, "-w", ws, "sql", "SELECT count(*) AS n FROM reviews", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    reviews = json.loads(out)[0]["n"]
    print(f"{reviews:,} reviews in {ws}")

    def rescore():
        for t in ["review_scores", "review_mentions"]:
            shutil.rmtree(os.path.join(ws, "derived", t), ignore_errors=True)
        return run([kb, "-w", ws, "refresh"])

    score, score_runs = median_of(a.runs, rescore)
    print(f"| scoring and storing every review (refresh) | {score:.2f} s | "
          f"{score * 1e6 / reviews:.2f} s per million | runs {', '.join(f'{t:.2f}' for t in score_runs)} |")

    texts = os.path.join(ws, "bench-review-texts.csv")
    with open(texts, "w") as f:
        subprocess.run([kb, "-w", ws, "sql", "SELECT review_id AS id, text FROM reviews WHERE text IS NOT NULL",
                        "--format", "csv"], check=True, stdout=f)
    file_score, file_runs = median_of(a.runs, lambda: run([kb, "reviews", "score", texts, "--format", "csv"]))
    print(f"| reviews score FILE (CSV in and out) | {file_score:.2f} s | "
          f"{file_score * 1e6 / reviews:.2f} s per million | runs {', '.join(f'{t:.2f}' for t in file_runs)} |")
    os.remove(texts)

    for args in [[], ["--by", "month"], ["--by", "product"]]:
        t, times = median_of(a.runs, lambda: run([kb, "-w", ws, "reviews", *args, "--format", "json"]))
        print(f"| koubei reviews {' '.join(args)} | {t:.2f} s | | runs {', '.join(f'{x:.2f}' for x in times)} |")


if __name__ == "__main__":
    main()
