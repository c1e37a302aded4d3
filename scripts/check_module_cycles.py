#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a circle.

Cargo already refuses circles between crates; within a crate nothing does.
A module's imports are the `crate::a::b` paths in it, outside its tests;
`lib.rs`, which declares the modules, is left out, as is a module's use of
its own parents. Prints each circle found and exits 1.

    python3 scripts/check_module_cycles.py
"""

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules(crate):
    src = os.path.join(ROOT, "crates", crate, "src")
    out = {}
    for path in glob.glob(os.path.join(src, "**", "*.rs"), recursive=True):
        name = os.path.relpath(path, src)[:-3].replace(os.sep, "::")
        name = re.sub(r"::mod$", "", name)
        if name in ("lib", "main"):
            continue
        out[name] = path
    return out


def imports(path, mods, me):
    text = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
    text = re.sub(r"//.*", "", text)
    found = set()
    for ref in re.findall(r"crate::([a-z_]+(?:::[a-z_]+)?)", text):
        for name in (ref, ref.split("::")[0]):
            if name in mods and name != me and not me.startswith(name + "::"):
                found.add(name)
                break
    return found


def circles(graph):
    seen = set()
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        yield path + [start]
                elif nxt not in path:
                    stack.append((nxt, path + [nxt]))


def main():
    failed = False
    for crate in sorted(os.listdir(os.path.join(ROOT, "crates"))):
        mods = modules(crate)
        graph = {m: imports(p, mods, m) for m, p in mods.items()}
        for c in circles(graph):
            print(f"{crate}: {' -> '.join(c)}")
            failed = True
    if failed:
        sys.exit(1)
    print("no module imports another in a circle")


if __name__ == "__main__":
    main()
