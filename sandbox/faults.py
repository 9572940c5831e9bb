"""Backends that misbehave on purpose, for fault tests and benchmarks."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from urllib.parse import unquote_plus


class _Listener:
    """A TCP listener on 127.0.0.1 (an ephemeral `port`) handing each connection to
    `_accepted` on its own thread; `close` closes it and every socket kept in `conns`."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


class SilentServer(_Listener):
    """Accepts TCP connections on 127.0.0.1 and never answers: a backend that hangs."""

    def _accepted(self, conn: socket.socket) -> None:
        self.conns.append(conn)


class TriggerProxy(_Listener):
    """A TCP proxy on 127.0.0.1 to `upstream` that reads what clients send: the first time
    `pattern` matches a connection's bytes (URL-decoded: an HTTP query string may carry the
    SQL), `on_match` runs BEFORE those bytes are forwarded, so the request reaches a server the
    hook has just stopped (SIGSTOP), as if it had stopped mid-statement. Every match's first
    group is kept in `matches`, in order: what reached the server."""

    WATCHED = 1 << 20  # a connection's first bytes only (requests, not bulk inserts)

    def __init__(
        self, upstream: tuple[str, int], pattern: re.Pattern[str], on_match: Callable[[], None]
    ) -> None:
        self.upstream = upstream
        self.pattern = pattern
        self.on_match = on_match
        self.matches: list[str] = []
        self._fired = False
        self._lock = threading.Lock()
        super().__init__()

    def _accepted(self, conn: socket.socket) -> None:
        try:
            up = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            conn.close()
            return
        up.settimeout(None)
        self.conns += [conn, up]
        threading.Thread(target=self._pump, args=(conn, up, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(up, conn, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        seen, counted = b"", 0
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if watch and len(seen) < self.WATCHED:
                seen += data
                found = self.pattern.findall(unquote_plus(seen.decode("latin-1")))
                if len(found) > counted:
                    self._matched(found[counted:])
                    counted = len(found)
            try:
                dst.sendall(data)
            except OSError:
                return

    def _matched(self, found: list[str]) -> None:
        with self._lock:
            self.matches.extend(found)
            first, self._fired = not self._fired, True
        if first:
            self.on_match()
