#!/usr/bin/env python3
"""Lists import cycles between the files of each crate (strongly connected groups of files that
name each other through `crate::`, `super::` or `self::` paths), one group a line.

    python3 scripts/import-cycles.py [CRATE_DIR...]     default: every crate of the workspace

A file's dependencies are the module paths it names outside comments and its test modules
(`#[cfg(test)] mod ... { }`, wherever they are in the file): `crate::`, `super::` (also
repeated, and the glob `super::*`) and `self::` paths in `use` items and in code alike, brace
groups included. A path is resolved to the longest prefix that is a file of the crate (`a/b.rs`
or `a/b/mod.rs`), then through that file's re-exports: `crate::net::Party`, where `net/mod.rs`
says `pub use party::Party;`, is a dependency on `party.rs`, and `crate::MpcError` (re-exported
by `lib.rs`) one on `error.rs`.

A parent naming its own child modules (`mod fr;`, `pub use fr::Fr;`, `fr::helper()` in
`field/mod.rs`) is the module tree, not an import: it is not an edge, or every child that
implements a method of its parent's type (`impl Engine` in `engine/*.rs`) would be a cycle.

Exits 1 when a cycle is found, so it can guard CI (`.ci/run` runs it first). `--edges` also
prints the edges inside each cycle; `--self-test` checks, on small made-up crates, that every
kind of reference above is seen (and that a parent naming its child is not an edge).
"""
import os
import re
import sys

CRATES = ["mpc", "protocols", "coordinator", "worker", "simulations", "."]
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
GLOB = re.compile(r"\b(super|crate)::\*")
GROUP = re.compile(r"\b(crate|super|self)::((?:\w+::)*)\{([^}]*)\}", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def code_of(text):
    """The text without comments and without its inline test modules."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    test = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod \w+\s*\{")
    while True:
        m = test.search(text)
        if not m:
            return text
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: m.start()] + text[i:]


def paths_in(code):
    for m in GLOB.finditer(code):
        yield m.group(1), []
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


REEXPORT = re.compile(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);")


def reexports(mod, code, files):
    """Names this file re-exports, mapped to the file that defines them (one level deep)."""
    out = {}
    for m in REEXPORT.finditer(code):
        body = re.sub(r"\s+", "", m.group(1))
        g = re.match(r"^((?:\w+::)*)\{(.*)\}$", body)
        items = [(g.group(1) + i) for i in g.group(2).split(",") if i] if g else [body]
        for item in items:
            path, _, alias = item.partition("as")
            if "as" in item and alias:
                path = item.split("as")[0]
            parts = [p for p in path.split("::") if p]
            if not parts or parts[-1] in ("*", "self"):
                continue
            name = alias if "as" in item and alias else parts[-1]
            if parts[0] == "crate":
                full = parts[1:]
            elif parts[0] == "self":
                full = list(mod) + parts[1:]
            elif parts[0] == "super":
                full = list(mod[:-1]) + parts[1:]
            else:  # a child module of this file, or an outside crate
                full = list(mod) + parts
            for k in range(len(full) - 1, 0, -1):
                if tuple(full[:k]) in files:
                    out[name] = tuple(full[:k])
                    break
    return out


def crate_graph(crate):
    src = os.path.join(crate, "src")
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[tuple(module_of(src, p))] = p
    codes, exported = {}, {}
    for mod, path in files.items():
        with open(path, encoding="utf-8") as f:
            codes[mod] = code_of(f.read())
        exported[mod] = reexports(mod, codes[mod], files)
    graph = {}
    for mod, code in codes.items():
        deps = set()
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
                    if k < len(full):
                        target = exported[target].get(full[k], target)
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


SELF_TESTS = [
    # (files of a made-up crate, cycles expected)
    ({"lib.rs": "mod a; mod b;", "a.rs": "use crate::b::X;", "b.rs": "use crate::a::Y;"}, 1),
    ({"lib.rs": "", "a.rs": "fn f() { crate::b::g() }", "b.rs": "fn g() { crate::a::f() }"}, 1),
    ({"lib.rs": "", "a.rs": "use crate::b::*;", "b.rs": "use crate::{a::Y, c};"}, 1),
    ({"lib.rs": "", "m/mod.rs": "pub use x::X;", "m/x.rs": "use crate::a::A;",
      "a.rs": "use crate::m::X;"}, 1),
    ({"lib.rs": "pub use a::A;", "a.rs": "use crate::b::B;", "b.rs": "use crate::A;"}, 1),
    ({"lib.rs": "", "m/mod.rs": "pub struct M;", "m/x.rs": "use super::*;",
      "a.rs": "use crate::m::x::X;", "m/y.rs": "use crate::a::A; use super::super::m::x::X;"}, 0),
    ({"lib.rs": "", "a.rs": "use super::b::X; // crate::c::Y", "b.rs": "/* crate::a */",
      "c.rs": "use crate::a::A;\n#[cfg(test)]\nmod tests {\n    use crate::c::C;\n}"}, 0),
    ({"lib.rs": "", "m/mod.rs": "pub use x::X; fn f() { x::g() }", "m/x.rs": "use super::M;"}, 0),
    ({"lib.rs": "", "a.rs": "#[cfg(test)]\nmod tests {\n}\nuse crate::b::B;",
      "b.rs": "use crate::a::A;"}, 1),
]


def self_test():
    import tempfile

    for files, expected in SELF_TESTS:
        with tempfile.TemporaryDirectory() as crate:
            for name, text in files.items():
                path = os.path.join(crate, "src", name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            found = len(sccs(crate_graph(crate)[0]))
            if found != expected:
                print(f"self-test failed: {files} has {found} cycle(s), expected {expected}")
                return 1
    print(f"self-test: {len(SELF_TESTS)} made-up crates, all as expected")
    return 0


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    args = sys.argv[1:]
    if "--self-test" in args:
        return self_test()
    edges = "--edges" in args
    args = [a for a in args if a != "--edges"]
    crates = args or [os.path.join(root, c) for c in CRATES]
    found = 0
    for crate in crates:
        graph, files = crate_graph(crate)
        for group in sccs(graph):
            found += 1
            names = sorted(os.path.relpath(files[m], root) for m in group)
            print("cycle: " + " <-> ".join(names))
            if edges:
                for a in group:
                    for b in sorted(graph[a]):
                        if b in group:
                            print(f"    {os.path.relpath(files[a], root)} -> {os.path.relpath(files[b], root)}")
    print(f"{found} import cycle(s)" if found else "no import cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
