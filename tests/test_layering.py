"""Imports go one way: realtime -> auth -> storage, realtime -> storage; SQL only in storage.

Inside realtime/, broadcast/ (the transport) imports nothing else of the server and the
use cases import neither transport (http/, ws/); the README's Layout is the same map.

The checker reads the source with `ast` (nothing is imported or run), so a forbidden
import fails here even in a module no other test loads, inside a function or under
`if TYPE_CHECKING:` alike: a type imported from the database driver still ties the
layer to it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SERVER_PACKAGES = ("auth", "storage", "realtime")
# Tools around the server rather than layers of it: they may import anything.
TOOLS = ("bench", "tests")
# What each folder may not import; the most specific folder's rule applies, and a
# folder may always import from itself. "" is any other Python code in the checkout.
DENIED: dict[str, tuple[str, ...]] = {
    "": ("realtime",),
    "storage": ("auth", "realtime"),
    "auth": ("realtime",),
    "realtime": (),
    # The transport between processes knows nothing of what it carries.
    "realtime/broadcast": ("realtime", "auth", "storage"),
    # The use cases serve both transports, so they import neither.
    "realtime/usecases": ("realtime.http", "realtime.ws"),
}
# Database drivers and toolkits: importing one (even for a type) is SQL, or depends on
# how it is run, which belongs to storage/ alone.
SQL_PACKAGES = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3", "psycopg")
SQL_HOME = "storage"


@dataclass(frozen=True)
class Violation:
    """One import that breaks the direction: where it is, what it names, which rule."""

    path: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.imported} ({self.rule})"


def _within(module: str, prefix: str) -> bool:
    return not prefix or module == prefix or module.startswith(prefix + ".")


def imported_names(tree: ast.Module, relative: Path) -> list[tuple[int, str]]:
    """Every dotted name one source file imports, with its line, relative ones resolved.

    `import x.y` gives x.y; `from x import y` gives x.y (y may be a module or a name in
    x: either way it comes from x); `from . import y` in package p gives p.y.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base: list[str] = []
            if node.level:
                package = list(relative.parent.parts)
                # Climbing to (or past) the top leaves no package: the names are then
                # read as top-level modules, the strictest reading.
                base = package[: max(len(package) - (node.level - 1), 0)]
            prefix = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                name = prefix if alias.name == "*" else ".".join(filter(None, (prefix, alias.name)))
                found.append((node.lineno, name))
    return found


def _broken_rule(folder: str, module: str) -> str | None:
    """The rule an import of `module` from a file in `folder` breaks, if any."""
    rule_folder = max((f for f in DENIED if _within(folder, f.replace("/", "."))), key=len)
    if not rule_folder or not _within(module, rule_folder.replace("/", ".")):
        for denied in DENIED[rule_folder]:
            if _within(module, denied):
                return f"{rule_folder or 'code outside the server'} may not import {denied}"
    if any(_within(module, sql) for sql in SQL_PACKAGES) and not _within(folder, SQL_HOME):
        return f"SQL lives only in {SQL_HOME}/"
    return None


def python_files(root: Path) -> list[Path]:
    """Every Python file of the checkout but the tools' and hidden folders' (.venv)."""
    found: list[Path] = []
    for top in sorted(root.iterdir()):
        if top.name.startswith(".") or top.name in TOOLS:
            continue
        if top.is_dir():
            found.extend(sorted(top.rglob("*.py")))
        elif top.suffix == ".py":
            found.append(top)
    return found


def import_violations(root: Path) -> list[Violation]:
    """Every import in root's Python code that breaks the layering, file by file."""
    violations: list[Violation] = []
    for path in python_files(root):
        relative = path.relative_to(root)
        folder = ".".join(relative.parent.parts)
        tree = ast.parse(path.read_text(), filename=str(relative))
        reported: set[tuple[int, str]] = set()
        for line, module in imported_names(tree, relative):
            rule = _broken_rule(folder, module)
            # `from auth import a, b` breaks one rule on one line: say it once.
            if rule is not None and (line, rule) not in reported:
                reported.add((line, rule))
                violations.append(Violation(relative.as_posix(), line, module, rule))
    return violations


def test_the_server_packages_import_one_way() -> None:
    """No module of the checkout (bench/ and tests/ aside) imports against the layering."""
    scanned = {package: len(list((ROOT / package).rglob("*.py"))) for package in SERVER_PACKAGES}
    assert all(count >= 3 for count in scanned.values()), scanned  # the walk found the code
    # A renamed folder must take its rule along, or the rule would pass on nothing.
    assert [folder for folder in DENIED if folder and not (ROOT / folder).is_dir()] == []
    violations = import_violations(ROOT)
    assert not violations, "\n".join(str(v) for v in violations)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


