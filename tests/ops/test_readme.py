"""The README is the front door: short, its two commands exist, and CI runs the test command."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text()


def test_readme_commands_exist_and_ci_runs_the_test_command() -> None:
    block = re.search(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["ops/run", "ops/test"]
    for command in commands:
        assert (ROOT / command).is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec ops/test\n" in ci


def test_readme_stays_short_and_its_links_resolve() -> None:
    assert len(README.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target
