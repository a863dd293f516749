"""A real Redis Cluster for a test, from Debian's redis-server, joined with ``redis-cli``.

Nodes take ports from ``LEADSCORE_TEST_CLUSTER_PORTS`` (``first-last``) when it is set, so parallel
checkouts can keep to their own range, else random free ports; each node's cluster bus listens on
its port + 10000. :class:`Cluster` can SIGKILL a node and start it again on its own data, which is
what the fault tests do to primaries.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.bench.proc import bindable

__all__ = ["Cluster", "cluster_port_block", "running_cluster"]


def _cluster_ports(count: int) -> list[int]:
    """Node ports whose cluster-bus ports (port + 10000) are free."""
    chosen = os.environ.get("LEADSCORE_TEST_CLUSTER_PORTS", "")
    if chosen:
        first, last = (int(p) for p in chosen.split("-"))
        candidates = list(range(first, last + 1))
        random.SystemRandom().shuffle(candidates)
    else:
        rng = random.SystemRandom()
        candidates = [rng.randrange(20_000, 22_700) for _ in range(2000)]
    ports: list[int] = []
    for port in candidates:
        if port not in ports and bindable(port) and bindable(port + 10_000):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"no {count} free cluster ports (LEADSCORE_TEST_CLUSTER_PORTS={chosen!r})")


def cluster_port_block(count: int) -> int:
    """The first of ``count`` consecutive free node ports (with their bus ports), for ops/stack."""
    chosen = os.environ.get("LEADSCORE_TEST_CLUSTER_PORTS", "")
    first, last = (int(p) for p in chosen.split("-")) if chosen else (20_000, 22_700)
    rng = random.SystemRandom()
    for _ in range(200):
        start = rng.randrange(first, last - count + 2)
        block = range(start, start + count)
        if all(bindable(p) and bindable(p + 10_000) for p in block):
            return start
    raise RuntimeError(f"no {count} consecutive free cluster ports in {first}-{last}")


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return done.stdout


@dataclass
class Cluster:
    """A running cluster: its nodes by port, the first primary's URL."""

    root: Path
    ports: list[int]
    aof: bool
    nodes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def urls(self) -> str:
        """Every node, as ``LEADSCORE_REDIS_URL`` takes a cluster's: a client started while one
        of them is down (killed by a test) still finds the cluster through the others."""
        return ",".join(f"redis://127.0.0.1:{port}/0" for port in self.ports)

    def start(self, port: int) -> None:
        data = self.root / str(port)
        data.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
        argv += ["--cluster-enabled", "yes", "--cluster-config-file", str(data / "nodes.conf")]
        argv += ["--cluster-node-timeout", "2000", "--logfile", str(data / "redis.log")]
        argv += ["--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof else []
        argv += [] if self.aof else ["--appendonly", "no"]
        self.nodes[port] = subprocess.Popen(argv)

    def kill(self, port: int) -> None:
        """SIGKILL one node: it loses what its append-only file had not written yet."""
        self.nodes[port].send_signal(signal.SIGKILL)
        self.nodes[port].wait(timeout=30)

    def stop(self, port: int) -> None:
        """SIGTERM one node: it writes its append-only file out and exits."""
        self.nodes[port].terminate()
        self.nodes[port].wait(timeout=30)

    def primaries(self) -> list[int]:
        """Ports of the primaries that serve slots, as the first live node sees them."""
        for port in self.ports:
            if self.nodes[port].poll() is None:
                lines = _cli(port, "cluster", "nodes").splitlines()
                return [
                    int(parts[1].split(":")[1].split("@")[0])
                    for parts in (line.split() for line in lines)
                    if "master" in parts[2] and "fail" not in parts[2] and len(parts) > 8
                ]
        return []

    def wait_ok(self, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while not all(
            "cluster_state:ok" in _cli(p, "cluster", "info")
            for p in self.ports
            if self.nodes[p].poll() is None
        ):
            assert time.monotonic() < deadline, "cluster did not reach state ok"
            time.sleep(0.2)

    def wait_answers(self, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        while not all(_cli(p, "ping").strip() == "PONG" for p in self.ports):
            assert time.monotonic() < deadline, "cluster nodes did not start"
            time.sleep(0.1)


@contextlib.contextmanager
def running_cluster(
    root: Path, count: int, replicas: int = 0, aof: bool = False
) -> Iterator[Cluster]:
    """A real cluster of ``count`` primaries with ``replicas`` each (one primary takes them all)."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        pytest.fail("redis-server and redis-cli are needed (ops/stack installs them)")
    cluster = Cluster(root, _cluster_ports(count * (1 + replicas)), aof)
    try:
        for port in cluster.ports:
            cluster.start(port)
        cluster.wait_answers()
        first = cluster.ports[0]
        if count == 1:  # redis-cli --cluster create wants three; one node takes every slot itself
            create = ["redis-cli", "-p", str(first), "cluster", "addslotsrange", "0", "16383"]
        else:
            create = [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in cluster.ports),
            ]
            create += ["--cluster-replicas", str(replicas), "--cluster-yes"]
        created = subprocess.run(create, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stdout + created.stderr
        cluster.wait_ok()
        yield cluster
    finally:
        for node in cluster.nodes.values():
            if node.poll() is None:
                node.terminate()
        for node in cluster.nodes.values():
            node.wait(timeout=30)
