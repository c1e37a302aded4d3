#!/usr/bin/env python3
"""Writes a random directed graph as an edge list, for the seeding benchmark.

Each of M edges joins a source drawn uniformly from N nodes to a target drawn
with a heavy tail (a Zipf-like popularity), so that in-degrees vary as in real
referral graphs. Parallel edges and self-loops may occur; koubei merges and
drops them as the edge-list format says.

    scripts/gen_graph.py --nodes 1000000 --edges 10000000 --seed 1 OUT.txt
"""
import argparse
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skew", type=float, default=0.6,
                    help="targets are drawn as floor(N * U^(1/(1-skew))): 0 is uniform")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    n = a.nodes
    power = 1.0 / (1.0 - a.skew)
    with open(a.out, "w") as f:
        f.write(f"# random graph: {n} nodes, {a.edges} edges, seed {a.seed}, skew {a.skew}\n")
        chunk = []
        for _ in range(a.edges):
            u = int(rng.random() * n)
            v = int(n * rng.random() ** power)
            chunk.append(f"{u} {v}\n")
            if len(chunk) >= 100_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


if __name__ == "__main__":
    main()
