#!/usr/bin/env python3
"""Seed-selection benchmark and check: koubei against the reference figures
of NetHEPT, with an independent simulator, and a generated 1M-node graph.

NetHEPT (the collaboration graph of the IMM paper, 15,233 nodes) is read
undirected with weighted-cascade probabilities, k = 50, as its README sets
out. The script:
- runs the whole `koubei wom seeds` command `--runs` times (median wall time);
- estimates the spread of our seeds and of the 50 highest-degree nodes by
  Monte Carlo, with koubei's simulator and, when it installs from PyPI, with
  cynetdiff's (an independent implementation of the independent cascade);
- prints PASS or FAIL against the targets: spread >= 950, time <= 2 s.

Then it generates a random graph of `--nodes` nodes and `--edges` edges
(scripts/gen_graph.py) and reports the time and peak memory of
`koubei wom seeds -k 50` on it.

    python3 scripts/bench_wom.py --nethept PATH/hep.txt
    python3 scripts/bench_wom.py --nethept PATH/hep.txt --nodes 0    # NetHEPT only
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd):
    """Runs cmd; returns (stdout, seconds, peak KiB or None)."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    t0 = time.perf_counter()
    if gnu_time:
        p = subprocess.run([gnu_time, "-f", "%M"] + cmd, check=True, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        peak = int(p.stderr.strip().splitlines()[-1])
        return p.stdout, secs, peak
    p = run(cmd)
    return p.stdout, time.perf_counter() - t0, None


def undirected_degrees(path):
    nbrs = {}
    with open(path) as f:
        lines = [l.split("#")[0].split() for l in f]
    lines = [l for l in lines if l]
    # The `nodes edges` header, as koubei reads it.
    if len(lines[0]) == 2 and lines[0][1].isdigit() and int(lines[0][1]) == len(lines) - 1:
        lines = lines[1:]
    for u, v, *_ in lines:
        if u != v:
            nbrs.setdefault(u, set()).add(v)
            nbrs.setdefault(v, set()).add(u)
    return nbrs


def cynetdiff_spread(nbrs, seeds, runs):
    """Mean spread by cynetdiff, or None when it cannot be installed."""
    try:
        import networkx as nx
        from cynetdiff.utils import networkx_to_ic_model, set_activation_weighted_cascade
    except ImportError:
        return None
    g = nx.DiGraph()
    for u, vs in nbrs.items():
        for v in vs:
            g.add_edge(u, v)
    set_activation_weighted_cascade(g)
    model, mapping = networkx_to_ic_model(g, rng=7)
    model.set_seeds([mapping[s] for s in seeds])
    total = 0
    for _ in range(runs):
        model.reset_model()
        model.advance_until_completion()
        total += model.get_num_activated_nodes()
    return total / runs


def ensure_cynetdiff():
    try:
        import cynetdiff.utils  # noqa: F401
        import networkx  # noqa: F401
        return True
    except ImportError:
        pass
    venv = os.path.join(tempfile.gettempdir(), "koubei-bench-wom-venv")
    py = os.path.join(venv, "bin", "python")
    if os.environ.get("KOUBEI_BENCH_IN_VENV"):
        return False
    try:
        if not os.path.exists(py):
            run([sys.executable, "-m", "venv", venv])
        run([py, "-m", "pip", "install", "-q", "cynetdiff", "networkx", "numpy"])
    except subprocess.CalledProcessError as e:
        print(f"note: cynetdiff could not be installed from PyPI ({e}); "
              "the spread is checked with koubei's simulator only", file=sys.stderr)
        return False
    env = dict(os.environ, KOUBEI_BENCH_IN_VENV="1")
    os.execve(py, [py] + sys.argv, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--koubei", help="the koubei binary (default: build it in release)")
    ap.add_argument("--nethept", default=os.path.join(ROOT, "..", "shared", "data", "nethept", "hep.txt"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--simulations", type=int, default=10_000)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    a = ap.parse_args()
    ensure_cynetdiff()

    koubei = a.koubei
    if not koubei:
        print("building koubei (release) ...", file=sys.stderr)
        run(["cargo", "build", "--release", "-q"], cwd=ROOT)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        koubei = os.path.join(target, "release", "koubei")

    if os.path.exists(a.nethept):
        g = a.nethept
        times, out = [], None
        for _ in range(a.runs):
            out, secs, _ = timed([koubei, "wom", "seeds", "--graph", g, "--undirected", "-k", "50",
                                  "--format", "json"])
            times.append(secs)
        res = json.loads(out)
        seeds = [str(s) for s in res["seeds"]]
        nbrs = undirected_degrees(g)
        top = sorted(nbrs, key=lambda x: (-len(nbrs[x]), int(x) if x.isdigit() else x))[:50]
        rows = []
        with tempfile.TemporaryDirectory() as d:
            for name, s in [("koubei seeds", seeds), ("50 highest degree", top)]:
                f = os.path.join(d, "seeds.txt")
                with open(f, "w") as fh:
                    fh.write("\n".join(s) + "\n")
                sim = json.loads(run([koubei, "wom", "simulate", "--graph", g, "--undirected",
                                      "--seeds", f, "--runs", str(a.simulations), "--seed", "99",
                                      "--format", "json"]).stdout)
                peer = cynetdiff_spread(nbrs, s, a.simulations)
                rows.append((name, sim["spread"], sim["std_error"], peer))
        med = statistics.median(times)
        print(f"NetHEPT, undirected, weighted cascade, k = 50, epsilon = 0.1 "
              f"({res['nodes']} nodes, {res['arcs']} arcs)")
        print(f"  koubei wom seeds: median {med:.2f} s over {a.runs} runs "
              f"(min {min(times):.2f}, max {max(times):.2f}); "
              f"{res['rr_sets']} RR sets x 2; certified approximation {res['approximation']:.3f}; "
              f"RR estimate {res['spread']:.1f}")
        print(f"  {'seed set':<20} {'koubei simulate':>16} {'cynetdiff':>10}   ({a.simulations} runs each)")
        for name, m, se, peer in rows:
            p = f"{peer:.1f}" if peer is not None else "n/a"
            print(f"  {name:<20} {m:>9.1f} ± {se:<4.1f} {p:>10}")
        ok_spread = rows[0][1] >= 950
        ok_time = med <= 2.0
        print(f"  spread >= 950: {'PASS' if ok_spread else 'FAIL'}; "
              f"time <= 2 s: {'PASS' if ok_time else 'FAIL'}")
    else:
        print(f"note: {a.nethept} not found; skipping NetHEPT", file=sys.stderr)

    if a.nodes > 0:
        path = os.path.join(a.workdir, f"koubei-graph-{a.nodes}-{a.edges}.txt")
        if not os.path.exists(path):
            print(f"generating {path} ...", file=sys.stderr)
            run([sys.executable, os.path.join(ROOT, "scripts", "gen_graph.py"), path,
                 "--nodes", str(a.nodes), "--edges", str(a.edges)])
        for precision in ["0", "0.03"]:
            out, secs, peak = timed([koubei, "wom", "seeds", "--graph", path, "-k", "50",
                                     "--precision", precision, "--format", "json"])
            r = json.loads(out)
            mem = f"{peak / 1024:.0f} MiB peak" if peak else "peak memory n/a"
            print(f"generated graph: {r['nodes']} nodes, {r['arcs']} arcs, weighted cascade, k = 50, "
                  f"--precision {precision}: {secs:.1f} s, {mem}; {r['rr_sets']} RR sets x 2, "
                  f"certified {r['approximation']:.3f}, stopped by {r['stopped_by']}, "
                  f"spread {r['spread']:.0f}")


if __name__ == "__main__":
    main()
