"""The errors WorkOSClient raises (the message names the route and status only, never a
secret)::

    WorkOSError                          .route .status .code .request_id .retry_after
    ├── WorkOSTransportError             no answer: refused, reset, dropped mid-response, DNS
    │   └── WorkOSTimeout                connect or read timeout
    ├── WorkOSStatusError                a non-2xx answer; .message (safe text), .body
    │   └── OrganizationSelectionRequired  403 organization_selection_required
    ├── WorkOSResponseError              a 2xx answer whose body is not the expected shape
    └── WorkOSRefused                    not sent: the gate refused it (budget spent, or this
                                         kind of call paused after a WorkOS 429)
"""

from __future__ import annotations

from typing import Any


class WorkOSError(Exception):
    """Base of every WorkOS failure; carries the route and what WorkOS said, never a secret."""

    def __init__(
        self,
        summary: str,
        *,
        route: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(summary)
        self.route = route
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.args[0]!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class WorkOSTransportError(WorkOSError):
    """WorkOS could not be reached or the connection broke before a full answer."""


class WorkOSTimeout(WorkOSTransportError):
    """WorkOS did not connect or answer within the timeout."""


class WorkOSStatusError(WorkOSError):
    """WorkOS answered with a non-2xx status."""

    def __init__(
        self, summary: str, *, message: str = "", body: dict | None = None, **kwargs: Any
    ) -> None:
        super().__init__(summary, **kwargs)
        self.message = message
        self.body = body if body is not None else {}


class OrganizationSelectionRequired(WorkOSStatusError):
    """WorkOS needs the user to pick an organization to finish signing in."""

    def __init__(
        self,
        summary: str,
        *,
        pending_authentication_token: str,
        organizations: list[dict],
        user: dict,
        **kwargs: Any,
    ) -> None:
        super().__init__(summary, **kwargs)
        self.pending_authentication_token = pending_authentication_token
        self.organizations = organizations
        self.user = user


class WorkOSResponseError(WorkOSError):
    """WorkOS answered 2xx with a body that is not the expected shape."""


class WorkOSRefused(WorkOSError):
    """The call was not sent: the gate refused its kind; .retry_after says when to retry."""

    budget = False  # True: refused by our own budget (its wait may exceed a minute)
