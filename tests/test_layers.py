"""lt_lib's architecture as a test: three layers (learn < runs < course, the CLI on top, errors at the
root), every import, at module level or inside a function, pointing down or sideways, and no circle."""
import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "lt_lib"
RANK = {"errors": 0, "learn": 1, "runs": 2, "course": 3, "cli": 4, "__main__": 5, "__init__": 5}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imports(path: Path) -> set[str]:
    """The lt_lib modules ``path`` imports (relative or absolute), at any depth of its code."""
    here = module_name(path).split(".")
    package = here[:-1] if path.name != "__init__.py" else here
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (package[:len(package) - node.level + 1] if node.level else [])
            parts = base + (node.module.split(".") if node.module else [])
            if parts[:1] != ["lt_lib"]:
                continue
            for alias in node.names:  # "from . import data" names a module, "from .data import X" a name
                candidate = ".".join(parts + [alias.name])
                found.add(candidate if _exists(candidate) else ".".join(parts))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lt_lib")}
    return {m for m in found if _exists(m) and m != module_name(path)}


def _exists(dotted: str) -> bool:
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def layer(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_module_lives_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        assert rel.parts[0].removesuffix(".py") in RANK, f"{rel} is outside the layers {sorted(RANK)}"


def test_no_import_runs_up_a_layer():
    upward = [(m, d) for m, deps in graph().items() for d in deps
              if not m.endswith("__init__") and RANK[layer(d)] > RANK[layer(m)]]
    assert upward == []


def find_circle(g: dict[str, set[str]]) -> list[str] | None:
    """A circle of ``g`` (a module -> imports map) as [a, b, ..., a], or None."""
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d, stack)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            found = visit(m, [])
            if found:
                return found
    return None


def test_the_import_graph_has_no_circle():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]  # the check works
    g = {m: {d for d in deps if not d.endswith("__init__")} for m, deps in graph().items()}
    assert find_circle(g) is None


def test_each_layer_says_what_it_is():
    for name in ("learn", "runs", "course"):
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and 1 <= len(doc.splitlines()) <= 3, name


def test_old_module_paths_still_import_with_a_deprecation_warning():
    import importlib
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("lt_lib.experiments")
    new = importlib.import_module("lt_lib.learn.experiments")
    assert old is new and any(issubclass(w.category, DeprecationWarning) and "lt_lib.learn.experiments" in
                              str(w.message) for w in caught)
