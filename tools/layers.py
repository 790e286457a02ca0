#!/usr/bin/env python3
"""Checks that the files of a source folder form layers (STYLE R13).

usage: layers.py DIR [DIR...]

For each folder, every non-static function or object defined in one of its
.c files is attributed to that file; a file that names a symbol defined in
another file of the folder depends on it (a call, or taking its address for
a callback table). The dependency graph must have no cycle: a cycle means a
lower file calls up. Prints each cycle's files and exits 1 when there is
one; prints the layers (each file after every file it uses) and exits 0
otherwise. Comments and strings are stripped before scanning.
Exit codes: 0 no cycle, 1 a cycle, 2 usage.
"""
import pathlib
import re
import sys

DEF = re.compile(r"^(?!static\b)[A-Za-z_][\w \t\*]*?\b([a-z_]\w*)\s*(\(|=|\[|;)", re.M)
IDENT = re.compile(r"\b[a-z_]\w*\b")


def strip(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


def definitions(text):
    """Top-level non-static definitions: lines at column 0 that are not
    declarations of something defined elsewhere (extern, prototypes end
    with ');' and are skipped by requiring a body or an initialiser)."""
    names = set()
    for m in DEF.finditer(text):
        line = text[m.start():text.find("\n", m.start())]
        if line.startswith(("extern", "typedef", "struct", "enum", "union", "#")):
            if not line.startswith("struct") or "(" not in line:
                continue
        name, tok = m.group(1), m.group(2)
        rest = text[m.end():m.end() + 2000]
        if tok == "(":
            # a definition when the parameter list is followed by a body
            depth, i = 1, 0
            while i < len(rest) and depth:
                depth += {"(": 1, ")": -1}.get(rest[i], 0)
                i += 1
            tail = rest[i:].lstrip()
            if tail.startswith("{"):
                names.add(name)
        elif tok == "=":
            names.add(name)
    return names


def graph(folder):
    files = sorted(pathlib.Path(folder).glob("*.c"))
    texts = {f.name: strip(f.read_text()) for f in files}
    owner = {}
    for name, text in texts.items():
        for sym in definitions(text):
            owner.setdefault(sym, name)
    deps = {name: set() for name in texts}
    for name, text in texts.items():
        for ident in set(IDENT.findall(text)):
            o = owner.get(ident)
            if o and o != name:
                deps[name].add(o)
    return deps


def cycles(deps):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def layers(deps):
    """Files grouped bottom first: a file's layer is one above its highest use."""
    level = {}

    def depth(v):
        if v not in level:
            level[v] = 1 + max((depth(w) for w in deps[v]), default=-1)
        return level[v]

    for v in deps:
        depth(v)
    by = {}
    for v, lv in level.items():
        by.setdefault(lv, []).append(v)
    return [sorted(by[k]) for k in sorted(by)]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    bad = False
    for folder in argv[1:]:
        deps = graph(folder)
        found = cycles(deps)
        for comp in found:
            bad = True
            edges = [f"{a} -> {b}" for a in comp for b in sorted(deps[a]) if b in comp]
            print(f"{folder}: import circle of {len(comp)} files: {', '.join(edges)}")
        if not found:
            print(f"{folder}: no circle; layers, bottom first:")
            for i, files in enumerate(layers(deps)):
                print(f"  {i}: {' '.join(files)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
