"""The stop bound: a process whose graceful stop hangs ends itself, with its own exit status."""

from __future__ import annotations

import subprocess
import sys

from streams.worker.shutdown import EXIT_STATUS

HANGS = """
import logging, time
from streams.worker import shutdown
logging.basicConfig(level=logging.INFO)
shutdown.arm(0.5)
time.sleep(30)  # a stop that never finishes
"""

FINISHES = """
from streams.worker import shutdown
shutdown.arm(30)
"""


def test_a_stop_that_hangs_is_cut_short() -> None:
    done = subprocess.run([sys.executable, "-c", HANGS], capture_output=True, timeout=20)
    assert done.returncode == EXIT_STATUS
    assert b"stopping took longer than 0.5s" in done.stderr


def test_a_stop_in_time_does_not_wait_for_the_bound() -> None:
    done = subprocess.run([sys.executable, "-c", FINISHES], capture_output=True, timeout=20)
    assert done.returncode == 0
