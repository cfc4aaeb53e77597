"""The one HTTP client of WorkOS: every call goes through ``WorkOSClient._request``.

Errors: workos_errors.py (the tree); the transport (session, retry, gate, error mapping):
workos_transport.py; answers and paths: workos_replies.py.

The module imports nothing from the rest of ``service`` and never reads ``current_app``:
the app factory passes its configuration in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from service.workos.errors import (
    OrganizationSelectionRequired,
    WorkOSError,
    WorkOSRefused,
    WorkOSResponseError,
    WorkOSStatusError,
    WorkOSTimeout,
    WorkOSTransportError,
)
from service.workos.replies import (
    Reply,
    segment,
    shape_error,
)
from service.workos.transport import Gate, WorkOSTransport

# The client and the errors it raises: callers import both from here.
__all__ = [
    "Gate",
    "OrganizationSelectionRequired",
    "WorkOSClient",
    "WorkOSError",
    "WorkOSRefused",
    "WorkOSResponseError",
    "WorkOSStatusError",
    "WorkOSTimeout",
    "WorkOSTransportError",
]

log = logging.getLogger(__name__)


_MAX_PAGES = 50  # of a membership list: more is a loop, not a user


class WorkOSClient(WorkOSTransport):
    """WorkOS User Management, Events and Client API calls (the transport: WorkOSTransport)."""

    def __repr__(self) -> str:
        return f"WorkOSClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # -- URLs the browser is sent to (no HTTP from here) --------------------------------

    def authorization_url(
        self, *, redirect_uri: str, state: str, code_challenge: str, login_hint: str | None = None
    ) -> str:
        """The hosted AuthKit sign-in URL for one PKCE flow."""
        params = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "provider": "authkit",
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self.base_url}/user_management/authorize?{urlencode(params)}"

    def logout_url(self, *, session_id: str, return_to: str) -> str:
        """The URL that ends the WorkOS session and comes back to return_to."""
        params = {"session_id": session_id, "return_to": return_to}
        return f"{self.base_url}/user_management/sessions/logout?{urlencode(params)}"

    @property
    def jwks_url(self) -> str:
        """Where WorkOS publishes the keys that sign AuthKit access tokens."""
        return f"{self.base_url}/sso/jwks/{segment(self.client_id)}"

    # -- API calls ----------------------------------------------------------------------

    def authenticate_with_code(
        self,
        *,
        code: str,
        code_verifier: str,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> dict:
        """Exchange an AuthKit authorization code (with its PKCE verifier) for the user."""
        return self._authenticate(
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            ip_address=ip_address,
            user_agent=user_agent,
        )

    def authenticate_with_organization_selection(
        self, *, pending_authentication_token: str, organization_id: str
    ) -> dict:
        """Finish a sign-in that WorkOS paused for an organization choice."""
        return self._authenticate(
            grant_type="urn:workos:oauth:grant-type:organization-selection",
            pending_authentication_token=pending_authentication_token,
            organization_id=organization_id,
        )

    def list_organization_memberships(
        self,
        *,
        user_id: str,
        statuses: Sequence[str] = ("active",),
        limit: int = 100,
        kind: str = "memberships",
    ) -> list[dict]:
        """Every membership of the user with one of the statuses, across all pages."""
        if isinstance(statuses, str):
            statuses = (statuses,)
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        params: dict[str, Any] = {"user_id": user_id, "statuses": ",".join(statuses)}
        params["limit"] = limit
        memberships: list[dict] = []
        seen: set[str] = set()
        after: str | None = None
        for _ in range(_MAX_PAGES):
            page = {**params, "after": after} if after else params
            reply = self._request(
                "GET", "/user_management/organization_memberships", params=page, kind=kind
            )
            data = reply.body.get("data")
            metadata = reply.body.get("list_metadata") or {}
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise shape_error(reply)
            if not isinstance(metadata, dict):
                raise shape_error(reply)
            memberships.extend(data)
            after = metadata.get("after")
            if not after:
                return memberships
            # A cursor seen before would page forever; so would a non-string one.
            if not isinstance(after, str) or after in seen:
                raise shape_error(reply)
            seen.add(after)
        raise WorkOSResponseError(
            f"WorkOS GET /user_management/organization_memberships had more than {_MAX_PAGES} "
            "pages",
            route="GET /user_management/organization_memberships",
        )

    def get_organization(self, organization_id: str, *, kind: str = "memberships") -> dict:
        """One organization by id."""
        reply = self._request("GET", "/organizations/{id}", organization_id, kind=kind)
        return self._object(reply)

    def get_user(self, user_id: str) -> dict:
        """One user by id."""
        reply = self._request("GET", "/user_management/users/{id}", user_id, kind="events")
        return self._object(reply)

    def create_client_token(self, *, user_id: str, organization_id: str) -> str:
        """Mint a Client API (Widgets) token for the user acting in the organization."""
        reply = self._request(
            "POST",
            "/client/token",
            json={"organization_id": organization_id, "user_id": user_id},
            kind="mint",
        )
        token = reply.body.get("token")
        if not isinstance(token, str) or not token:
            raise shape_error(reply)
        return token

    def create_widget_token(
        self, *, user_id: str, organization_id: str | None, scopes: list[str]
    ) -> str:
        """Mint a widget token for WorkOS's React widgets; no organization: a user-only one."""
        body: dict[str, Any] = {"user_id": user_id}
        if organization_id is not None:
            body["organization_id"] = organization_id
        if scopes:
            body["scopes"] = scopes
        reply = self._request("POST", "/widgets/token", json=body, kind="mint")
        token = reply.body.get("token")
        if not isinstance(token, str) or not token:
            raise shape_error(reply)
        return token

    def get_jwks(self) -> list[dict]:
        """The keys that sign AuthKit access tokens (GET /sso/jwks/{client_id})."""
        reply = self._request("GET", "/sso/jwks/{id}", self.client_id, kind="keys")
        keys = reply.body.get("keys")
        if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
            raise shape_error(reply)
        return keys

    def list_events(
        self,
        *,
        events: Sequence[str],
        after: str | None = None,
        limit: int = 100,
        order: str = "asc",
    ) -> list[dict]:
        """One page of the Events API: events of these types after the cursor `after`."""
        # The type list goes both ways: `events[]` (read by WorkOS's emulator) and `events`
        # (what the official SDK's HTTP client writes); docs/workos.md#the-events-api.
        params: dict[str, Any] = {"events[]": list(events), "events": list(events)}
        params.update(limit=limit, order=order)
        if after:
            params["after"] = after
        reply = self._request("GET", "/events", params=params, kind="events")
        data = reply.body.get("data")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise shape_error(reply)
        return data

    # -- shapes ----------------------------------------------------------------------

    def _authenticate(self, **fields: str | None) -> dict:
        body = {"client_id": self.client_id, "client_secret": self._api_key}
        body.update({k: v for k, v in fields.items() if v is not None})
        reply = self._request("POST", "/user_management/authenticate", json=body, kind="signin")
        user = reply.body.get("user")
        token = reply.body.get("access_token")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            raise shape_error(reply)
        if not isinstance(token, str) or not token:
            raise shape_error(reply)
        return reply.body

    @staticmethod
    def _object(reply: Reply) -> dict:
        if not isinstance(reply.body.get("id"), str):
            raise shape_error(reply)
        return reply.body
