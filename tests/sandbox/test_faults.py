"""sandbox.faults.TriggerProxy on real sockets: the hook runs before the matching bytes are
forwarded, once; every match is recorded; the rest passes through untouched."""

from __future__ import annotations

import re
import socket
import threading

from sandbox.faults import TriggerProxy


def _echo_server() -> tuple[socket.socket, list[bytes]]:
    """Answers each connection with what it received, upper-cased; records what arrived."""
    server = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                got.append(data)
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return server, got


def _ask(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        return conn.recv(65536)


def test_the_hook_runs_once_before_the_match_is_forwarded_and_every_match_is_kept() -> None:
    server, got = _echo_server()
    arrived_at_hook: list[int] = []
    proxy = TriggerProxy(
        server.getsockname(), re.compile(r"DROP\s+PARTITION\s+ID\s+'([^']*)'", re.I),
        lambda: arrived_at_hook.append(len(got)),
    )  # fmt: skip
    try:
        assert _ask(proxy.port, b"SELECT 1") == b"SELECT 1"
        assert proxy.matches == [] and arrived_at_hook == []
        sql = b"POST /?query=ALTER+TABLE+t+DROP+PARTITION+ID+%2720261101%27 HTTP/1.1\r\n\r\n"
        assert _ask(proxy.port, sql) == sql.upper()
        assert _ask(proxy.port, b"alter table t drop partition id '20261102'").startswith(b"ALTER")
    finally:
        proxy.close()
        server.close()
    assert proxy.matches == ["20261101", "20261102"]
    assert arrived_at_hook == [1]  # once, while the statement had not reached the server yet
