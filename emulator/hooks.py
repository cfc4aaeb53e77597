"""Error hooks: scripted answers, delays and dropped connections for matching requests.

Compatible with the official workos/emulate hooks (`method`, `path`, `status`, `body`,
`count`; `path` exact, `*`, or a `/prefix/*` glob), plus `delay_ms`, `headers` and `drop`.
"""

from __future__ import annotations

import fnmatch
import secrets
from dataclasses import asdict, dataclass, field

# Same default bodies as the official emulator, so clients see identical shapes.
DEFAULT_BODIES: dict[int | None, dict[str, str]] = {
    400: {"message": "Bad Request", "code": "bad_request"},
    401: {"message": "Unauthorized", "code": "unauthorized"},
    403: {"message": "Forbidden", "code": "forbidden"},
    404: {"message": "Not Found", "code": "not_found"},
    409: {"message": "Conflict", "code": "conflict"},
    422: {"message": "Unprocessable Entity", "code": "unprocessable_entity"},
    429: {"message": "Too Many Requests", "code": "rate_limit_exceeded"},
    500: {"message": "Internal Server Error", "code": "server_error"},
    502: {"message": "Bad Gateway", "code": "bad_gateway"},
    503: {"message": "Service Unavailable", "code": "service_unavailable"},
    504: {"message": "Gateway Timeout", "code": "gateway_timeout"},
}


@dataclass
class Hook:
    """One hook; `count` None fires forever, otherwise it is removed after `count` hits."""

    path: str
    method: str = "*"
    status: int | None = None
    body: object = None
    count: int | None = None
    delay_ms: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    id: str = field(default_factory=lambda: "hook_" + secrets.token_hex(6))

    def matches(self, method: str, path: str) -> bool:
        """Whether this hook applies to a request."""
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        if self.path == "*" or self.path == path:
            return True
        if self.path.endswith("/*") and path == self.path[:-2]:
            return True
        return "*" in self.path and fnmatch.fnmatchcase(path, self.path)

    def response_body(self) -> object:
        """The JSON body to answer with."""
        if self.body is not None:
            return self.body
        return DEFAULT_BODIES.get(self.status, {"message": f"Error {self.status}", "code": "error"})

    def to_json(self) -> dict:
        """The hook as shown by the control API."""
        return asdict(self)


def parse_hook(data: object) -> Hook:
    """Validate a hook definition; raises ValueError naming the bad field."""
    if not isinstance(data, dict):
        raise ValueError("hook must be a JSON object")
    unknown = set(data) - {
        "id",
        "method",
        "path",
        "status",
        "body",
        "count",
        "delay_ms",
        "headers",
        "drop",
    }
    if unknown:
        raise ValueError(f"unknown hook field(s): {sorted(unknown)}")
    path, method = data.get("path"), data.get("method") or "*"
    if not isinstance(path, str) or not path:
        raise ValueError("path is required and must be a string")
    if not isinstance(method, str):
        raise ValueError("method must be a string")
    status = data.get("status")
    if status is not None and (not _is_int(status) or not 100 <= status <= 599):
        raise ValueError("status must be an HTTP status code")
    count = data.get("count")
    if count is not None and (not _is_int(count) or count < 1):
        raise ValueError("count must be a positive integer or null")
    delay_ms = data.get("delay_ms") or 0
    if not _is_int(delay_ms) or delay_ms < 0:
        raise ValueError("delay_ms must be a non-negative integer")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) for k in headers):
        raise ValueError("headers must be an object of strings")
    drop = data.get("drop", False)
    if not isinstance(drop, bool):
        raise ValueError("drop must be a boolean")
    if status is None and not drop and not delay_ms:
        raise ValueError("status is required unless the hook has drop or delay_ms")
    hook = Hook(
        path=path,
        method=method.upper(),
        status=status,
        body=data.get("body"),
        count=count,
        delay_ms=delay_ms,
        headers={k: str(v) for k, v in headers.items()},
        drop=drop,
    )
    if isinstance(data.get("id"), str):
        hook.id = data["id"]
    return hook


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
