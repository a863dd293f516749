"""Every aiokafka client is built by the one factory in streams/kafka/clients.py.

A client built anywhere else can miss the security settings, as the benchmark's once did, and then
works on a laptop and fails on a SASL or TLS cluster.
"""

from __future__ import annotations

import ast

from tests.support.paths import ROOT

CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
FACTORY = ROOT / "streams" / "kafka" / "clients.py"


def test_clients_are_built_only_by_the_factory() -> None:
    built = []
    for path in (ROOT / "streams").rglob("*.py"):
        if path == FACTORY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in CLIENTS:
                    built.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert built == []
