#!/usr/bin/env python3
"""Ask a Kafka broker for its metadata with nothing but the standard library.

``ops/stack`` uses this to decide that the broker is ready: a listening socket is not enough, the
broker must answer a real Metadata request and name at least one broker. Keeping it free of
third-party imports lets the stack come up before any virtualenv exists.

Usage: kafka_probe.py HOST:PORT [--timeout SECONDS]; exit 0 when the broker answered.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

_METADATA_API_KEY = 3
_CORRELATION_ID = 0x1EAD


def _request() -> bytes:
    client_id = b"leadscore-ops-probe"
    # Metadata v0: header (api key, version, correlation id, client id) then an empty topic list,
    # which v0 reads as "all topics".
    body = struct.pack(">hhih", _METADATA_API_KEY, 0, _CORRELATION_ID, len(client_id)) + client_id
    body += struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks.extend(chunk)
    return bytes(chunks)


def probe(host: str, port: int, timeout: float) -> int:
    """Return the number of brokers the cluster reports; raise on any failure."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(_request())
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        payload = _read_exact(sock, size)
    correlation_id, broker_count = struct.unpack(">ii", payload[:8])
    if correlation_id != _CORRELATION_ID:
        raise ConnectionError(f"unexpected correlation id {correlation_id}")
    return int(broker_count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="HOST:PORT of a broker listener")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    host, _, port = args.address.rpartition(":")
    try:
        brokers = probe(host or "127.0.0.1", int(port), args.timeout)
    except (OSError, ValueError, struct.error) as exc:
        print(f"kafka probe {args.address}: {exc}", file=sys.stderr)
        return 1
    if brokers < 1:
        print(f"kafka probe {args.address}: metadata names no broker yet", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
