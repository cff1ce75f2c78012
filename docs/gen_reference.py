"""Reference pages generated from the code when the site is built (mkdocs-gen-files): the commands' options from
their parsers, the exit codes, the mapping file's keys and presets, the run report's fields, and the changelog."""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path

import mkdocs_gen_files

from spotzee_loader.cli import main
from spotzee_loader.cli.common import EXIT_CODES
from spotzee_loader.mapping import PRESET_NAMES
from spotzee_loader.mapping.toml_values import TOP_KEYS

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "Load (`spotzee-loader SOURCE`)": ["--help"],
    "`status`": ["status", "--help"],
    "`verify`": ["verify", "--help"],
    "`resend`": ["resend", "--help"],
    "`mock-server`": ["mock-server", "--help"],
}


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(argv)
    return out.getvalue().rstrip()


def _fields(path: Path, class_name: str) -> list[tuple[str, str, str]]:
    """``(name, type, docstring)`` of a dataclass's fields, the docstring being the string under the field."""
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    rows: list[tuple[str, str, str]] = []
    for node, after in zip(cls.body, [*cls.body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = ""
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                doc = " ".join(str(after.value.value).split())
            rows.append((node.target.id, ast.unparse(node.annotation), doc))
    return rows


with mkdocs_gen_files.open("reference/commands.md", "w") as page:
    page.write("# Commands and their options\n\nGenerated from the command line's own parsers (`--help`).\n\n")
    for title, argv in COMMANDS.items():
        page.write(f"## {title}\n\n```text\n{_help(argv)}\n```\n\n")

with mkdocs_gen_files.open("reference/exit-codes.md", "w") as page:
    page.write(
        "# Exit codes\n\nGenerated from `spotzee_loader.cli.common.EXIT_CODES`.\n\n| code | meaning |\n|---|---|\n"
    )
    for code, meaning in sorted(EXIT_CODES.items(), key=lambda item: (item[0] == 130, item[0])):
        page.write(f"| {code} | {meaning} |\n")
    page.write(
        "\nErrors are one sentence naming the cause and the fix, never a traceback (`-v` shows one for internal "
        "errors).\n"
    )

with mkdocs_gen_files.open("reference/mapping-keys.md", "w") as page:
    page.write(
        "# Mapping file keys\n\nGenerated from the mapping parser: the top-level keys a TOML mapping file may hold "
        "(any other is refused, naming it) and the presets. What each key does: [Mapping](mapping.md).\n\n"
    )
    page.write("".join(f"- `{key}`\n" for key in sorted(TOP_KEYS)))
    page.write("\nPresets: " + ", ".join(f"`{name}`" for name in PRESET_NAMES) + ".\n")

with mkdocs_gen_files.open("reference/report.md", "w") as page:
    page.write(
        "# The run report\n\nGenerated from `spotzee_loader.pipeline.RunReport`: the fields of `--report FILE` (JSON), "
        "of the Airflow load task's XCom, and of the checkpoint store's record of each run.\n\n"
        "| field | type | meaning |\n|---|---|---|\n"
    )
    for name, kind, doc in _fields(ROOT / "spotzee_loader" / "pipeline" / "report.py", "RunReport"):
        escaped = doc.replace("|", "\\|")
        page.write(f"| `{name}` | `{kind}` | {escaped} |\n")

with mkdocs_gen_files.open("changelog.md", "w") as page:
    page.write((ROOT / "CHANGELOG.md").read_text())
