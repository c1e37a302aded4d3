#!/usr/bin/env python3
"""Fetches the dashboard's third-party files from npm at pinned versions,
checks each against its pinned SHA-256, and writes them (with their
licences) to crates/koubei-web/assets/, where the server embeds them.

    python3 scripts/fetch_assets.py          # fetch, check and write
    python3 scripts/fetch_assets.py --check  # check the committed files only

Nothing is loaded from a CDN at run time: these files are compiled into the
binary. Uses `npm pack`, so it needs npm and the npm registry.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "crates", "koubei-web", "assets")

# (package@version, file in the package, name here, sha256)
FILES = [
    ("echarts@6.1.0", "dist/echarts.min.js", "echarts.min.js",
     "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"),
    ("echarts@6.1.0", "LICENSE", "LICENSE-echarts",
     "634293835b43a6dd2094fa39182a3d9a6b9ca43b7fdb9ac354e8037af2a3093a"),
    ("echarts@6.1.0", "NOTICE", "NOTICE-echarts",
     "d491d358344f842685c1b1585970999db65fe30ecf7ef3867af8814f4016c016"),
    ("echarts@6.1.0", "licenses/LICENSE-d3", "LICENSE-echarts-d3",
     "e1211892da0b0e0585b7aebe8f98c1274fba15bafe47fa1f4ee8a7a502c06304"),
    # China's provinces, as ECharts 4 shipped them (a sketch map).
    ("echarts@4.9.0", "map/json/china.json", "china.json",
     "d392f651a48e6213c9bfc83f406711069de296c17f426cffc0ad1148078ee226"),
    ("echarts@4.9.0", "LICENSE", "LICENSE-echarts-4.9.0",
     "512b2001a3a2ddd456a08d1392d5831da992daaf18b10e76f9b4a5b4ae7fe96c"),
    # Natural Earth 110m countries, as TopoJSON.
    ("world-atlas@2.0.2", "countries-110m.json", "countries-110m.json",
     "2516c915867c7baf18ddec727aec46c315541a07cfb3d79a6559b05d5e94eee8"),
    ("world-atlas@2.0.2", "LICENSE", "LICENSE-world-atlas",
     "8048290dfdb6e83fbed17e8985c8cfc4ce9da9b842642f3d3e497280790cfa31"),
    # TopoJSON to GeoJSON in the page.
    ("topojson-client@3.1.0", "dist/topojson-client.min.js", "topojson-client.min.js",
     "25cd02ae486cc5063e0215a4e4cfb15de83700c87ac48bac4d57dc6aaf3ebb89"),
    ("topojson-client@3.1.0", "LICENSE", "LICENSE-topojson-client",
     "4c4d15b635e04e691825a76db7d33f7f2033b55669a7430011694f31e6c65999"),
]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check_only():
    bad = 0
    for _, _, name, want in FILES:
        path = os.path.join(ASSETS, name)
        try:
            got = sha256(open(path, "rb").read())
        except FileNotFoundError:
            print(f"missing: {path}", file=sys.stderr)
            bad += 1
            continue
        if got != want:
            print(f"{name}: sha256 {got}, pinned {want}", file=sys.stderr)
            bad += 1
    print(f"{len(FILES) - bad} of {len(FILES)} assets match their pinned hashes")
    return 1 if bad else 0


def fetch():
    os.makedirs(ASSETS, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tarballs = {}
        for spec in sorted({f[0] for f in FILES}):
            out = subprocess.run(["npm", "pack", "-q", spec], cwd=tmp, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            tarballs[spec] = os.path.join(tmp, out)
        for spec, member, name, want in FILES:
            with tarfile.open(tarballs[spec]) as t:
                data = t.extractfile(f"package/{member}").read()
            got = sha256(data)
            if got != want:
                print(f"{spec} {member}: sha256 {got}, pinned {want}; nothing written", file=sys.stderr)
                return 1
            with open(os.path.join(ASSETS, name), "wb") as f:
                f.write(data)
            print(f"{name}  {spec}/{member}  ok")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    sys.exit(check_only() if ap.parse_args().check else fetch())
