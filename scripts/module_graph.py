#!/usr/bin/env python3
"""Prints the module graph of src/ and fails if two top-level modules
(folders, or files at the root) import each other in a circle.

    python3 scripts/module_graph.py          # the graph, its knots, exit 1 on a folder cycle
    python3 scripts/module_graph.py --quiet  # only the knots and the verdict

Edges come from `use crate::…`/`use super::…` and from `crate::…` paths
in code (comments, doc comments and `#[cfg(test)] mod tests` blocks are
left out, and so is src/loom_tests/). A path through a re-export
(`crate::Pool`) counts as an edge to the module that defines the item.
Knots inside one folder are listed, not failed: `implementation` and each
folder's module doc say why each is there. `.ci/run` runs this script.
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def module_of(path: Path) -> tuple[str, ...]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def code_of(text: str) -> str:
    """The non-test code: test modules cut, comments blanked."""
    match = re.search(r"^#\[cfg\((?:all\()?test[^\n]*\n(?:#\[[^\n]*\n)*(?:pub(?:\(crate\))? )?mod \w+ \{",
                      text, re.M)
    if match:
        text = text[:match.start()]
    return re.sub(r"//[^\n]*", "", text)


def expand(prefix: list[str], body: str) -> list[list[str]]:
    """`a::{b, c::{d, e}}` -> [a, b], [a, c, d], [a, c, e]."""
    out, depth, current = [], 0, ""
    for ch in body + ",":
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth == 0:
            item, current = current.strip(), ""
            if not item:
                continue
            nested = re.fullmatch(r"([\w:]*?)::\{(.*)\}", item, re.S)
            if nested:
                out += expand(prefix + [p for p in nested.group(1).split("::") if p], nested.group(2))
            else:
                out.append(prefix + [p for p in item.split(" as ")[0].split("::") if p])
        else:
            current += ch
    return out


def use_paths(me: tuple[str, ...], code: str, pattern: str) -> list[list[str]]:
    """Absolute paths (from the crate root) named by the `use` items matched."""
    paths = []
    for body in re.findall(pattern, code, re.S):
        head, _, rest = body.partition("::")
        base = {"crate": [], "super": list(me[:-1]), "self": list(me)}.get(head)
        if base is None:
            continue
        rest = rest.strip()
        if rest.startswith("{") and rest.endswith("}"):
            rest = rest[1:-1]
        paths += expand(base, " ".join(rest.split()))
    return paths


def main() -> int:
    files = {module_of(p): p for p in SRC.rglob("*.rs") if "loom_tests" not in p.parts}
    codes = {m: code_of(p.read_text()) for m, p in files.items()}
    # Re-exports: (module, name) -> the module the name comes from.
    reexports: dict[tuple[tuple[str, ...], str], tuple[str, ...]] = {}
    for me, code in codes.items():
        for path in use_paths(me, code, r"\bpub(?:\([\w:]+\))?\s+use\s+((?:crate|super|self)::.*?);"):
            for k in range(len(path) - 1, 0, -1):
                if tuple(path[:k]) in files:
                    reexports[(me, path[-1])] = tuple(path[:k])
                    break

    def resolve(path: list[str]) -> tuple[str, ...] | None:
        for k in range(len(path), 0, -1):
            prefix = tuple(path[:k])
            if prefix in files:
                if k < len(path) and (prefix, path[k]) in reexports:
                    return reexports[(prefix, path[k])]
                return prefix
        return None

    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for me, code in codes.items():
        paths = use_paths(me, code, r"\buse\s+((?:crate|super)::.*?);")
        paths += [p.split("::") for p in re.findall(r"\bcrate::((?:\w+::)*\w+)", code)]
        deps = {resolve(p) for p in paths}
        graph[me] = {d for d in deps if d and d != me}

    name = lambda m: "::".join(m) or "lib"
    top = lambda m: m[0] if m else "lib"
    folders: dict[str, set[str]] = {}
    for m, deps in graph.items():
        folders.setdefault(top(m), set()).update(top(d) for d in deps if top(d) != top(m))

    if "--quiet" not in sys.argv:
        print("uses:")
        for m in sorted(graph):
            print(f"  {name(m)} -> {', '.join(sorted(name(d) for d in graph[m]))}")
    print("knots inside a folder (each explained in its folder's module doc):")
    for knot in cycles(graph):
        print("  " + ", ".join(sorted(name(m) for m in knot)))
    folder_cycles = cycles(folders)
    print("cycles between top-level modules:")
    for knot in folder_cycles:
        print("  " + ", ".join(sorted(knot)))
    print("none" if not folder_cycles else f"{len(folder_cycles)} cycle(s): the layers are not one-way")
    return 1 if folder_cycles else 0


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
