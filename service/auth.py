"""flask-login wiring and the session helpers every route uses.

The routes of the `auth` blueprint live by concern: signin.py (/login, /callback),
picker.py (the organization picker), signout.py (/logout).
"""

from __future__ import annotations

from typing import NoReturn

from flask import Blueprint, Flask, current_app, g, request, session
from flask.sessions import SessionMixin
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    user_accessed,
    user_loaded_from_request,
)

from service.context import unproxied
from service.errors import ApiError
from service.session_records import SessionRecord
from service.sessions import Sessions
from service.workos import WorkOSClient

bp = Blueprint("auth", __name__)


class RecordLoginManager(LoginManager):
    """flask-login whose one source of a user is the session record.

    The base class also checks "session protection" (a hash of address and user agent made on
    every request, ~30 us) and a remember-me cookie: features of sessions kept in the cookie,
    which server-side records replace. It keeps the request's user where its current_user
    reads it (g._login_user); `signed_in` reads it there without current_user's proxies.
    """

    def _load_user(self) -> None:
        app = unproxied(current_app)
        # Sent only when something listens (as flask-login does, with the app itself).
        if user_accessed.receivers:
            user_accessed.send(app)
        user = _user_of(app.extensions["sessions"], unproxied(session))
        if user is not None and user_loaded_from_request.receivers:
            user_loaded_from_request.send(app, user=user)
        unproxied(g)._login_user = user if user is not None else self.anonymous_user()

    def signed_in(self) -> User | None:
        """The request's signed-in user, or None: current_user, loaded once per request."""
        context = unproxied(g)
        user = getattr(context, "_login_user", None)
        if user is None:
            self._load_user()
            user = context._login_user
        return user if user.is_authenticated else None


login_manager = RecordLoginManager()


class User(UserMixin):
    """The signed-in user, from the session record."""

    def __init__(self, record: SessionRecord):
        self.record = record
        self.id = record.user_id

    # Read from the record when a page asks: the API routes never do.
    @property
    def email(self) -> str:
        """The user's email address."""
        return self.record.user.get("email", "")

    @property
    def first_name(self) -> str:
        """The first name, or ""."""
        return self.record.user.get("first_name") or ""

    @property
    def last_name(self) -> str:
        """The last name, or ""."""
        return self.record.user.get("last_name") or ""

    @property
    def display_name(self) -> str:
        """First and last name, or the email when there is none."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email


def _user_of(sessions: Sessions, cookie: SessionMixin) -> User | None:
    """The user of the session the cookie names, or None (the cookie then forgets it)."""
    session_id = cookie.get("session_id")
    if not isinstance(session_id, str):
        return None
    # No record: signed out here or elsewhere, ended by a WorkOS event, or expired. A store
    # that does not answer raises (503): it never signs anyone in, nor out.
    record = sessions.get(session_id)
    if record is None:
        cookie.pop("session_id", None)
        cookie.pop("expires", None)
        return None
    return User(record)


@login_manager.unauthorized_handler
def _unauthorized() -> NoReturn:
    raise ApiError(401, "unauthenticated", "Sign in first.")


def init_auth(app: Flask) -> None:
    """Wire flask-login and the sign-in blueprint into app."""
    login_manager.init_app(app)
    # flask-login's own session id is a hash of address and user agent: not a per-session id,
    # and "strong" mode would sign out users whose address changes. Records are ours.
    login_manager.session_protection = None
    from service import picker, signin, signout  # noqa: F401  (their routes join bp)

    app.register_blueprint(bp)


def sessions() -> Sessions:
    """This app's Sessions."""
    return current_app.extensions["sessions"]


def current_record() -> SessionRecord:
    """The signed-in user's session record (call behind login_required or session_route)."""
    return current_user.record


def signed_in_user() -> User | None:
    """The signed-in user, or None."""
    return login_manager.signed_in()


def workos() -> WorkOSClient:
    """This app's WorkOS client."""
    return current_app.extensions["workos"]


def public_origin() -> str:
    """The public origin: APP_BASE_URL, else the request's (the proxy's, when trusted)."""
    return current_app.extensions["settings"].app_base_url or request.host_url.rstrip("/")
