"""In-memory emulator state: the seeded directory, sessions, settings, hooks, the request log.

One re-entrant lock (`state.lock`) guards everything; `state.clock` (epoch seconds) is the
only time source, so tests can move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace

from emulator.basics import LOG_LIMIT, iso, new_id
from emulator.events import EventHub
from emulator.hooks import Hook, parse_hook
from emulator.keys import SigningKey
from emulator.widgets_state import WidgetsState

SEED_TIME = "2024-01-01T00:00:00.000Z"
MEMBERSHIP_STATUSES = ("active", "inactive", "pending")


@dataclass
class Settings:
    """Settings that the control API may change at runtime."""

    api_key: str
    client_id: str
    client_token_ttl: int
    latency_ms: int
    allowed_origins: tuple[str, ...]
    rate_limit: str | None = None  # per API key, e.g. "6000/minute"; None: no limit
    # WorkOS documents widget tokens (POST /widgets/token) as expiring after one hour.
    widget_token_ttl: int = 3600
    # The client's registered redirect URIs; empty: any http(s) URL is accepted (as before).
    redirect_uris: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """Settings as shown by the control API (the API key is not shown)."""
        return {
            "client_id": self.client_id,
            "client_token_ttl": self.client_token_ttl,
            "widget_token_ttl": self.widget_token_ttl,
            "latency_ms": self.latency_ms,
            "allowed_origins": list(self.allowed_origins),
            "rate_limit": self.rate_limit,
            "redirect_uris": list(self.redirect_uris),
        }


@dataclass
class Organization:
    """A WorkOS organization."""

    id: str
    name: str
    domains: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    external_id: str | None = None
    created_at: str = SEED_TIME
    updated_at: str = SEED_TIME

    def to_json(self) -> dict:
        """The WorkOS organization object."""
        return {
            "object": "organization",
            "id": self.id,
            "name": self.name,
            "domains": [
                {
                    "object": "organization_domain",
                    "id": f"org_domain_{self.id.removeprefix('org_')}_{n}",
                    "organization_id": self.id,
                    "domain": domain,
                    "state": "verified",
                    "verification_strategy": "manual",
                    "created_at": self.created_at,
                    "updated_at": self.updated_at,
                }
                for n, domain in enumerate(self.domains)
            ],
            "metadata": dict(self.metadata),
            "external_id": self.external_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class User:
    """An AuthKit user."""

    id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    email_verified: bool = True
    profile_picture_url: str | None = None
    external_id: str | None = None
    last_sign_in_at: str | None = None
    created_at: str = SEED_TIME
    updated_at: str = SEED_TIME

    def to_json(self) -> dict:
        """The WorkOS user object, with every key the Python SDK requires."""
        return {
            "object": "user",
            "id": self.id,
            "email": self.email,
            "email_verified": self.email_verified,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "profile_picture_url": self.profile_picture_url,
            "external_id": self.external_id,
            "metadata": {},
            "last_sign_in_at": self.last_sign_in_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class Membership:
    """A user's membership in an organization; `seq` orders listings like creation time."""

    id: str
    user_id: str
    organization_id: str
    role: str = "member"
    status: str = "active"
    seq: int = 0
    created_at: str = SEED_TIME
    updated_at: str = SEED_TIME


