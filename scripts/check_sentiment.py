#!/usr/bin/env python3
"""Sentiment accuracy on labelled Chinese reviews, against the targets.

    python3 scripts/check_sentiment.py [--data ../shared/data/reviews-zh] [--folds 5]

For each labelled corpus (`label` 1/0, `review`), on a class-balanced
sample: the default lexicon model's accuracy (no training), and the shop's
trained model's 5-fold cross-validated accuracy (Naive Bayes over word 1-
and 2-grams). Targets: trained at least 0.88, default at least 0.80.
The corpora are for measuring only (see their README); nothing trained on
them is kept. Exits 1 when a target is missed.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPORA = ["online_shopping_7cats.csv", "waimai_10k.csv"]
TARGETS = {"cv_accuracy": 0.88, "lexicon_accuracy": 0.80}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "reviews-zh"))
    p.add_argument("--folds", type=int, default=5)
    a = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "koubei-reviews", "--example", "measure"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    exe = os.path.join(target, "release", "examples", "measure")
    missed = 0
    print("| corpus | reviews (balanced) | default lexicon | trained, 5-fold CV | folds |")
    print("|---|---:|---:|---:|---|")
    for name in CORPORA:
        path = os.path.join(a.data, name)
        if not os.path.exists(path):
            print(f"| {name} | not found at {path} | | | |")
            missed += 1
            continue
        r = json.loads(subprocess.run([exe, path, str(a.folds)], check=True, capture_output=True, text=True).stdout)
        print(f"| {name} | {r['reviews']:,} | {r['lexicon_accuracy']:.3f} | {r['cv_accuracy']:.3f} | "
              f"{', '.join(f'{x:.3f}' for x in r['cv_fold_accuracy'])} |")
        for key, want in TARGETS.items():
            if r[key] < want:
                print(f"  {name}: {key} {r[key]:.3f} is under the target {want}", file=sys.stderr)
                missed += 1
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
