"""The README is the user's manual: its commands exist and its settings tables match the code."""

from __future__ import annotations

import re

from streams.settings import Settings
from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text()


def _documented() -> set[str]:
    return set(re.findall(r"^\| `(LEADSCORE_[A-Z_]+)` \|", README, flags=re.MULTILINE))


def test_every_worker_setting_is_documented() -> None:
    declared = {f"LEADSCORE_{name.upper()}" for name in Settings.model_fields}
    assert declared <= _documented(), declared - _documented()


def test_every_ops_variable_is_documented() -> None:
    used: set[str] = set()
    for script in ("stack", "bootstrap", "test", "run"):
        path = ROOT / "ops" / script
        if path.exists():
            used |= set(re.findall(r"\b(LEADSCORE_[A-Z_]+)", path.read_text()))
    assert used <= _documented(), used - _documented()


def test_readme_commands_exist_and_ci_runs_the_test_command() -> None:
    block = re.search(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["ops/run", "ops/test"]
    for command in commands:
        assert (ROOT / command).is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec ops/test\n" in ci
