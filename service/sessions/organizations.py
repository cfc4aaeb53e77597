"""A user's organizations: listed from WorkOS, kept a minute per user, and the switch."""

from __future__ import annotations

import json
from dataclasses import replace

from flask import current_app

from service.sessions.records import SessionRecord, SessionStore
from service.web.errors import ApiError, upstream_error_for
from service.workos.client import WorkOSClient, WorkOSError

# A switch within this long of the last listing (a sign-in's or another switch's) reuses it:
# membership lists are WorkOS calls, and a user clicking through organizations must not
# spend the deployment's budget. A membership event drops the user's list at once.
LIST_SECONDS = 60


def organizations_of(client: WorkOSClient, user_id: str, kind: str = "memberships") -> list[dict]:
    """The user's active organizations as [{id, name}], listed from WorkOS."""
    organizations = []
    for membership in client.list_organization_memberships(user_id=user_id, kind=kind):
        org_id = membership.get("organization_id")
        if not org_id:
            continue
        name = membership.get("organization_name")
        if not name:
            name = client.get_organization(org_id, kind=kind).get("name") or org_id
        organizations.append({"id": org_id, "name": name})
    return organizations


def remember(user_id: str, organizations: list[dict]) -> None:
    """Keep the user's list for LIST_SECONDS, sealed, in the session store (every host)."""
    sealed = current_app.extensions["organization_sealer"].seal(json.dumps(organizations))
    current_app.extensions["sessions"].store.set_value(_name(user_id), sealed, LIST_SECONDS)


def forget(store: SessionStore, user_id: str) -> None:
    """Drop the user's kept list (a membership of theirs changed)."""
    store.pop_value(_name(user_id))


def _remembered(user_id: str) -> list[dict] | None:
    sealed = current_app.extensions["sessions"].store.get_value(_name(user_id))
    opened = current_app.extensions["organization_sealer"].unseal(sealed) if sealed else None
    return None if opened is None else json.loads(opened)


def _name(user_id: str) -> str:
    return "organizations:" + user_id


def switch_organization_to(record: SessionRecord, organization_id: str) -> dict:
    """Make the user of `record` act for organization_id, an active membership of theirs."""
    from service.web.auth import sessions

    current_app.extensions["switch_rate_limit"].check(f"switch:{record.user_id}")
    organizations = _remembered(record.user_id) or []
    chosen = _find(organizations, organization_id)
    if chosen is None:
        # Not in a kept list (or none kept): ask WorkOS, the membership may be new.
        try:
            organizations = organizations_of(current_app.extensions["workos"], record.user_id)
        except WorkOSError as exc:
            raise upstream_error_for(exc) from None
        remember(record.user_id, organizations)
        chosen = _find(organizations, organization_id)
    not_a_member = ApiError(
        403, "not_a_member", "You are not an active member of that organization."
    )
    if chosen is None:
        sessions().update(
            record.id, lambda r: replace(r, organizations=_since(record, r, organizations))
        )
        raise not_a_member

    def change(current: SessionRecord) -> SessionRecord:
        listed = _since(record, current, organizations)
        if _find(listed, organization_id) is None:
            return current  # an event took it away while the list was read
        return replace(current, organization=chosen, organizations=listed, picking=None)

    updated = sessions().update(record.id, change)
    if updated is None:
        raise ApiError(401, "unauthenticated", "Sign in first.")
    if updated.gen != record.gen:
        # The kept list may predate the event as well: the next switch lists again.
        forget(sessions().store, record.user_id)
    if updated.organization is None or updated.organization["id"] != organization_id:
        raise not_a_member
    previous = record.organization
    if previous and previous["id"] != chosen["id"]:
        # Every token the session holds is the previous organization's (its Client API
        # token and its widget tokens of any scopes), so all of them go.
        current_app.extensions["tokens"].evict_session(record.token_session)
    return chosen


def _since(read: SessionRecord, current: SessionRecord, listed: list[dict]) -> list[dict]:
    """The organizations to store: `listed`, unless an event narrowed the session since
    `read` (its gen moved on); then only those the current record still has, since the list
    may have been read before the event and must not bring back what it removed."""
    if current.gen == read.gen:
        return listed
    kept = {o["id"] for o in current.organizations}
    return [o for o in listed if o["id"] in kept]


def _find(organizations: list[dict] | None, organization_id: str) -> dict | None:
    return next((o for o in organizations or () if o["id"] == organization_id), None)
