"""docs/ is the manual: its settings tables match the code, and its links resolve.

The configuration page is checked against :class:`streams.settings.Settings` both ways: every
setting is documented, and every documented worker setting exists, so neither can drift.
"""

from __future__ import annotations

import re

from streams.settings import Settings
from tests.support.paths import ROOT

DOCS = ROOT / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text()
OPS_SCRIPTS = ("stack", "stack-cluster.sh", "bootstrap", "test", "run")


def _documented(section: str | None = None) -> set[str]:
    text = CONFIGURATION
    if section is not None:
        start = text.index(f"## {section}")
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else None]
    return set(re.findall(r"^\| `(LEADSCORE_[A-Z_]+)` \|", text, flags=re.MULTILINE))


def _declared() -> set[str]:
    return {f"LEADSCORE_{name.upper()}" for name in Settings.model_fields}


def test_every_worker_setting_is_documented() -> None:
    assert _declared() <= _documented(), _declared() - _documented()


def test_every_documented_worker_setting_exists() -> None:
    section = _documented("Worker and CLI")
    assert section <= _declared(), section - _declared()


def test_every_ops_variable_is_documented() -> None:
    used: set[str] = set()
    for script in OPS_SCRIPTS:
        path = ROOT / "ops" / script
        if path.exists():
            used |= set(re.findall(r"\b(LEADSCORE_[A-Z_]+)", path.read_text()))
    assert used <= _documented(), used - _documented()


def test_architecture_opens_with_the_path_of_an_event() -> None:
    text = (DOCS / "architecture.md").read_text()
    first_section = text.index("\n## ")
    assert text[first_section:].startswith("\n## Where an event enters")
    for module in re.findall(r"`((?:streams|scoring)/[\w/]+\.(?:py|lua))`", text):
        assert (ROOT / module).is_file(), module


def test_links_between_pages_resolve() -> None:
    for page in [*DOCS.glob("*.md"), ROOT / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), (page.name, target)
