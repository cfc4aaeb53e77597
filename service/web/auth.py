"""Who is signed in (the session record the service's cookie names), and the helpers every
route uses.

The user is loaded by the service itself, never through a flask-login LoginManager: an app
that mounts the extension may have its own, whose current_user is its own users. The routes
of the `auth` blueprint live by concern: signin.py (/login, /callback), picker.py (the
organization picker), signout.py (/logout).
"""

from __future__ import annotations

from flask import current_app, g, request, url_for
from flask.sessions import SessionMixin
from flask_login import UserMixin

from service.components import current, of
from service.sessions.lifecycle import Sessions
from service.sessions.records import SessionRecord
from service.web.context import unproxied
from service.web.cookie_session import browser_session
from service.web.errors import ApiError

# Where the request's user is kept on g, once loaded: not flask-login's g._login_user, which
# a host app's own LoginManager fills with its own users.
USER_ATTRIBUTE = "_token_service_user"


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


def signed_in_user() -> User | None:
    """The request's signed-in user, or None: loaded once per request."""
    context = unproxied(g)
    # A one-item list, so that "nobody" (None) is remembered too.
    loaded: list[User | None] | None = getattr(context, USER_ATTRIBUTE, None)
    if loaded is None:
        app = unproxied(current_app)
        loaded = [_user_of(of(app).sessions, browser_session())]
        setattr(context, USER_ATTRIBUTE, loaded)
    return loaded[0]


def require_user() -> User:
    """The signed-in user; 401 unauthenticated when nobody is."""
    user = signed_in_user()
    if user is None:
        raise ApiError(401, "unauthenticated", "Sign in first.")
    return user


def current_record() -> SessionRecord:
    """The signed-in user's session record (401 when nobody is signed in)."""
    return require_user().record


def home_url(signed_out: bool = False) -> str:
    """The page a sign-in returns to by default: the service's page, else the app's home
    (`signed_out`: the service's page then confirms a sign-out)."""
    extension = current_app.extensions["token_service"]
    if not extension.pages:
        return request.script_root + extension.home
    return url_for("pages.index", signed_out=1) if signed_out else url_for("pages.index")


def public_origin() -> str:
    """The public origin: APP_BASE_URL, else the request's (the proxy's, when trusted)."""
    return current().settings.app_base_url or request.host_url.rstrip("/")
