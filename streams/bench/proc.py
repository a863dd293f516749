"""Child processes of the benchmark (the worker, the bare Faust app), always stopped at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# The CLI's entry point, run by the same interpreter, so the bench measures the code it ships with.
LEADSCORE = [sys.executable, "-c", "from streams.cli import main; main()"]


class Child:
    """A subprocess with its output in a log file and its working directory in ``workdir``.

    Faust writes a ``<app id>-data`` directory into the working directory; giving each child a
    private one under the benchmark's temporary directory keeps the user's tree clean.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Raise with the end of the log when the child died early."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self.process.returncode}:\n{self.tail()}"
            )

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a clean Faust shutdown), then SIGKILL if it does not go in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def child_env(**settings: str) -> dict[str, str]:
    """The parent's environment without any ``LEADSCORE_*`` or ``BENCH_*``, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "BENCH_"))}
    env.update(settings)
    return env
