"""Hostile requests against a real worker's HTTP API (issue 11): no single request may stop the
worker, every lead id can be opened, "accepted" means the worker will score it, and no answer or log
line repeats the API token or the personal data a request carried."""

from __future__ import annotations

import re
import secrets
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.http import request
from tests.support.worker import WorkerProcess, jsonl, run_cli

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]
# A worker per test, shared by its examples: the health check warns about exactly that sharing.
examples = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def page_view(lead_id: str, when: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "lead_id": lead_id,
        "type": "page_view",
        "occurred_at": (when or datetime.now(UTC)).isoformat(),
        "properties": {"path": "/pricing"},
        **extra,
    }


def exchange(port: int, data: bytes, timeout: float = 10, idle: float = 2) -> bytes:
    """Send raw bytes (which urllib would refuse to) and read the answer until the server closes.

    Reading goes on while sending: a server that answers and closes before it has read everything
    resets the connection, and an answer still unread by then would be lost. The sending side is
    never shut: aiohttp drops a connection at end of input, answers in flight included.
    """
    received: list[bytes] = []
    sent = 0
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setblocking(False)
        while time.monotonic() < deadline:
            writing = sent < len(data)
            if not writing and time.monotonic() - last > idle:
                break  # an answered request on a connection kept open: nothing more is coming
            readable, writable, _ = select.select([sock], [sock] if writing else [], [], 0.2)
            if readable:
                last = time.monotonic()
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                received.append(chunk)
            if writable:
                last = time.monotonic()
                try:
                    sent += sock.send(data[sent : sent + 65536])
                except OSError:  # the server stopped reading; its answer may still come
                    sent = len(data)
    return b"".join(received)


def windows(secret: str, width: int = 10) -> list[bytes]:
    """Every run of ``width`` characters of a secret: a truncated echo is still a leak."""
    raw = secret.encode()
    return [raw[i : i + width] for i in range(max(1, len(raw) - width + 1))]


