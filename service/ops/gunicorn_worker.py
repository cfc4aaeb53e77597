"""gunicorn's gthread worker, but a thread is given a request only once the whole of it is in.

gthread hands a connection to a thread as soon as its first byte arrives; the thread then
reads the rest with blocking calls and no deadline, so a client that trickles half a request
line, a header or a body holds that thread for as long as it likes, and workers x threads
such clients stop the service. Here the worker's event loop reads each request (head, and a
body up to BODY_BUFFER) without blocking, while it arrives; only a complete request goes to
the thread pool, already read. A request not complete READ_TIMEOUT seconds after its first
wait began is answered 408 and closed. The rest is gthread's own.
"""

from __future__ import annotations

import re
import selectors
import socket
import struct
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

# Seconds a client has to send a whole request (head and body), from its connection or from
# the end of its previous request on a kept-alive one.
READ_TIMEOUT = 10.0
# Request bodies are at most 64 KiB (MAX_CONTENT_LENGTH); a larger one is dispatched once its
# head is in, and the app refuses it (413) without reading it.
BODY_BUFFER = 64 * 1024
# How much of a head is kept before dispatching anyway (gunicorn then answers 414/431).
HEAD_BUFFER = 4094 + 50 * 8190 + 1024
RECV = 65536
_CONTENT_LENGTH = re.compile(rb"\r?\ncontent-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?\n", re.I)
_CHUNKED = re.compile(rb"\r?\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.I)
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def complete(data: bytes | bytearray) -> bool:
    """True when data holds a whole request: its head, and its body up to BODY_BUFFER."""
    end = data.find(b"\r\n\r\n")
    size = 4
    if end < 0:
        end, size = data.find(b"\n\n"), 2
    if end < 0:
        return len(data) > HEAD_BUFFER  # gunicorn refuses it: let a thread say so
    head, body = bytes(data[: end + 2]), len(data) - end - size
    if _CHUNKED.search(head):
        return body > BODY_BUFFER or data.endswith(b"0\r\n\r\n")
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        return True
    wanted = int(length.group(1))
    return wanted > BODY_BUFFER or body >= wanted


class BufferedThreadWorker(ThreadWorker):
    """ThreadWorker that reads each request in its event loop before a thread takes it."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reading: deque[Any] = deque()  # connections sending a request, oldest first

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection and start reading its first request."""
        if self.cfg.is_ssl:  # bytes before the TLS handshake mean nothing: gthread's way
            super().accept(listener)
            return
        try:
            client, address = listener.accept()
        except OSError:
            return  # another worker took it, or the client left
        self.nr_conns += 1
        # A thread's own reads and writes (a pipelined leftover, a slow reader of the answer)
        # are bounded too: blocking calls fail after READ_TIMEOUT instead of waiting forever.
        limit = struct.pack("ll", int(READ_TIMEOUT), 0)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        conn = TConn(self.cfg, client, address, listener.getsockname())
        self._start_reading(conn)

    def on_client_socket_readable(self, conn: Any, client: socket.socket) -> None:
        """A kept-alive connection's next request begins: read it here as well."""
        if self.cfg.is_ssl:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)

    def murder_pending(self) -> None:
        """gthread's pending connections, and requests not complete within READ_TIMEOUT."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading and self.reading[0].read_deadline <= now:
            conn = self.reading.popleft()
            self._forget(conn)
            try:
                conn.sock.send(_TIMEOUT)
            except OSError:
                pass
            self.nr_conns -= 1
            conn.close()

    def handle(self, conn: Any) -> Any:
        """Serve a request read in full: the parser finds it in its buffer."""
        buffered = getattr(conn, "buffered", None)
        if buffered:
            conn.buffered = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(buffered))
        return super().handle(conn)

    # -- internals ---------------------------------------------------------------------------

    def _start_reading(self, conn: Any) -> None:
        conn.sock.setblocking(False)
        conn.buffered = bytearray()
        conn.read_deadline = time.monotonic() + READ_TIMEOUT
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_data, conn))

    def _on_data(self, conn: Any, client: socket.socket) -> None:
        try:
            chunk = client.recv(RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client left before its request was whole
            self._forget(conn)
            self.reading.remove(conn)
            self.nr_conns -= 1
            conn.close()
            return
        conn.buffered += chunk
        if complete(conn.buffered):
            self._forget(conn)
            self.reading.remove(conn)
            conn.data_ready = True  # gthread's own wait for a first byte is skipped
            self.enqueue_req(conn)

    def _forget(self, conn: Any) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
