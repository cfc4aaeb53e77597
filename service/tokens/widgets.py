"""Widget tokens (`POST /widgets/token`) in the token broker beside Client API tokens.

The broker keys a token by (session, user, audience). A Client API token's audience is the
organization id, as it always was (so Redis names of cached tokens do not change); a widget
token's is `widget:<organization id or empty>:<scopes, space-separated, sorted>`, which no
organization id can equal. One broker keeps both kinds, so a sign-out, an event or a switch
drops both with the session's other tokens, and single flight, the cool-down, the budget and
the metrics apply to both alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Protocol

WIDGET_PREFIX = "widget:"
# The form of WorkOS's widget scope strings, e.g. widgets:users-table:manage.
SCOPE = re.compile(r"widgets:[a-z0-9-]+:[a-z0-9-]+")


class Minter(Protocol):
    """The WorkOS calls that mint either kind (service/workos/client.py's WorkOSClient)."""

    def create_client_token(self, *, user_id: str, organization_id: str) -> str: ...

    def create_widget_token(
        self, *, user_id: str, organization_id: str | None, scopes: list[str]
    ) -> str: ...


def widget_audience(organization_id: str | None, scopes: Iterable[str]) -> str:
    """The broker's audience for a widget token (scopes in a canonical order)."""
    return f"{WIDGET_PREFIX}{organization_id or ''}:{' '.join(sorted(set(scopes)))}"


def parse_widget_audience(audience: str) -> tuple[str | None, list[str]] | None:
    """(organization id or None, scopes) of a widget audience; None for an organization id."""
    if not audience.startswith(WIDGET_PREFIX):
        return None
    organization_id, _, scopes = audience.removeprefix(WIDGET_PREFIX).partition(":")
    return organization_id or None, scopes.split()


def token_minter(client: Minter) -> Callable[[str, str], str]:
    """The broker's mint function: a widget token or a Client API token, by audience."""

    def mint(user_id: str, audience: str) -> str:
        widget = parse_widget_audience(audience)
        if widget is None:
            return client.create_client_token(user_id=user_id, organization_id=audience)
        organization_id, scopes = widget
        return client.create_widget_token(
            user_id=user_id, organization_id=organization_id, scopes=scopes
        )

    return mint
