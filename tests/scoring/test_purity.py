"""``scoring`` is pure: it imports nothing from ``streams`` and performs no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "scoring"
FORBIDDEN_MODULES = {
    "streams",
    "socket",
    "subprocess",
    "requests",
    "redis",
    "aiokafka",
    "faust",
    "os",
    "shutil",
    "sqlite3",
    "urllib.request",
    "http",
}
FORBIDDEN_CALLS = {"open", "print", "input"}


@pytest.mark.parametrize("source", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_io_and_no_streams_imports(source: Path) -> None:
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES and name not in FORBIDDEN_MODULES
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{source.name}: {node.func.id}()"
