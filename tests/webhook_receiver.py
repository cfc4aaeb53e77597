"""A real HTTP receiver for webhook deliveries, and the WorkOS signature check tests use."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from tests.support import ThreadedServer


@dataclass
class Delivery:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self) -> dict:
        return json.loads(self.body)


def verify(secret: str, header: str, body: bytes) -> int:
    """Check a `WorkOS-Signature` as the SDK does; the timestamp (ms) it carries."""
    parts = dict(part.split("=", 1) for part in header.split(", "))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest()), "signature does not verify"
    return int(parts["t"])


class Receiver:
    """Records every POST on 127.0.0.1; answers the queued statuses first, then 200."""

    def __init__(self):
        self.received: list[Delivery] = []
        self.statuses: deque[int] = deque()
        self.delay = 0.0  # seconds to sleep before answering
        self._cond = threading.Condition()
        self._server = ThreadedServer(self._app).start()
        self.base_url = self._server.url
        self.url = self.base_url + "/webhooks/workos"

    def _app(self, environ, start_response):
        request = Request(environ)
        delivery = Delivery(dict(request.headers), request.get_data(), time.monotonic())
        if self.delay:
            time.sleep(self.delay)
        with self._cond:
            status = self.statuses.popleft() if self.statuses else 200
            self.received.append(delivery)
            self._cond.notify_all()
        return Response("ok", status)(environ, start_response)

    def wait_for(self, count: int, timeout: float = 10) -> list[Delivery]:
        """The first count deliveries, waiting for them to arrive."""
        with self._cond:
            arrived = self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"{len(self.received)} of {count} deliveries arrived in {timeout}s"
            return list(self.received)

    def events(self, count: int) -> list[dict]:
        """The bodies of the first count deliveries."""
        return [d.json() for d in self.wait_for(count)]

    def stop(self) -> None:
        self._server.stop()
