#!/usr/bin/env python3
"""Checks the layers of crates/wsx-sio/src: who imports whom, the import circles, the imports
that point up.

usage: python3 scripts/sio_layers.py [--check] [--verbose] [SRC_DIR]
       python3 scripts/sio_layers.py --self-test

CI: `python3 scripts/sio_layers.py --self-test && python3 scripts/sio_layers.py --check`.

Every file of SRC_DIR (default crates/wsx-sio/src) is a module. An edge A -> B is a path that A
names and that resolves to B's module: a `use crate::...`, `use super::...`, `use self::...`
or `use child::...` declaration, or such a path written inline in code (`crate::metrics::x()`,
`connection::start(..)`). Comments, strings and `#[cfg(test)] mod tests { .. }` blocks are
left out: tests are consumers of the layers, not part of them. Paths that start with another
crate's name (`std::`, `::hyper::`) are ignored.

Each file belongs to the layer of LAYERS below (the first prefix that matches wins). An import
points up when it goes from a lower layer to a higher one. Printed: the layer of each file,
every import circle (strongly connected component of more than one file), every import that
points up. With --check the exit status is 1 when the rule of the crate is broken:
- the only circle allowed is one inside the namespace layer (Socket <-> Hub, their acks and
  handlers: a socket holds its hub, the hub hands out sockets), besides the split modules of
  SPLIT_MODULES, and
- at most MAX_UP imports point up (today none does).
"""

import os
import re
import sys

# Lowest first: each layer imports only from layers before it (or from itself).
LAYERS = [
    # The base: ids, metrics names; no crate import at all.
    ("base", ["sid.rs", "metrics.rs"]),
    # Pure codecs.
    ("packet", ["packet/"]),
    # Engine.IO sessions over a Transport.
    ("engine", ["engine/"]),
    # Plain data: rooms and broadcast options, arguments, frame encoders, the recovery store,
    # the crate's errors.
    ("data", ["rooms.rs", "args.rs", "frames.rs", "recovery.rs", "error.rs"]),
    # The adapter behind its host trait.
    ("adapter", ["adapter/"]),
    # Socket, Hub, acks, handlers, middlewares.
    ("namespace", ["namespace/"]),
    # Accept path, connection task, hyper, config.
    ("server", ["server/"]),
    # The admin UI's protocol, on a Server and the namespace layer's hooks.
    ("admin", ["admin/"]),
    # The Socket.IO client (on packet/ and engine/ only).
    ("client", ["client/", "client.rs"]),
    # The facade: re-exports.
    ("root", ["lib.rs"]),
]
# The layers whose files may form one circle each.
CIRCLE_LAYERS = ("namespace",)
# Folders whose files are one module split over files, its mod.rs and its children referring
# to each other; a circle that stays inside one of them is allowed (and printed as such).
SPLIT_MODULES = {
    # TransportError (mod.rs) wraps polling's error; the transports implement mod.rs's trait.
    "engine/transport/": "the Transport trait and its two transports",
    # The subscription link dispatches to the namespace adapters that publish through it.
    "adapter/redis/": "the Redis adapter: its link, requests and answers",
    # The options and shared state (mod.rs) and the parts that use and extend them.
    "admin/": "the admin UI: its state, authentication, events and statistics",
}
MAX_UP = 2


def layer_of(rel):
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)):
                return index, name
    return None, None


def module_path(rel):
    """src-relative file path -> module path (a tuple, () for the crate root)."""
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib") and (len(parts) > 1 or parts[-1] == "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip(text):
    """Removes comments, string and char literals (kept as empty quotes), and test modules."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            out.append('""')
            i = n if end < 0 else end + 1 + len(m.group(1))
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    code = "".join(out)
    # Test modules: `#[cfg(test)] mod name { ... }` (balanced braces; literals are gone).
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s*)?mod\s+\w+\s*\{", code)
        if not m:
            break
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[j], 0)
            j += 1
        code = code[:m.start()] + code[j:]
    return code


def use_trees(code):
    """The paths of every `use` declaration, brace groups expanded."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        paths.extend(expand(m.group(1).replace("\n", " ")))
    return paths


def expand(tree, keep_alias=False):
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        if not keep_alias:
            tree = re.sub(r"\s+as\s+\w+$", "", tree)
        return [[s for s in (p.strip() for p in tree.split("::")) if s]]
    prefix = [s for s in (p.strip() for p in tree[:brace].split("::")) if s]
    inner = tree[brace + 1:tree.rfind("}")]
    items, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:k])
            start = k + 1
    items.append(inner[start:])
    result = []
    for item in items:
        if item.strip():
            for sub in expand(item, keep_alias):
                result.append(prefix + [s for s in sub if s != "self"] if sub != ["self"] else prefix)
    return result


