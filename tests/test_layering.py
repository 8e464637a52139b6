"""Imports go one way: realtime -> auth -> storage, realtime -> storage; SQL only in storage.

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

# Server packages checked, and the packages each one may not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "storage": frozenset({"auth", "realtime"}),
    "auth": frozenset({"realtime"}),
    "realtime": frozenset(),
}
# Database drivers and toolkits: importing one is writing SQL (or depending on how it
# is run), which belongs to storage/ alone.
SQL_PACKAGES = frozenset({"sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3", "psycopg"})
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


def _package_of(relative: Path) -> list[str]:
    """The package a module file belongs to, as name parts (its folder, for an __init__ too)."""
    return list(relative.parent.parts)


def imported_modules(tree: ast.Module, relative: Path) -> list[tuple[int, str]]:
    """Every module one source file imports, with its line, relative imports resolved.

    `from x import y` counts as x and as x.y (y may be a module); only the first part
    of a name matters to the rules, so the extra name never hides anything.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base: list[str] = []
            if node.level:
                package = _package_of(relative)
                # Climbing to (or past) the top leaves no package: the names are then
                # read as top-level modules, the strictest reading.
                base = package[: max(len(package) - (node.level - 1), 0)]
            prefix = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if prefix:
                found.append((node.lineno, prefix))
            found.extend(
                (node.lineno, f"{prefix}.{alias.name}" if prefix else alias.name)
                for alias in node.names
                if alias.name != "*"
            )
    return found


def import_violations(root: Path) -> list[Violation]:
    """Every import in root's server packages that breaks the layering, file by file."""
    violations: list[Violation] = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            tree = ast.parse(path.read_text(), filename=str(relative))
            seen: set[tuple[int, str]] = set()
            for line, module in imported_modules(tree, relative):
                top = module.split(".")[0]
                if top in forbidden:
                    rule = f"{package} may not import {top}"
                elif top in SQL_PACKAGES and package != SQL_HOME:
                    rule = f"SQL lives only in {SQL_HOME}/"
                else:
                    continue
                # `from auth import tokens` also yields auth.tokens: report it once.
                if (line, top) not in seen:
                    seen.add((line, top))
                    violations.append(Violation(relative.as_posix(), line, module, rule))
    return violations


def test_the_server_packages_import_one_way() -> None:
    """No module of auth/, storage/ or realtime/ imports against the layering."""
    scanned = {package: len(list((ROOT / package).rglob("*.py"))) for package in FORBIDDEN}
    assert all(count >= 3 for count in scanned.values()), scanned  # the walk found the code
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
    # bench/ and tests/ are tools around the server: they may import anything.
    "bench/run.py": "import asyncpg\nfrom realtime import app\n",
}

FORBIDDEN_CASES = [
    ("storage/sub/rows.py", "from auth.tokens import Token", "auth.tokens", "storage may not"),
    ("storage/db.py", "import realtime.app", "realtime.app", "storage may not import realtime"),
    ("storage/sub/rows.py", "from realtime import app", "realtime", "storage may not"),
    ("auth/tokens.py", "from realtime.app import build", "realtime.app", "auth may not"),
    ("auth/tokens.py", "import sqlalchemy.ext.asyncio", "sqlalchemy.ext.asyncio", "SQL"),
    ("realtime/app.py", "from sqlalchemy.ext.asyncio import X", "sqlalchemy.ext.asyncio", "SQL"),
    ("realtime/app.py", "import asyncpg", "asyncpg", "SQL lives only in storage/"),
    ("realtime/app.py", "def f():\n    import aiosqlite", "aiosqlite", "SQL"),
    ("realtime/app.py", "if TYPE_CHECKING:\n    from alembic import op", "alembic", "SQL"),
    # Relative imports resolve against the module's package: `..` from a top-level
    # module climbs past the top, so the name is read as the top-level package.
    ("auth/tokens.py", "from .. import realtime", "realtime", "auth may not import realtime"),
]


def test_the_checker_passes_a_tree_that_keeps_the_rules(tmp_path: Path) -> None:
    """Allowed imports (downward, relative within a package, SQL in storage) pass."""
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
