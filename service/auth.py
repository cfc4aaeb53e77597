"""flask-login wiring and the session helpers every route uses.

The routes of the `auth` blueprint live by concern: signin.py (/login, /callback),
picker.py (the organization picker), signout.py (/logout).
"""

from __future__ import annotations

from typing import NoReturn

from flask import Blueprint, Flask, Request, current_app, request, session
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    user_accessed,
    user_loaded_from_request,
)

from service.errors import ApiError
from service.session_records import SessionRecord
from service.sessions import Sessions
from service.workos import WorkOSClient

bp = Blueprint("auth", __name__)


class RecordLoginManager(LoginManager):
    """flask-login whose one source of a user is the session record (the request loader).

    The base class also checks "session protection" (a hash of address and user agent made on
    every request, ~30 us) and a remember-me cookie: features of sessions kept in the cookie,
    which server-side records replace.
    """

    def _load_user(self) -> None:
        # current_app is typed as the Flask app, but it is a proxy: the signals are sent with
        # the app itself, as flask-login's own _load_user does.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        # Sent only when something listens: this runs on every signed-in request.
        if user_accessed.receivers:
            user_accessed.send(app)
        user = self._request_callback(request)
        if user is not None and user_loaded_from_request.receivers:
            user_loaded_from_request.send(app, user=user)
        self._update_request_context_with_user(user)


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


@login_manager.request_loader
def _load_user(_request: Request) -> User | None:
    session_id = session.get("session_id")
    if not isinstance(session_id, str):
        return None
    # No record: signed out here or elsewhere, ended by a WorkOS event, or expired. A store
    # that does not answer raises (503): it never signs anyone in, nor out.
    record = sessions().get(session_id)
    if record is None:
        session.pop("session_id", None)
        session.pop("expires", None)
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
    """The signed-in user, or None; flask-login's current_user looked up once."""
    user = current_user._get_current_object()
    return user if user.is_authenticated else None


def workos() -> WorkOSClient:
    """This app's WorkOS client."""
    return current_app.extensions["workos"]


def public_origin() -> str:
    """The public origin: APP_BASE_URL, else the request's (the proxy's, when trusted)."""
    return current_app.extensions["settings"].app_base_url or request.host_url.rstrip("/")
