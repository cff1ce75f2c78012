"""The package's layout stays true: import layers (import-linter), no cycles, one public surface per
package, and only the command lines print.

The layers and forbidden imports are the ``[tool.importlinter]`` contracts in ``pyproject.toml``; a
broken copy of the package proves each contract can fail.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "spotzee_loader"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# The modules whose job is talking to a person on a terminal.
PRINTING_MODULES = {
    "cli/load.py",
    "cli/summary.py",
    "cli/mock_server.py",
    "cli/main.py",
    "operate/cli.py",
    "examples/__main__.py",
}


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_import_contracts_catch_a_broken_layout(tmp_path: Path) -> None:
    copy = tmp_path / "spotzee_loader"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    breaks = {
        "api/client.py": "from ..checkpoint import open_checkpoint_store\n",  # api must not know checkpoints
        "mapping/spec.py": "import sqlite3\n",  # mapping does no I/O
        "sources/keys.py": "from ..pipeline import Loader\n",  # a stage importing the pipeline above it
        "pipeline/report.py": "from ..cli import main\n",  # nothing imports the CLI
    }
    for name, line in breaks.items():
        path = copy / name
        text = path.read_text()
        head, sep, rest = text.partition("from __future__ import annotations\n")
        path.write_text(head + sep + line + rest if sep else line + text)

    result = _lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 4 broken" in result.stdout, result.stdout
    for fragment in (
        "spotzee_loader.api.client -> spotzee_loader.checkpoint",
        "spotzee_loader.mapping.spec -> sqlite3",
        "spotzee_loader.sources.keys -> spotzee_loader.pipeline",
        "spotzee_loader.pipeline.report -> spotzee_loader.cli",
    ):
        assert fragment in result.stdout, (fragment, result.stdout)


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("spotzee_loader")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, set())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
    ids=["chain", "pair", "triangle-with-tail"],
)
def test_cycle_finder(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert _cycles(edges) == expected


def test_no_import_cycles() -> None:
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def _subpackages() -> list[str]:
    return sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


@pytest.mark.parametrize("name", _subpackages())
def test_each_package_says_what_it_is_for_and_names_its_surface(name: str) -> None:
    tree = ast.parse((PACKAGE / name / "__init__.py").read_text())
    doc = ast.get_docstring(tree)
    assert doc, f"{name}/__init__.py has no docstring"
    assert len(doc.split("\n\n")[0].splitlines()) <= 2, f"{name}: say what the package is for in two lines"
    if name == "examples":
        return  # data, not code: its two names are the surface
    targets = [t for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
    targets += [n.target for n in tree.body if isinstance(n, ast.AnnAssign)]
    exported = [t for t in targets if getattr(t, "id", "") == "__all__"]
    assert exported, f"{name}/__init__.py does not name its public surface in __all__"


def test_other_packages_use_only_the_public_surface() -> None:
    """Outside ``spotzee_loader.X`` (a subpackage), code imports ``spotzee_loader.X``, never its modules."""
    graph = _graph()
    packages = {f"spotzee_loader.{p}" for p in _subpackages() if p not in ("orchestrate", "examples")}
    reaching_in = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            for package in packages:
                inside = importer == package or importer.startswith(package + ".")
                if imported.startswith(package + ".") and not inside:
                    reaching_in.append(f"{importer} -> {imported}")
    assert reaching_in == []


def test_only_the_command_lines_print() -> None:
    printing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            is_print = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            if is_print and name not in PRINTING_MODULES:
                printing.append(f"{name}:{node.lineno}")
    assert printing == []


def test_mapping_reads_and_writes_no_files() -> None:
    """import-linter cannot see ``open()`` or ``Path.read_text()``: nothing under mapping/ calls them."""
    io_calls = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "mkdir", "unlink"}
    found = []
    for path in sorted((PACKAGE / "mapping").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if called in io_calls:
                    found.append(f"{path.name}:{node.lineno} {called}")
    assert found == []


def test_the_wheel_lists_every_package_of_the_tree() -> None:
    """``pyproject.toml`` lists the packages (to map dags/ and sql/ into the wheel): a new one must be listed too."""
    import tomllib

    setuptools = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")} | {
        "spotzee_loader.dags",
        "spotzee_loader.sql",
    }
    assert sorted(setuptools["packages"]) == sorted(tree)
    assert setuptools["package-dir"] == {"spotzee_loader.dags": "dags", "spotzee_loader.sql": "sql"}


def test_the_changelog_names_the_version() -> None:
    """The newest entry of CHANGELOG.md (after any "Unreleased") is the package's version, which the wheel takes."""
    import re

    import spotzee_loader

    entries = re.findall(r"^## (\S+)", (PACKAGE.parent / "CHANGELOG.md").read_text(), re.M)
    released = [e for e in entries if e != "Unreleased"]
    assert released[0] == spotzee_loader.__version__, (released[:2], spotzee_loader.__version__)
    assert released == sorted(released, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_pre_commit_runs_the_test_commands_checks() -> None:
    """``.pre-commit-config.yaml`` is valid, and runs the tools of the README's second command from its .venv."""
    import yaml

    config = PACKAGE.parent / ".pre-commit-config.yaml"
    validate = [sys.executable, "-m", "pre_commit", "validate-config", str(config)]
    done = subprocess.run(validate, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    entries = [hook["entry"] for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]]
    assert entries == [
        ".venv/bin/ruff check --fix", ".venv/bin/ruff format", ".venv/bin/mypy", ".venv/bin/lint-imports",
        ".venv/bin/mkdocs build --strict --quiet --site-dir site",
    ]  # fmt: skip
    readme = (PACKAGE.parent / "README.md").read_text()
    for tool in ("ruff check .", "ruff format --check .", "mypy", "mkdocs build --strict"):
        assert f".venv/bin/{tool}" in readme


def test_no_module_of_the_package_passes_300_lines() -> None:
    """Rooms of one job each: a module that grows past ~300 lines is split along its seams in the same change."""
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 300
    }
    assert long == {}
