"""The suite's own shape: test modules stand alone and conftest does nothing when imported.

A test module that imports another runs that module's tests' imports and fixtures twice and ties
the two together; shared code belongs in ``tests/support``. Test directories mirror the packages.
"""

from __future__ import annotations

import ast

from tests.support.paths import ROOT

TESTS = ROOT / "tests"


def _imports(path: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(path):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_test_module_imports_another() -> None:
    offenders = {}
    for path in TESTS.rglob("*.py"):
        imported = _imports(ast.parse(path.read_text()))
        bad = {
            name
            for name in imported
            if name.startswith("tests.")
            and (name.rsplit(".", 1)[-1].startswith("test_") or name.endswith("conftest"))
        }
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_conftest_only_registers_plugins() -> None:
    for path in TESTS.rglob("conftest.py"):
        body = ast.parse(path.read_text()).body
        kinds = [type(node).__name__ for node in body]
        assert kinds in (["Expr", "Assign"], ["Assign"]), (path, kinds)


def test_test_directories_mirror_the_packages() -> None:
    for package in ("scoring", "streams"):
        for sub in (ROOT / package).iterdir():
            if (sub / "__init__.py").exists():
                assert (TESTS / package / sub.name).is_dir(), f"no tests/{package}/{sub.name}"
