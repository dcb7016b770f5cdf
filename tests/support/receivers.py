"""Webhook receivers on loopback, real sockets: one that answers at once, one that trickles its
answer a byte at a time, one that holds its answer until released."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackReceiver:
    """Accepts connections on 127.0.0.1; records each request, then answers as its mode says.

    ``trickle_s``: answer one byte every ``trickle_s`` seconds (``trickle_bytes`` of them, a
    status line that never ends); ``hold``: answer 200 only once :meth:`release` is called;
    neither: answer 200 at once.
    """

    trickle_s: float = 0.0
    trickle_bytes: int = 0
    hold: bool = False
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server context
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    answered: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        self._release.set()

    def wait(self, count: int = 1, timeout_s: float = 10.0) -> list[Received]:
        """The requests received, once there are ``count`` of them (or the time is up)."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)

    def close(self) -> None:
        self._stop.set()
        self._release.set()
        self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                self._answer(conn, self._read(conn))
            except OSError:  # ssl.SSLError too: a client that refused the certificate
                return

    def _read(self, conn: socket.socket) -> Received:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed before the headers ended")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        request = Received(lines[0].split(" ")[1], headers, body)
        self.received.append(request)
        return request

    def _answer(self, conn: socket.socket, request: Received) -> None:
        if self.trickle_s:
            for _ in range(self.trickle_bytes):
                if self._stop.wait(self.trickle_s):
                    return
                conn.sendall(b"H")  # never a complete status line: only a deadline ends it
            return
        if self.hold:
            self._release.wait()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        with self._lock:
            self.answered += 1
