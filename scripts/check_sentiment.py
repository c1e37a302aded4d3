#!/usr/bin/env python3
"""Sentiment accuracy on labelled reviews, against the targets and peers.

    python3 scripts/check_sentiment.py [--data ../shared/data/reviews-zh] [--folds 5] [--no-peers]

Corpora, each on a class-balanced sample:
- Chinese: `online_shopping_7cats.csv` (product reviews) and
  `waimai_10k.csv` (food delivery), read from --data. They are for
  measuring only (see their README); nothing trained on them is kept.
- English: the UCI sentiment-labelled sentences (Amazon, Yelp, IMDb; CC BY
  4.0) from the npm package `sentiment` 5.0.2 (`test/fixtures/*.json`),
  downloaded from the npm registry and checked against a pinned SHA-256.

For each: the default model's accuracy (no training), and the trained
model's k-fold cross-validated accuracy (Naive Bayes over word 1- and
2-grams blended with the default's score), with Naive Bayes alone beside
it. Peers on the same sample, installed from PyPI (skipped, saying so, when
they cannot be): for Chinese, snownlp's Bayes classifier retrained on the
same training folds and the lexicon tool cnsenti; for English, VADER
(vaderSentiment). Every model calls a review positive when its score is
above neutral.

Targets: Chinese trained >= 0.88 and default >= 0.80; English default at
least VADER's quoted accuracy (Amazon 0.80, Yelp 0.77) and within 0.005 of
VADER run here (the default is a Rust port of VADER), and trained above
the default. Exits 1 when one is missed.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

ROOT = peers.ROOT
CHINESE = ["online_shopping_7cats.csv", "waimai_10k.csv"]
ENGLISH = ["amazon", "yelp", "imdb"]
NPM = "https://registry.npmjs.org/sentiment/-/sentiment-5.0.2.tgz"
NPM_SHA256 = "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f"
# VADER's accuracy on these sentences as the targets quote it.
QUOTED_VADER = {"amazon": 0.80, "yelp": 0.77}


def english_corpora(cache):
    """The UCI sentences as `label,review` CSVs in `cache`, from the pinned
    npm tarball."""
    os.makedirs(cache, exist_ok=True)
    paths = {n: os.path.join(cache, f"{n}.csv") for n in ENGLISH}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    data = urllib.request.urlopen(NPM, timeout=60).read()
    got = hashlib.sha256(data).hexdigest()
    if got != NPM_SHA256:
        sys.exit(f"{NPM}: SHA-256 {got}, expected {NPM_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for n in ENGLISH:
            rows = json.load(tar.extractfile(f"package/test/fixtures/{n}.json"))
            with open(paths[n], "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["label", "review"])
                # Each fixture ends with one empty, unlabelled record.
                w.writerows([r["class"], r["text"]] for r in rows if r.get("class") in (0, 1))
    return paths


def read_split(path):
    with open(path, newline="") as f:
        return [(int(r["fold"]), r["label"] == "1", r["review"]) for r in csv.DictReader(f)]


def accuracy(calls, rows):
    return sum(c == r[1] for c, r in zip(calls, rows)) / len(rows)


def snownlp_cv(rows, folds):
    """snownlp's Bayes classifier, retrained on each training fold exactly as
    `snownlp.sentiment.train` does (its own segmentation and stop words),
    each review segmented once."""
    from snownlp import normal, seg
    from snownlp.classification.bayes import Bayes

    words = [normal.filter_stop(seg.seg(r[2])) for r in rows]
    right = 0
    for f in range(folds):
        model = Bayes()
        model.train([[w, "pos" if r[1] else "neg"] for w, r in zip(words, rows) if r[0] != f])
        for w, r in zip(words, rows):
            if r[0] == f:
                label, p = model.classify(w)
                right += ((p if label == "pos" else 1 - p) > 0.5) == r[1]
    return right / len(rows)


def cnsenti_accuracy(rows):
    from cnsenti import Sentiment

    s = Sentiment()
    calls = []
    for r in rows:
        c = s.sentiment_calculate(r[2])
        calls.append(c["pos"] > c["neg"])
    return accuracy(calls, rows)


def vader_accuracy(rows):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    v = SentimentIntensityAnalyzer()
    return accuracy([v.polarity_scores(r[2])["compound"] > 0 for r in rows], rows)


def peer(name, package, fn, *args):
    """A peer's accuracy and seconds, or None when it cannot be installed."""
    try:
        peers.module(name, package)
    except SystemExit:
        print(f"  {package}: not installed, left out", file=sys.stderr)
        return None
    started = time.time()
    return fn(*args), time.time() - started


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "reviews-zh"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--measure", help="the measure example, built already")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/koubei-bench/sentiment-5.0.2"))
    p.add_argument("--no-peers", action="store_true")
    a = p.parse_args()
    exe = peers.example("measure", "koubei-reviews", a.measure)
    corpora = [(n, os.path.join(a.data, n), "zh") for n in CHINESE]
    corpora += [(f"UCI {n}", path, "en") for n, path in english_corpora(a.cache).items()]
    missed = 0
    print("| corpus | reviews (balanced) | default | trained, 5-fold CV | Naive Bayes alone | peers |")
    print("|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, lang in corpora:
            if not os.path.exists(path):
                print(f"| {name} | not found at {path} | | | | |")
                missed += 1
                continue
            split = os.path.join(tmp, "split.csv")
            out = subprocess.run([exe, path, str(a.folds), split], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout)
            rows = read_split(split)
            found = {}
            if not a.no_peers:
                if lang == "zh":
                    found["snownlp retrained"] = peer("snownlp", "snownlp", snownlp_cv, rows, a.folds)
                    found["cnsenti"] = peer("cnsenti", "cnsenti", cnsenti_accuracy, rows)
                else:
                    found["VADER"] = peer("vaderSentiment", "vaderSentiment", vader_accuracy, rows)
            shown = ", ".join(f"{k} {v[0]:.3f}" for k, v in found.items() if v)
            print(f"| {name} | {r['reviews']:,} | {r['default_accuracy']:.3f} | {r['cv_accuracy']:.3f} | "
                  f"{r['bayes_only_cv_accuracy']:.3f} | {shown} |", flush=True)
            if lang == "zh":
                wants = [("trained", r["cv_accuracy"], 0.88), ("default", r["default_accuracy"], 0.80)]
            else:
                # The default is VADER (a Rust port of an earlier version):
                # it must reach VADER's published figure, and read at most
                # 5 sentences in 1,000 differently from VADER run here.
                vader = found.get("VADER")
                wants = [("trained", r["cv_accuracy"], r["default_accuracy"] + 1e-9)]
                corpus = name.split()[-1]
                if corpus in QUOTED_VADER:
                    wants.append(("default", r["default_accuracy"], QUOTED_VADER[corpus]))
                if vader:
                    wants.append(("default against VADER here", r["default_accuracy"], vader[0] - 0.005))
            for what, got, want in wants:
                if got < want:
                    print(f"  {name}: {what} {got:.3f} is under {want:.3f}", file=sys.stderr)
                    missed += 1
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
