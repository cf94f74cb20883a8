"""The package is laid out by DAG stage and its imports run one way.

Walks every import of ``src/divconq`` (module level and inside functions alike, since a
function-level import is still a dependency) and fails on a module that imports a later
stage, or on an import loop between modules. Imports under ``if TYPE_CHECKING:`` are
left out: they name a type for the annotations and never run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "divconq"

#: Stages in the order they may import each other: a module may import its own stage or
#: an earlier one. ``models`` comes before ``data`` because the data stage's embedding
#: job runs a pretrained network. The top level (the command line and the whole-config
#: check) may import everything.
STAGES = ("shared", "models", "data", "split", "train", "evaluate", "predict")
TOP = len(STAGES)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> int:
    if module == "divconq":
        # The package itself holds only ``__version__`` and imports nothing.
        return 0
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1])
    return TOP


def _type_checking_nodes(tree) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def imports(module: str, path: Path, known) -> set[str]:
    """The divconq modules ``module`` imports (a package's ``__init__`` when a name of
    the package itself is imported)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "divconq")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "divconq":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m != module}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def test_stage_subpackages_exist():
    for name in STAGES:
        assert (PACKAGE / name / "__init__.py").is_file(), name
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "configcheck.py"], loose
    assert graph()["divconq"] == set()


def test_every_import_names_a_module_that_exists():
    known = modules()
    missing = {(m, t) for m, targets in graph().items() for t in targets if t not in known}
    assert not missing, sorted(missing)


def test_no_module_imports_a_later_stage():
    upward = [
        f"{m} ({STAGES[stage(m)]}) imports {t} ({STAGES[stage(t)] if stage(t) < TOP else 'top'})"
        for m, targets in graph().items()
        for t in targets
        if stage(t) > stage(m)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_loop():
    edges = graph()
    loops = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                loops.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not loops, "\n".join(loops)


def test_the_checks_catch_a_loop_and_an_upward_import(tmp_path, monkeypatch):
    pkg = tmp_path / "divconq"
    for name, text in {
        "__init__.py": "",
        "shared/__init__.py": "",
        "shared/a.py": "def f():\n    from divconq.evaluate import b\n",
        "evaluate/__init__.py": "",
        "evaluate/b.py": "from divconq.shared import a\n",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    edges = graph()
    assert edges["divconq.shared.a"] == {"divconq.evaluate.b"}
    assert stage("divconq.evaluate.b") > stage("divconq.shared.a")
    assert edges["divconq.evaluate.b"] == {"divconq.shared.a"}


def test_workflow_rules_are_named_after_the_stages():
    rules = sorted(p.stem for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert rules == sorted(["common", *STAGES[2:]]), rules