@dataclass(repr=False)  # hypothesis prints arguments of failing examples; the env is long
class Api:
    worker: WorkerProcess
    token: str
    sent: list[str] = field(default_factory=list)  # personal data sent so far; must never come back

    def __repr__(self) -> str:
        return f"Api(port={self.worker.port})"

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        status, _, answer = request(self.worker, method, path, body, self.token)
        self.assert_clean(answer)
        return status, answer

    def post(self, body: Any) -> tuple[int, dict[str, Any]]:
        status, answer = self.call("POST", "/events", orjson.dumps(body))
        return status, orjson.loads(answer)

    def lead(self, lead_id: str, timeout: float = 60) -> dict[str, Any]:
        """The lead once the worker has scored it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, answer = self.call("GET", "/leads/" + quote(lead_id, safe=""))
            if status == 200:
                found: dict[str, Any] = orjson.loads(answer)
                return found
            assert status == 404 and orjson.loads(answer) == {"error": "no such lead"}, answer
            time.sleep(0.2)
        raise AssertionError(f"lead {lead_id!r} never scored\n{self.worker.tail()}")

    def assert_clean(self, answer: bytes) -> None:
        for secret in (self.token, *self.sent):
            for part in windows(secret):
                assert part not in answer, (secret, answer[:500])

    def assert_alive_and_quiet(self) -> None:
        """The worker still scores a fresh event, and its log holds neither token nor sent data."""
        assert self.worker.process is not None and self.worker.process.poll() is None
        probe = f"probe-{uuid.uuid4().hex}"
        assert self.post([page_view(probe)]) == (202, {"accepted": 1, "rejected": 0})
        assert self.lead(probe)["lead_id"] == probe
        log = self.worker.log_path.read_bytes()
        self.assert_clean(log)


@pytest.fixture
def api(start_worker: StartWorker) -> Api:
    token = secrets.token_urlsafe(24)
    return Api(start_worker(LEADSCORE_API_TOKEN=token), token)


@examples
@given(ids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=6, unique=True))
@example(ids=["}x", "{a}", "a/b", "50%", "a b", "é", "x@example.org", "%2F", "%25", "a?b#c"])
@example(ids=[".", "..", "a/../b", "/", "{", "}", "\\", "+", "😀", "\x00", "a\nb"])
def test_any_lead_id_reaches_its_lead(api: Api, ids: list[str]) -> None:
    assert api.post([page_view(i) for i in ids])[0] == 202
    for lead_id in ids:
        assert api.lead(lead_id)["lead_id"] == lead_id
    unknown = "{never-" + uuid.uuid4().hex + "}"
    status, answer = api.call("GET", "/leads/" + quote(unknown, safe=""))
    assert (status, orjson.loads(answer)) == (404, {"error": "no such lead"})
    api.assert_alive_and_quiet()
    log = api.worker.log_path.read_text()
    for lead_id in ids:  # paths name leads, and there is no access log
        assert len(lead_id) < 8 or lead_id not in log, lead_id


def deep(depth: int) -> bytes:
    """JSON arrays nested ``depth`` deep, as text: orjson would refuse to write them."""
    return b"[" * depth + b"]" * depth


def with_deep(event: dict[str, Any], where: str, depth: int = 256) -> bytes:
    """``event`` as JSON, the value ``where`` (a string placeholder) nested ``depth`` deep."""
    return orjson.dumps(event).replace(f'"{where}"'.encode(), deep(depth))


def test_deep_nesting_is_refused_item_by_item(api: Api) -> None:
    good = [orjson.dumps(page_view(f"nest-{n}-{uuid.uuid4().hex}")) for n in range(2)]
    nested_items = [
        with_deep(page_view("n", event_id="DEEP"), "DEEP"),
        with_deep(page_view("n", properties={"path": "/", "x": "DEEP"}), "DEEP"),
        deep(256),
        b'{"a":' + deep(600) + b"}",
    ]
    for item in nested_items:
        status, answer = api.call(
            "POST", "/events", b"[" + b",".join([good[0], item, good[1]]) + b"]"
        )
        assert status == 422, answer
        payload = orjson.loads(answer)
        assert payload["accepted"] == 2 and [e["index"] for e in payload["errors"]] == [1]
        status, answer = api.call("POST", "/events", item)
        assert status in (400, 422), answer
        assert orjson.loads(answer)["error" if status == 400 else "errors"]
    status, answer = api.call("POST", "/events", deep(2000))  # past orjson's depth limit
    assert status == 400 and b"not valid JSON" in answer
    for event in good:
        lead_id = orjson.loads(event)["lead_id"]
        assert api.lead(lead_id)["lead_id"] == lead_id
    api.assert_alive_and_quiet()


def test_what_the_worker_throws_away_is_refused(api: Api, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    soon = page_view(f"soon-{uuid.uuid4().hex}", now + timedelta(hours=23))
    late = page_view(f"late-{uuid.uuid4().hex}", now + timedelta(days=1, minutes=5))
    status, answer = api.post(late)
    assert status == 422 and answer["accepted"] == 0
    assert answer["errors"][0]["index"] == 0 and "future" in answer["errors"][0]["error"]
    status, answer = api.post(
        [soon, late, page_view("bad", occurred_at="0001-01-01T00:00:00+01:00")]
    )
    assert status == 422 and answer["accepted"] == 1
    assert [e["index"] for e in answer["errors"]] == [1, 2]
    assert api.lead(soon["lead_id"])["lead_id"] == soon["lead_id"]

    path = tmp_path / "events.jsonl"
    fine = page_view(f"cli-{uuid.uuid4().hex}")
    path.write_bytes(jsonl([fine, late]) + with_deep(page_view("n", event_id="D"), "D") + b"\n")
    produced = run_cli("produce", str(path), env=api.worker.env)
    err = produced.stderr.decode()
    assert produced.returncode == 1, err
    assert "line 2: occurred_at" in err and "future" in err and "line 3:" in err
    assert "published 1 events, rejected 2" in err
    assert api.lead(fine["lead_id"])["lead_id"] == fine["lead_id"]
    api.assert_alive_and_quiet()


def emails(n: int) -> list[str]:
    return [f"person-{secrets.token_hex(6)}@example.org" for _ in range(n)]


def head(lines: Iterable[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


@examples
@given(
    where=st.sampled_from(["auth", "other", "name", "url", "many"]),
    length=st.integers(8200, 40_000),
    filler=st.binary(min_size=1, max_size=64).filter(lambda b: b"\r" not in b and b"\n" not in b),
)
@example(where="auth", length=9000, filler=b"a")
def test_oversized_headers_are_refused_without_echo(
    api: Api, where: str, length: int, filler: bytes
) -> None:
    address = emails(1)[0]
    api.sent.append(address)
    pad = (filler * (length // len(filler) + 1))[:length]
    auth = b"Authorization: Bearer " + api.token.encode()
    lines = [b"GET /leads/" + quote(address).encode() + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if where == "auth":
        lines.append(auth + pad)
    elif where == "other":
        lines += [auth, b"X-Note: " + address.encode() + b" " + api.token.encode() + pad]
    elif where == "name":
        lines += [auth, b"X-" + pad.replace(b":", b"-") + address.encode() + b": v"]
    elif where == "url":
        lines[0] = b"GET /leads/" + address.encode() + pad + api.token.encode() + b" HTTP/1.1"
    else:  # more headers than aiohttp takes, each a copy of the token
        copies = 129 + length // 1000  # aiohttp takes 128
        lines += [b"X-%d: %s %s" % (n, address.encode(), auth) for n in range(copies)]
    answer = exchange(api.worker.port, head(lines))
    assert answer.startswith((b"HTTP/1.0 431", b"HTTP/1.0 400")), answer[:200]
    api.assert_clean(answer)
    api.assert_alive_and_quiet()


@examples
@given(
    count=st.integers(1, 40),
    short_by=st.integers(1, 10_000),
    noise=st.binary(max_size=300),
    trailer=st.binary(max_size=2000),
)
@example(count=2000, short_by=100_000, noise=b"", trailer=b"")
def test_bytes_past_content_length_are_refused_without_echo(
    api: Api, count: int, short_by: int, noise: bytes, trailer: bytes
) -> None:
    sent = emails(count)
    api.sent += sent
    items = [page_view("smuggle", properties={"path": "/", "email": e}) for e in sent]
    body = noise + orjson.dumps({"token": api.token, "items": items}) + trailer
    length = max(0, len(body) - short_by)
    lines = [
        b"POST /events HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Authorization: Bearer " + api.token.encode(),
        b"Content-Type: application/json",
        b"Content-Length: %d" % length,
    ]
    answer = exchange(api.worker.port, head(lines) + body)
    assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), answer[:200]
    api.assert_clean(answer)
    api.assert_alive_and_quiet()


@examples
@given(garbage=st.binary(max_size=3000), at=st.integers(0, 3000))
@example(garbage=b"\x16\x03\x01\x02\x00", at=0)
@example(garbage=b"GE\x00T / HTTP/1.1\r\nHost: x\r\n\r\n", at=3)
def test_garbage_is_refused_without_echo(api: Api, garbage: bytes, at: int) -> None:
    address = emails(1)[0]
    api.sent.append(address)
    secret = b" " + api.token.encode() + b" " + address.encode() + b" "
    data = garbage[:at] + secret + garbage[at:] + b"\r\n\r\n"
    answer = exchange(api.worker.port, data)
    api.assert_clean(answer)
    api.assert_alive_and_quiet()