# A small tree that keeps every rule, and one forbidden line added to it per case.
CLEAN_TREE = {
    "storage/__init__.py": "",
    "storage/db.py": "import sqlalchemy\nfrom sqlalchemy.ext.asyncio import AsyncConnection\n",
    "storage/sub/__init__.py": "",
    "storage/sub/rows.py": "from .. import db\nfrom ..db import AsyncConnection\n",
    "auth/__init__.py": "",
    "auth/tokens.py": "from storage.db import AsyncConnection\nimport storage.sub.rows\n",
    "realtime/__init__.py": "",
    "realtime/app.py": "import auth.tokens\nfrom storage import db\nfrom . import app\n",
    "realtime/codec.py": "",
    "realtime/http/__init__.py": "",
    "realtime/http/routes.py": "from ..usecases import edit\nfrom realtime.broadcast import Bus\n",
    "realtime/broadcast/__init__.py": "from realtime.broadcast.memory import Memory\n",
    "realtime/broadcast/memory.py": "from . import Bus\nfrom realtime import broadcast\n",
    "realtime/usecases/__init__.py": "",
    "realtime/usecases/edit.py": "from .. import codec\nfrom realtime.broadcast import Bus\n",
    # Other code may use the lower layers; bench/ and tests/ may import anything.
    "scripts/export.py": "import auth.tokens\nfrom storage import db\n",
    "bench/run.py": "import asyncpg\nfrom realtime import app\n",
    "tests/test_app.py": "import sqlite3\nfrom realtime import app\n",
}

FORBIDDEN_CASES = [
    ("storage/sub/rows.py", "from auth.tokens import Token", "auth.tokens.Token", "storage may"),
    ("storage/db.py", "import realtime.app", "realtime.app", "storage may not import realtime"),
    ("storage/sub/rows.py", "from realtime import app", "realtime.app", "storage may not"),
    ("auth/tokens.py", "from realtime.app import build", "realtime.app.build", "auth may not"),
    ("auth/tokens.py", "import sqlalchemy.ext.asyncio", "sqlalchemy.ext.asyncio", "SQL"),
    ("realtime/app.py", "from sqlalchemy import exc", "sqlalchemy.exc", "SQL"),
    ("realtime/http/routes.py", "import asyncpg", "asyncpg", "SQL lives only in storage/"),
    ("realtime/app.py", "def f():\n    import aiosqlite", "aiosqlite", "SQL"),
    ("realtime/app.py", "if TYPE_CHECKING:\n    from alembic import op", "alembic.op", "SQL"),
    ("realtime/broadcast/memory.py", "from storage.db import X", "storage.db.X", "broadcast"),
    ("realtime/broadcast/memory.py", "from .. import codec", "realtime.codec", "broadcast may"),
    ("realtime/usecases/edit.py", "from ..http import routes", "realtime.http.routes", "usecases"),
    ("realtime/usecases/edit.py", "from realtime.ws import x", "realtime.ws.x", "usecases may"),
    ("scripts/export.py", "from realtime.app import build", "realtime.app.build", "outside"),
    ("scripts/export.py", "import sqlalchemy", "sqlalchemy", "SQL lives only in storage/"),
    # `..` from a top-level package climbs past the top: read as the top-level name.
    ("auth/tokens.py", "from .. import realtime", "realtime", "auth may not import realtime"),
]


def test_the_checker_passes_a_tree_that_keeps_the_rules(tmp_path: Path) -> None:
    """Allowed imports (downward, relative, within a folder, SQL in storage) pass."""
    _write(tmp_path, CLEAN_TREE)
    assert import_violations(tmp_path) == []


@pytest.mark.parametrize(("name", "line", "imported", "rule"), FORBIDDEN_CASES)
def test_the_checker_names_a_forbidden_import(
    tmp_path: Path, name: str, line: str, imported: str, rule: str
) -> None:
    """One forbidden import makes one violation naming its file, line and module."""
    _write(tmp_path, CLEAN_TREE)
    path = tmp_path / name
    original = path.read_text()
    path.write_text(original + line + "\n")
    violations = import_violations(tmp_path)
    assert len(violations) == 1, violations
    (violation,) = violations
    assert violation.path == name
    assert violation.line == original.count("\n") + 1 + line.count("\n")
    assert violation.imported == imported
    assert rule in violation.rule
    assert f"{name}:{violation.line} imports {imported}" in str(violation)
