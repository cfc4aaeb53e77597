"""WorkOS events applied to sessions, and the Events API poller
(docs/workos.md#events-webhooks-and-the-events-api).

    session.revoked                      every session made from that WorkOS session ends,
                                         and its AuthKit access tokens are refused here
    user.deleted                         every session of that user ends
    organization_membership.deleted      the organization leaves that user's sessions: their
    organization_membership.updated      cached tokens are never served again and the next
      (status not active)                mint asks WorkOS (403 not_a_member when it is gone)
    organization.deleted                 the same for every session listing the organization

Each event id is marked in the value store (values.py) once it has been applied (at least
once: a redelivery of an event whose applier died is applied again); other types are ignored.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping

from service.sessions.lifecycle import Sessions
from service.sessions.organizations import forget
from service.sessions.revoked import RevokedSessions
from service.sessions.values import ValueStore
from service.workos.client import WorkOSClient, WorkOSError

log = logging.getLogger(__name__)

HANDLED = (
    "session.revoked",
    "user.deleted",
    "organization_membership.deleted",
    "organization_membership.updated",
    "organization.deleted",
)
# Which fields of `data` each type needs.
_NEEDS = {
    "session.revoked": ("id",),
    "user.deleted": ("id",),
    "organization_membership.deleted": ("user_id", "organization_id"),
    "organization_membership.updated": ("user_id", "organization_id"),
    "organization.deleted": ("id",),
}
CURSOR = "events-cursor"
CURSOR_SECONDS = 30 * 86400
PAGE = 100
MAX_PAGES = 20


class NotAnEvent(ValueError):
    """A body that is not a WorkOS event envelope."""


def parse_event(body: object) -> dict:
    """The event envelope {id, event, data, ...}, checked; NotAnEvent otherwise."""
    if not isinstance(body, Mapping):
        raise NotAnEvent("the body is not a JSON object")
    event_id, kind, data = body.get("id"), body.get("event"), body.get("data")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 200:
        raise NotAnEvent("id must be a non-empty string")
    if not isinstance(kind, str) or not 0 < len(kind) <= 200:
        raise NotAnEvent("event must be a non-empty string")
    if not isinstance(data, Mapping):
        raise NotAnEvent("data must be an object")
    for name in _NEEDS.get(kind, ()):
        if not isinstance(data.get(name), str) or not data[name]:
            raise NotAnEvent(f"data.{name} must be a non-empty string for {kind}")
    return dict(body)


class EventApplier:
    """Applies events to sessions, each event id once."""

    def __init__(
        self, sessions: Sessions, values: ValueStore, revoked: RevokedSessions | None = None
    ):
        self._sessions = sessions
        self._values = values  # the event ids applied
        self._revoked = revoked  # AUTHKIT_BEARER: revoked sids refuse their access tokens

    def apply(self, event: dict) -> str:
        """Apply a parsed event: "applied", "duplicate" or "ignored"."""
        kind, data = event["event"], event["data"]
        if kind not in HANDLED:
            return "ignored"
        if kind == "organization_membership.updated" and data.get("status") == "active":
            return "ignored"
        if self._values.event_applied(event["id"]):
            return "duplicate"
        # Applied first, marked after: a process that dies (SIGKILL, OOM) in between leaves
        # the event unmarked, so the redelivery or the next poll applies it again. Applying
        # twice is harmless (ending or narrowing a session again finds nothing left to do);
        # two deliveries at once may both apply it.
        count = self._apply(kind, data)
        self._values.claim_event(event["id"])
        log.info(
            "workos event applied",
            extra={"event": kind, "event_id": event["id"], "sessions": count},
        )
        return "applied"

    def _apply(self, kind: str, data: Mapping) -> int:
        if kind == "session.revoked":
            if self._revoked is not None:
                self._revoked.revoke(data["id"])
            return self._sessions.end_where(sid=data["id"])
        if kind == "user.deleted":
            return self._sessions.end_where(user_id=data["id"])
        if kind == "organization.deleted":
            # Their kept lists name it: a switch must not take it from there.
            for user_id in {
                r.user_id for r in self._sessions.store.find(organization_id=data["id"])
            }:
                forget(self._values, user_id)
            return self._sessions.narrow(data["id"])
        forget(self._values, data["user_id"])  # the next switch lists again
        return self._sessions.narrow(data["organization_id"], user_id=data["user_id"])


class EventsPoller:
    """Reads the Events API every `interval` seconds; one poller holds the lease at a time."""

    def __init__(
        self,
        client: WorkOSClient,
        applier: EventApplier,
        values: ValueStore,
        interval: float,
    ):
        self._client = client
        self._applier = applier
        self._values = values  # the cursor and the lease
        self._interval = interval
        self._owner = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Poll in a daemon thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="workos-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for a poll under way)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def poll_once(self) -> int:
        """One poll if this process holds the lease: how many events were applied."""
        if not self._values.lease("events-poller", self._owner, max(3 * self._interval, 10)):
            return 0
        cursor = self._values.get_value(CURSOR)
        if cursor is None:
            # First start: begin at the newest event (no replay of history); "" = none yet.
            newest = self._client.list_events(events=HANDLED, limit=1, order="desc")
            first = newest[0].get("id", "") if newest else ""
            self._values.set_value(CURSOR, first, CURSOR_SECONDS)
            return 0
        applied = 0
        for _ in range(MAX_PAGES):
            page = self._client.list_events(events=HANDLED, after=cursor or None, limit=PAGE)
            for body in page:
                try:
                    event = parse_event(body)
                except NotAnEvent as exc:
                    log.warning("events poll: skipped an entry that is not an event: %s", exc)
                    continue
                applied += self._applier.apply(event) == "applied"
                cursor = event["id"]
                self._values.set_value(CURSOR, cursor, CURSOR_SECONDS)
            if len(page) < PAGE:
                break
        return applied

    def _run(self) -> None:
        while True:
            try:
                self.poll_once()
            except WorkOSError as exc:
                log.warning("events poll failed: %s", exc)
            except Exception:
                log.exception("events poll failed")
            if self._stop.wait(self._interval):
                return