INLINE = re.compile(r"(?<![\w:])((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def inline_paths(code):
    code = re.sub(r"\buse\s+[^;]+;", "", code)
    code = re.sub(r"\b(pub(\([^)]*\))?\s+)?mod\s+\w+\s*;", "", code)
    return [m.group(1).split("::") for m in INLINE.finditer(code)]


def reexports(code):
    """The names a module re-exports (`pub use a::B;`, `pub(crate) use a::{B as C};`): name ->
    path. A path through a re-export depends on the module that defines the item."""
    names = {}
    for m in re.finditer(r"\bpub(\([^)]*\))?\s+use\s+([^;]+);", code):
        for path, alias in expand_named(m.group(2).replace("\n", " ")):
            names[alias] = path
    return names


def expand_named(tree):
    """Like expand, with the name each path is known by (its alias, or its last segment)."""
    out = []
    for path in expand(tree, keep_alias=True):
        alias = path[-1]
        if " as " in alias:
            seg, alias = (x.strip() for x in alias.split(" as "))
            path = path[:-1] + [seg]
        out.append((path, alias))
    return out


def resolve(path, here, modules, exports=None, depth=0):
    """The module a path names, from module `here`; None when it is outside the crate."""
    if not path:
        return None
    head = path[0]
    if head == "crate":
        base, rest = (), path[1:]
    elif head in ("super", "self"):
        base = here
        rest = path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    elif here + (head,) in modules:
        base, rest = here, path
    else:
        return None
    best = base if base in modules else None
    cur = base
    consumed = 0
    for seg in rest:
        cur = cur + (seg,)
        if cur in modules:
            best = cur
            consumed += 1
        else:
            break
    # Through a re-export, to where the item is defined.
    if best is not None and exports is not None and depth < 8 and consumed < len(rest):
        item = rest[consumed]
        target = exports.get(best, {}).get(item)
        if target is not None:
            found = resolve(target, best, modules, exports, depth + 1)
            if found is not None:
                return found
    return best


def tarjan(nodes, edges):
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            sccs.append(sorted(scc))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sccs


def main(argv):
    check = "--check" in argv
    verbose = "--verbose" in argv
    args = [a for a in argv if not a.startswith("--")]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = args[0] if args else os.path.join(root, "crates", "wsx-sio", "src")
    files = {}
    for dirpath, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                full = os.path.join(dirpath, name)
                files[os.path.relpath(full, src).replace(os.sep, "/")] = full
    modules = {module_path(rel): rel for rel in files}
    edges = {rel: {} for rel in files}
    codes = {}
    for rel, full in files.items():
        with open(full, encoding="utf-8") as f:
            codes[rel] = strip(f.read())
    exports = {module_path(rel): reexports(code) for rel, code in codes.items()}
    for rel, code in codes.items():
        here = module_path(rel)
        # A re-export is not a use: whoever names the item depends on where it is defined.
        uses = use_trees(re.sub(r"\bpub(\([^)]*\))?\s+use\s+[^;]+;", "", code))
        for path in uses + inline_paths(code):
            target = resolve(path, here, modules, exports)
            if target is None:
                continue
            to = modules[target]
            # A module naming its own items or a parent's `super::` re-export of itself.
            if to == rel:
                continue
            edges[rel].setdefault(to, "::".join(path))

    unplaced = sorted(rel for rel in files if layer_of(rel)[0] is None)
    sccs = [s for s in tarjan(files, {k: set(v) for k, v in edges.items()}) if len(s) > 1]
    up = []
    for a in sorted(edges):
        la = layer_of(a)
        for b, how in sorted(edges[a].items()):
            lb = layer_of(b)
            if la[0] is not None and lb[0] is not None and lb[0] > la[0]:
                up.append((a, la[1], b, lb[1], how))

    if verbose:
        print("files by layer:")
        for index, (name, _) in enumerate(LAYERS):
            members = sorted(r for r in files if layer_of(r)[0] == index)
            if members:
                print(f"  {name}: {' '.join(members)}")
        print("imports:")
        for a in sorted(edges):
            for b, how in sorted(edges[a].items()):
                print(f"  {a} -> {b}  ({how})")
    for rel in unplaced:
        print(f"file in no layer: {rel} (add it to LAYERS in {os.path.relpath(__file__, root)})")
    print(f"{len(files)} files, {sum(len(v) for v in edges.values())} imports between them")
    def split_module(scc):
        return next((f for f in SPLIT_MODULES if all(r.startswith(f) for r in scc)), None)

    split = [s for s in sccs if split_module(s)]
    sccs = [s for s in sccs if not split_module(s)]
    print(f"import circles: {len(sccs)} (and {len(split)} inside one split module)")
    for scc in sccs:
        layers = sorted({layer_of(r)[1] or "?" for r in scc})
        print(f"  {len(scc)} files ({', '.join(layers)}): {' '.join(scc)}")
    for scc in split:
        folder = split_module(scc)
        print(f"  allowed, {folder} ({SPLIT_MODULES[folder]}): {' '.join(scc)}")
    print(f"imports pointing up: {len(up)}")
    for a, la, b, lb, how in up:
        print(f"  {a} ({la}) -> {b} ({lb}): {how}")

    broken = []
    per_layer = {}
    for scc in sccs:
        layers = {layer_of(r)[1] for r in scc}
        if len(layers) != 1 or not layers <= set(CIRCLE_LAYERS):
            allowed = " or ".join(CIRCLE_LAYERS)
            broken.append(f"a circle outside one {allowed} layer: {' '.join(scc)}")
        else:
            per_layer.setdefault(layers.pop(), []).append(scc)
    for layer, circles in sorted(per_layer.items()):
        if len(circles) > 1:
            broken.append(f"{len(circles)} circles in the {layer} layer; one is allowed")
    if len(up) > MAX_UP:
        broken.append(f"{len(up)} imports point up; at most {MAX_UP} may")
    if unplaced:
        broken.append(f"{len(unplaced)} files in no layer")
    if broken:
        for why in broken:
            print(f"layer rule broken: {why}")
        if check:
            return 1
    else:
        print("layer rule holds")
    return 0


def self_test():
    """Checks the checker on small made-up crates: it must see an import that points up, a
    circle across layers, a path through a re-export, and let a clean tree pass."""
    import contextlib
    import io
    import tempfile

    def run(tree):
        with tempfile.TemporaryDirectory() as src:
            for rel, text in tree.items():
                path = os.path.join(src, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = main(["--check", src])
            return status, out.getvalue()

    clean = {
        "lib.rs": "mod sid; mod args; pub mod adapter; mod namespace; pub mod server;\n",
        "sid.rs": "pub struct Sid;\n",
        "args.rs": "use crate::sid::Sid; // crate::namespace::Socket in a comment\n"
                   "const S: &str = \"crate::server::Server\";\n",
        "adapter/mod.rs": "mod host;\npub use host::Host;\nuse crate::args::Args;\n",
        "adapter/host.rs": "pub trait Host {}\n",
        "namespace/mod.rs": "mod socket; mod hub;\n",
        "namespace/socket.rs": "use super::hub::Hub; use crate::adapter::Host;\n",
        "namespace/hub.rs": "use super::socket::Socket;\n"
                            "#[cfg(test)]\nmod tests { use crate::server::Server; }\n",
        "server/mod.rs": "use crate::namespace::socket::Socket;\n",
    }
    status, out = run(clean)
    assert status == 0, out
    assert "imports pointing up: 0" in out and "import circles: 1 " in out, out

    up = dict(clean)
    up["args.rs"] = "use crate::{sid::Sid, namespace::socket::Socket};\n"
    status, out = run(up)
    assert status == 0 and "imports pointing up: 1" in out, out
    up["sid.rs"] = "fn f() { crate::server::start(); }\nuse crate::adapter::Host;\n"
    status, out = run(up)
    assert status == 1 and "imports pointing up: 3" in out, out
    # Through the re-export `adapter::Host`, to adapter/host.rs.
    assert "sid.rs (base) -> adapter/host.rs (adapter)" in out, out

    circle = dict(clean)
    circle["adapter/host.rs"] = "use crate::namespace::hub::Hub;\n"
    circle["namespace/hub.rs"] = "use super::socket::Socket; use crate::adapter::Host;\n"
    status, out = run(circle)
    assert status == 1 and "a circle outside one namespace layer" in out, out
    two = dict(clean)
    two["namespace/mod.rs"] = "mod socket; mod hub; mod a; mod b;\n"
    two["namespace/a.rs"] = "use super::b::B;\n"
    two["namespace/b.rs"] = "use super::a::A;\n"
    status, out = run(two)
    assert status == 1 and "2 circles in the namespace layer" in out, out

    stray = dict(clean)
    stray["stray.rs"] = "\n"
    status, out = run(stray)
    assert status == 1 and "file in no layer: stray.rs" in out, out
    print("self-test passed")
    return 0


if __name__ == "__main__":
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    sys.exit(main(sys.argv[1:]))
