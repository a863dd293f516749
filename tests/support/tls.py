"""A throwaway certificate authority for TLS tests, made with the openssl command line.

Each test run makes its own CA and a server certificate for 127.0.0.1 and localhost, valid for
two days, so no key or certificate is ever kept in the repository.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Authority:
    """A CA's files; ``server_pem``/``server_key`` exist only for :func:`make_authority`'s
    ``with_server=True``."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_authority(where: Path, name: str, with_server: bool = False) -> Authority:
    """A CA in ``where`` (ca.pem, ca.key); with ``with_server``, also server.pem and server.key
    (unencrypted PKCS#8) signed by it, as ``ops/stack``'s ``LEADSCORE_TLS_DIR`` wants them."""
    where.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=where,
    )  # fmt: skip
    if with_server:
        (where / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        )
        _openssl(
            "req", "-new", *_EC, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=where,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            cwd=where,
        )  # fmt: skip
    return Authority(where)
