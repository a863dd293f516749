"""`ops/apt-ensure` installs each missing package once, however many of its commands are missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.paths import ROOT


def test_a_package_named_by_two_missing_commands_is_listed_once(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # Stands in for apt-get and sudo: records its arguments, installs nothing.
    for name in ("apt-get", "sudo"):
        fake = bin_dir / name
        fake.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [
            str(ROOT / "ops" / "apt-ensure"),
            "no-such-cmd-a",
            "pkg-one",
            "no-such-cmd-b",
            "pkg-one",
            "no-such-cmd-c",
            "pkg-two",
            "sh",
            "pkg-present",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "installing Debian packages: pkg-one pkg-two\n" in result.stderr
    install = [line for line in calls.read_text().splitlines() if " install " in line]
    assert len(install) == 1 and install[0].split()[-2:] == ["pkg-one", "pkg-two"], install
