"""The architecture, checked from the source: no import cycles (imports inside functions
and under TYPE_CHECKING included), every module in a layer of the import contract, no
process-wide changes in library code, small functions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "oipviz"
MAX_FUNCTION_LINES = 80


def modules(pkg: Path = PKG) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for p in sorted(pkg.rglob("*.py")):
        parts = list(p.relative_to(pkg.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Edges module -> modules of the package it imports, at any depth of its code."""

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = m.split(".") if is_pkg else m.split(".")[:-1]
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                subs = [f"{base}.{a.name}" for a in node.names]
                names = [s for s in subs if s in mods] or [base]
            for n in names:
                t = owner(n) if n.split(".")[0] == "oipviz" else None
                if t and t != m:
                    graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    found = cycles(import_graph(modules()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check itself works: a package with a cycle hidden in a function is caught."""
    pkg = tmp_path / "oipviz"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("def f():\n    from oipviz.high import b\n")
    (pkg / "high.py").write_text("from oipviz.low import a\n")
    assert cycles(import_graph(modules(pkg))) == [["oipviz.high", "oipviz.low.a"]]


def test_every_module_is_in_a_layer_of_the_import_contract():
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r'type = "layers"\nlayers = \[(.*?)\]', text, re.S)
    assert block, "no layers contract in pyproject.toml"
    layers = re.findall(r'"([^"]+)"', block.group(1))
    named = {n.strip(" ()") for layer in layers for n in re.split(r"[|:]", layer)}
    top = {".".join(m.split(".")[:2]) for m in modules() if m != "oipviz"}
    assert top <= named, f"not in a layer: {sorted(top - named)}"


PROCESS_WIDE = {
    "meta_path": r"\bmeta_path\b",
    "setdefaulttimeout": r"setdefaulttimeout",
    "matplotlib.use": r"matplotlib\.use\(|\bpyplot\b",
    "PIL globals": r"MAX_IMAGE_PIXELS\s*=|LOAD_TRUNCATED_IMAGES\s*=",
    "dup2": r"\bdup2\(",
}


@pytest.mark.parametrize("what", sorted(PROCESS_WIDE))
def test_library_code_changes_no_process_wide_state(what):
    entry = PKG / "cli" / "__init__.py"  # the CLI's entry point sets up its own process
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in PKG.rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(PROCESS_WIDE[what], line) and not (what == "dup2" and p == entry)
    ]
    assert not hits, f"{what} in library code: {hits}"


def test_functions_are_small():
    long = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_bench_scripts_import_only_names_oipviz_has():
    """The benches are not run in CI; a rename in oipviz must not break them silently
    (``python bench/precursor.py`` once failed on a constant that had moved)."""
    import importlib

    missing = []
    for path in sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "bench/peers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("oipviz"):
                mod = importlib.import_module(str(node.module))
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    if not hasattr(mod, alias.name) and importlib.util.find_spec(name) is None:
                        missing.append(f"{path.name}:{node.lineno} {name}")
    assert not missing, missing
