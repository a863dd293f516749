"""The console script: every command is listed, and a command loads only what it needs."""

from __future__ import annotations

import subprocess
import sys

from streams.cli import COMMAND_MODULES
from tests.support.worker import LEADSCORE


def test_help_lists_every_command() -> None:
    result = subprocess.run([LEADSCORE, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert set(COMMAND_MODULES) <= listed


def test_offline_scoring_does_not_load_the_stream_stack() -> None:
    probe = (
        "import sys; from streams.cli import load_commands; load_commands(['score']); "
        "print(sorted(m for m in ('faust', 'aiokafka', 'sklearn', 'aiohttp') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_worker_tunes_the_cycle_collector_for_its_batches() -> None:
    # In a child: freezing and thresholds are process-wide, the test process keeps its own.
    probe = (
        "import gc; from streams.cli.stream_cmds import tune_gc; tune_gc(); "
        "print(gc.get_threshold(), gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["(50000,", "20,", "100)", "True"]
