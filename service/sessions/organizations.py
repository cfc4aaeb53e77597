"""A user's organizations: listed from WorkOS and kept a minute per user, sealed, in the value
store."""

from __future__ import annotations

import json

from service.core.sealing import Sealer
from service.sessions.values import ValueStore
from service.workos.client import WorkOSClient

# A switch within this long of the last listing (a sign-in's or another switch's) reuses it:
# membership lists are WorkOS calls, and a user clicking through organizations must not
# spend the deployment's budget. A membership event drops the user's list at once.
LIST_SECONDS = 60


class OrganizationLists:
    """Lists a user's active organizations from WorkOS and keeps each list LIST_SECONDS."""

    def __init__(self, client: WorkOSClient, values: ValueStore, sealer: Sealer):
        self._client = client
        self._values = values  # every host's: a list kept by one is reused by another
        self._sealer = sealer

    def listed(self, user_id: str, kind: str = "memberships") -> list[dict]:
        """The user's active organizations as [{id, name}], listed from WorkOS."""
        organizations = []
        for membership in self._client.list_organization_memberships(user_id=user_id, kind=kind):
            org_id = membership.get("organization_id")
            if not org_id:
                continue
            name = membership.get("organization_name")
            if not name:
                name = self._client.get_organization(org_id, kind=kind).get("name") or org_id
            organizations.append({"id": org_id, "name": name})
        return organizations

    def remember(self, user_id: str, organizations: list[dict]) -> None:
        """Keep the user's list for LIST_SECONDS."""
        sealed = self._sealer.seal(json.dumps(organizations))
        self._values.set_value(_name(user_id), sealed, LIST_SECONDS)

    def remembered(self, user_id: str) -> list[dict] | None:
        """The user's kept list, or None when none is kept (or it no longer opens)."""
        sealed = self._values.get_value(_name(user_id))
        opened = self._sealer.unseal(sealed) if sealed else None
        return None if opened is None else json.loads(opened)

    def forget(self, user_id: str) -> None:
        """Drop the user's kept list (a membership of theirs changed)."""
        forget(self._values, user_id)


def forget(values: ValueStore, user_id: str) -> None:
    """Drop the user's kept list from `values`; the event applier needs no WorkOS client."""
    values.pop_value(_name(user_id))


def find(organizations: list[dict] | None, organization_id: str) -> dict | None:
    """The organization of that id in a [{id, name}] list, or None."""
    return next((o for o in organizations or () if o["id"] == organization_id), None)


def _name(user_id: str) -> str:
    return "organizations:" + user_id
