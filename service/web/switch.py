"""Switching the organization a session acts for (POST /api/organization, the picker page)."""

from __future__ import annotations

from dataclasses import replace

from service.components import current
from service.sessions.organizations import OrganizationLists, find
from service.sessions.records import SessionRecord
from service.web.errors import ApiError, upstream_error_for
from service.workos.client import WorkOSError


def switch_organization_to(record: SessionRecord, organization_id: str) -> dict:
    """Make the user of `record` act for organization_id, an active membership of theirs."""

    current().limits.switch.check(f"switch:{record.user_id}")
    lists: OrganizationLists = current().organizations
    organizations = lists.remembered(record.user_id) or []
    chosen = find(organizations, organization_id)
    if chosen is None:
        # Not in a kept list (or none kept): ask WorkOS, the membership may be new.
        try:
            organizations = lists.listed(record.user_id)
        except WorkOSError as exc:
            raise upstream_error_for(exc) from None
        lists.remember(record.user_id, organizations)
        chosen = find(organizations, organization_id)
    not_a_member = ApiError(
        403, "not_a_member", "You are not an active member of that organization."
    )
    if chosen is None:
        current().sessions.update(
            record.id, lambda r: replace(r, organizations=_since(record, r, organizations))
        )
        raise not_a_member

    def change(current: SessionRecord) -> SessionRecord:
        listed = _since(record, current, organizations)
        if find(listed, organization_id) is None:
            return current  # an event took it away while the list was read
        return replace(current, organization=chosen, organizations=listed, picking=None)

    updated = current().sessions.update(record.id, change)
    if updated is None:
        raise ApiError(401, "unauthenticated", "Sign in first.")
    if updated.gen != record.gen:
        # The kept list may predate the event as well: the next switch lists again.
        lists.forget(record.user_id)
    if updated.organization is None or updated.organization["id"] != organization_id:
        raise not_a_member
    previous = record.organization
    if previous and previous["id"] != chosen["id"]:
        # Every token the session holds is the previous organization's (its Client API
        # token and its widget tokens of any scopes), so all of them go.
        current().tokens.evict_session(record.token_session)
    return chosen


def _since(read: SessionRecord, current: SessionRecord, listed: list[dict]) -> list[dict]:
    """The organizations to store: `listed`, unless an event narrowed the session since
    `read` (its gen moved on); then only those the current record still has, since the list
    may have been read before the event and must not bring back what it removed."""
    if current.gen == read.gen:
        return listed
    kept = {o["id"] for o in current.organizations}
    return [o for o in listed if o["id"] in kept]
