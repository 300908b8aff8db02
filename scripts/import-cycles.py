#!/usr/bin/env python3
"""Lists import cycles between the files of each crate (strongly connected groups of files that
name each other through `crate::`, `super::` or `self::` paths), one group a line.

    python3 scripts/import-cycles.py [CRATE_DIR...]     default: every crate of the workspace

A file's dependencies are the module paths it names outside comments and its test modules;
a path is resolved to the longest prefix that is a file of the crate (`a/b.rs` or
`a/b/mod.rs`). Exits 1 when a cycle is found, so it can guard CI.
"""
import os
import re
import sys

CRATES = ["mpc", "protocols", "coordinator", "worker", "simulations", "."]
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
GROUP = re.compile(r"\b(crate|super|self)::((?:\w+::)*)\{([^}]*)\}", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def code_of(text):
    """The text before the test module, without comments."""
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod \w+ \{", text, re.M)
    if m:
        text = text[: m.start()]
    return re.sub(r"//[^\n]*", "", text)


def paths_in(code):
    for m in GROUP.finditer(code):
        head, prefix, inner = m.group(1), m.group(2), m.group(3)
        for item in inner.split(","):
            item = item.strip().split(" as ")[0].strip()
            if item and item != "self":
                yield head, (prefix + item).split("::")
            elif item == "self":
                yield head, prefix.rstrip(":").split("::")
    for m in PATH.finditer(code):
        yield m.group(1), [p for p in m.group(2).split("::") if p]


def crate_graph(crate):
    src = os.path.join(crate, "src")
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[tuple(module_of(src, p))] = p
    graph = {}
    for mod, path in files.items():
        deps = set()
        with open(path, encoding="utf-8") as f:
            code = code_of(f.read())
        for head, parts in paths_in(code):
            if head == "crate":
                base = []
            elif head == "self":
                base = list(mod)
            else:  # super, possibly repeated
                base = list(mod[:-1])
                while parts and parts[0] == "super":
                    parts = parts[1:]
                    base = base[:-1]
            full = base + parts
            for k in range(len(full), -1, -1):
                target = tuple(full[:k])
                if target in files:
                    if target != mod and target != ():
                        deps.add(target)
                    break
        graph[mod] = deps
    return graph, files


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(group)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    crates = sys.argv[1:] or [os.path.join(root, c) for c in CRATES]
    found = 0
    for crate in crates:
        graph, files = crate_graph(crate)
        for group in sccs(graph):
            found += 1
            names = sorted(os.path.relpath(files[m], root) for m in group)
            print("cycle: " + " <-> ".join(names))
    print(f"{found} import cycle(s)" if found else "no import cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
