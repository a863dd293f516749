"""Each class (or type alias) name is defined in one module only, and errors live in errors.py.

One name, one meaning: a reader who meets ``BatchOutcome`` knows which one it is without looking at
the import. Exception classes anywhere else than a package's ``errors`` module are how a package
grows a second error hierarchy its callers do not know to catch.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.support.paths import ROOT

# Names still defined twice while a change reworks them; empty when each has one meaning.
PENDING: set[str] = set()


def _defined() -> dict[str, set[str]]:
    where: dict[str, set[str]] = defaultdict(set)
    for package in ("scoring", "streams"):
        for path in (ROOT / package).rglob("*.py"):
            module = str(path.relative_to(ROOT))
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    where[node.name].add(module)
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    # a type alias: a capitalised (not all-caps) name bound to a subscripted type
                    target = node.targets[0]
                    if (
                        isinstance(target, ast.Name)
                        and target.id[:1].isupper()
                        and not target.id.isupper()
                        and isinstance(node.value, ast.Subscript)
                    ):
                        where[target.id].add(module)
    return where


def test_each_name_is_defined_once() -> None:
    twice = {name: sorted(m) for name, m in _defined().items() if len(m) > 1}
    assert set(twice) <= PENDING, twice


def test_exceptions_are_defined_in_errors_modules() -> None:
    outside = []
    for package in ("scoring", "streams"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "errors.py":
                continue
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception"))
                    for b in node.bases
                ):
                    outside.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert outside == []
