"""Plain HTTP requests to a worker started by a test."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from tests.support.worker import WorkerProcess


def request(
    worker: WorkerProcess,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request; error statuses are answers, not exceptions."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}{path}", data=body, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def wait_for_lead(
    worker: WorkerProcess, lead_id: str, token: str | None = None, events: int = 8
) -> bytes:
    """The lead, once the worker has taken in all ``events`` published for it (the seed's 8)."""
    worker.wait_handled(events)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, body = request(worker, "GET", f"/leads/{lead_id}", token=token)
        if status == 200:
            return body
        time.sleep(0.3)
    raise AssertionError(f"lead {lead_id} never scored\n{worker.tail()}")
