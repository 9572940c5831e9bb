"""A throwaway CA and a server certificate for 127.0.0.1, made with the `openssl` CLI."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerTls:
    ca_cert: Path  # PEM: what clients trust
    server_pem: Path  # PEM: the server's unencrypted PKCS#8 key followed by its certificate


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()[-500:]}")


def make_server_tls(directory: Path, *, name: str = "sandbox-kafka") -> ServerTls:
    """CA + server certificate valid for 127.0.0.1/localhost; reused when already there."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is needed to make the sandbox's TLS certificates")
    directory.mkdir(parents=True, exist_ok=True)
    out = ServerTls(directory / "ca.pem", directory / "server.pem")
    if out.ca_cert.exists() and out.server_pem.exists():
        return out
    days = "3650"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", days, "-subj", f"/CN={name} CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", f"/CN={name}", cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", days, "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    # Kafka's PEM keystore wants a PKCS#8 key (openssl 3 writes one) before the certificate
    key = (directory / "server.key").read_text()
    out.server_pem.write_text(key + (directory / "server.crt").read_text())
    out.server_pem.chmod(0o600)
    return out