@dataclass
class Session:
    """A signed-in AuthKit session; its refresh token rotates on every use."""

    id: str
    user_id: str
    organization_id: str | None
    refresh_token: str | None = None
    status: str = "active"  # or "revoked"
    auth_method: str = "password"
    ip_address: str | None = None
    user_agent: str | None = None
    expires_at: str | None = None
    ended_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def to_json(self) -> dict:
        """The WorkOS session object (the `data` of session.created and session.revoked)."""
        return {
            "object": "session",
            "id": self.id,
            "user_id": self.user_id,
            "organization_id": self.organization_id,
            "status": self.status,
            "auth_method": self.auth_method,
            "ip_address": self.ip_address,
            "user_agent": self.user_agent,
            "expires_at": self.expires_at,
            "ended_at": self.ended_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class RequestLog:
    """Recent requests (bounded) and per-route counts (exact)."""

    def __init__(self):
        self.entries: deque[dict] = deque(maxlen=LOG_LIMIT)
        self.counts: Counter[str] = Counter()

    def add(self, entry: dict) -> None:
        """Record one request; entry["route"] is its count key."""
        self.entries.append(entry)
        self.counts[entry["route"]] += 1

    def to_json(self) -> dict:
        """The log as shown by the control API."""
        return {"requests": list(self.entries), "counts": dict(self.counts)}


class EmulatorState:
    """Everything the emulator knows; mutate only while holding `lock`."""

    def __init__(self, seed: dict, settings: Settings, signing_key: SigningKey):
        self.lock = threading.RLock()
        self.signing_key = signing_key
        # Every token answered to a caller, kept across resets: test suites read it (via
        # GET /_emulate/tokens) to check that no log or error response ever carries one.
        self.issued: deque[str] = deque(maxlen=LOG_LIMIT)
        self._seed = seed
        self._initial_settings = settings
        self.reset()

    def reset(self) -> None:
        """Back to the start: seed, settings, hooks, log, grants, sessions, events, real clock."""
        with self.lock:
            if getattr(self, "events", None) is not None:
                self.events.close()  # its delivery threads stop; queued deliveries are dropped
            # Reads self.clock on each call, so a test's fake clock reaches the events too.
            self.events: EventHub = EventHub(lambda: self.clock(), self.lock)
            self.clock = time.time
            self.settings = replace(self._initial_settings)
            self.set_rate_limit(self.settings.rate_limit)
            self.roles: dict[str, list[str]] = {}
            self.organizations: dict[str, Organization] = {}
            self.users: dict[str, User] = {}
            self.memberships: dict[str, Membership] = {}
            self._seq = 0
            self.codes: dict[str, dict] = {}
            self.pending: dict[str, dict] = {}
            self.sessions: dict[str, Session] = {}
            self.refresh_tokens: dict[str, str] = {}
            self.widgets = WidgetsState()
            self.hooks: list[Hook] = []
            self.log = RequestLog()
            self._apply_seed(self._seed)

    def set_rate_limit(self, value: str | None) -> None:
        """Limit calls per API key ("N/minute"), or lift the limit (None); ValueError if bad."""
        from emulator.ratelimit import KeyLimiter, parse_rate

        rate = parse_rate(value)
        with self.lock:
            self.settings.rate_limit = value
            self.limiter = KeyLimiter(*rate) if rate else None

    def _apply_seed(self, seed: dict) -> None:
        try:
            for role in seed["roles"]:
                self.roles[role["slug"]] = list(role.get("permissions") or [])
            for org in seed["organizations"]:
                # Domains may be plain strings or official-emulator style {domain, state}.
                domains = [
                    d["domain"] if isinstance(d, dict) else d for d in org.get("domains") or []
                ]
                org = Organization(**{"id": new_id("org"), **org, "domains": domains})
                self.organizations[org.id] = org
            for user in seed["users"]:
                user = User(**{"id": new_id("user"), **user})
                self.users[user.id] = user
            for m in seed["memberships"]:
                self.add_membership(
                    m["user_id"],
                    m["organization_id"],
                    m.get("role", "member"),
                    m.get("status", "active"),
                    m.get("id"),
                    stamp=SEED_TIME,
                )
            self.hooks = [parse_hook(hook) for hook in seed["errorHooks"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"seed: {exc!r}") from exc

    def now(self) -> int:
        """Whole epoch seconds on the state's clock."""
        return int(self.clock())

    def user_by_email(self, email: str) -> User | None:
        """The user with this email (case-insensitive)."""
        email = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == email), None)

    def membership(self, user_id: str, organization_id: str) -> Membership | None:
        """The membership of a user in an organization, whatever its status."""
        return next(
            (
                m
                for m in self.memberships.values()
                if m.user_id == user_id and m.organization_id == organization_id
            ),
            None,
        )

    def active_membership(self, user_id: str, organization_id: str | None) -> Membership | None:
        """The membership if it exists and is active."""
        m = self.membership(user_id, organization_id) if organization_id else None
        return m if m is not None and m.status == "active" else None

    def active_memberships(self, user_id: str) -> list[Membership]:
        """A user's active memberships, oldest first."""
        return sorted(
            (m for m in self.memberships.values() if m.user_id == user_id and m.status == "active"),
            key=lambda m: m.seq,
        )

    def add_membership(
        self,
        user_id: str,
        organization_id: str,
        role: str = "member",
        status: str = "active",
        membership_id: str | None = None,
        stamp: str | None = None,
    ) -> Membership:
        """Create a membership, or update role and status of the existing one."""
        if user_id not in self.users:
            raise KeyError(f"User not found: '{user_id}'")
        if organization_id not in self.organizations:
            raise KeyError(f"Organization not found: '{organization_id}'")
        if status not in MEMBERSHIP_STATUSES:
            raise ValueError(f"status must be one of {list(MEMBERSHIP_STATUSES)}")
        stamp = stamp or iso(self.clock())
        existing = self.membership(user_id, organization_id)
        if existing is not None:
            existing.role, existing.status, existing.updated_at = role, status, stamp
            return existing
        self._seq += 1
        m = Membership(
            membership_id or new_id("om"),
            user_id,
            organization_id,
            role,
            status,
            self._seq,
            stamp,
            stamp,
        )
        self.memberships[m.id] = m
        return m

    def membership_json(self, m: Membership) -> dict:
        """The WorkOS organization_membership object."""
        return {
            "object": "organization_membership",
            "id": m.id,
            "user_id": m.user_id,
            "organization_id": m.organization_id,
            "organization_name": self.organizations[m.organization_id].name,
            "status": m.status,
            "directory_managed": False,
            "role": {"slug": m.role},
            "roles": [{"slug": m.role}],
            "custom_attributes": {},
            "user": self.users[m.user_id].to_json(),
            "created_at": m.created_at,
            "updated_at": m.updated_at,
        }
