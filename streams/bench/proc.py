"""Child processes of the benchmark (the worker, the bare Faust app), always stopped at the end."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

# The CLI's entry point, run by the same interpreter, so the bench measures the code it ships with.
LEADSCORE = [sys.executable, "-c", "from streams.cli import main; main()"]


def free_port() -> int:
    """A TCP port nothing listens on now, for a child (or a test's private service) to bind.

    Taken below Linux's ephemeral range (32768 and up), not by binding port 0: a port the kernel
    hands out for ``bind(0)`` is also the kind it gives outgoing connections, and one of those may
    take it before the child binds it.
    """
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        if bindable(port):
            return port
    raise OSError("no free TCP port between 20000 and 32000")


def bindable(port: int) -> bool:
    """Whether nothing listens on ``port`` of the loopback address now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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
