"""AuthKit sign-in (state + PKCE), organization selection, sign-out, and flask-login wiring."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, login_user, logout_user
from jwt import PyJWTError
from jwt import decode as jwt_decode

from service.errors import ApiError, upstream_error_for
from service.security import csrf_ok, csrf_token, require_csrf, safe_next
from service.workos import (
    OrganizationSelectionRequired,
    WorkOSClient,
    WorkOSError,
    WorkOSStatusError,
)

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
login_manager = LoginManager()

FLOW_MAX_AGE = 600  # seconds a sign-in flow (state, PKCE verifier) stays usable
MAX_FLOWS = 5  # pending flows kept per browser: several tabs may sign in at once


class User(UserMixin):
    """The signed-in user, rebuilt from the session on every request."""

    def __init__(self, data: dict):
        self.id = data["id"]
        self.email = data.get("email", "")
        self.first_name = data.get("first_name") or ""
        self.last_name = data.get("last_name") or ""

    @property
    def display_name(self) -> str:
        """First and last name, or the email when there is none."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    data = session.get("user")
    session_id = session.get("session_id")
    if not data or data.get("id") != user_id or not session_id:
        return None
    # The sign-in time bounds a sign-in (SESSION_LIFETIME_SECONDS), not the cookie's age.
    if time.time() - session.get("signed_in_at", 0) >= _lifetime():
        return None
    # The cookie is client-side: a copy kept from before sign-out still has a good signature.
    if current_app.extensions["tokens"].session_ended(session_id):
        return None
    return User(data)


def _lifetime() -> float:
    return current_app.permanent_session_lifetime.total_seconds()


@login_manager.unauthorized_handler
def _unauthorized():
    raise ApiError(401, "unauthenticated", "Sign in first.")


def init_auth(app) -> None:
    """Wire flask-login and the sign-in blueprint into app."""
    login_manager.init_app(app)
    # flask-login's own session id is a hash of address and user agent: not a per-session id,
    # and "strong" mode would sign out users whose address changes. We keep our own session_id.
    login_manager.session_protection = None
    app.register_blueprint(bp)


def _workos() -> WorkOSClient:
    return current_app.extensions["workos"]


def _base_url() -> str:
    return current_app.extensions["settings"].app_base_url or request.host_url.rstrip("/")


def _flow_error(message: str, code: str = "sign_in_failed") -> ApiError:
    # A failed flow leaves nothing behind: no half-made session.
    session.clear()
    return ApiError(400, code, message)


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@bp.get("/login")
def login():
    """Start AuthKit: remember state and the PKCE verifier for this flow, go to WorkOS."""
    now = time.time()
    flows = {
        state: flow
        for state, flow in session.get("flows", {}).items()
        if now - flow["t"] < FLOW_MAX_AGE
    }
    # Oldest flows go first when a browser starts more than a handful.
    while len(flows) >= MAX_FLOWS:
        flows.pop(min(flows, key=lambda s: flows[s]["t"]))
    state = secrets.token_urlsafe(32)
    verifier, challenge = _pkce_pair()
    flows[state] = {"v": verifier, "n": safe_next(request.args.get("next")), "t": now}
    session["flows"] = flows
    login_hint = (request.args.get("login_hint") or "")[:320] or None
    url = _workos().authorization_url(
        redirect_uri=_base_url() + url_for("auth.callback"),
        state=state,
        code_challenge=challenge,
        login_hint=login_hint,
    )
    return redirect(url, 302)


@bp.get("/callback")
def callback():
    """Finish AuthKit: check state once, exchange the code, start a fresh session."""
    state = request.args.get("state", "")
    flows = session.get("flows", {})
    flow = flows.pop(state, None) if state else None
    session["flows"] = flows
    if request.args.get("error"):
        reason = request.args.get("error_description") or request.args["error"]
        raise _flow_error(f"WorkOS could not sign you in: {reason[:200]}")
    if flow is None:
        raise _flow_error("This sign-in link is unknown or was already used. Please sign in again.")
    if time.time() - flow["t"] >= FLOW_MAX_AGE:
        raise _flow_error("This sign-in took too long. Please sign in again.")
    code = request.args.get("code", "")
    if not code:
        raise _flow_error("WorkOS sent no authorization code. Please sign in again.")
    try:
        result = _workos().authenticate_with_code(
            code=code,
            code_verifier=flow["v"],
            ip_address=request.remote_addr,
            user_agent=request.user_agent.string[:512] or None,
        )
        return _sign_in(result, flow["n"])
    except OrganizationSelectionRequired as exc:
        return _start_selection(exc, flow["n"])
    except WorkOSError as exc:
        raise _auth_failure(exc) from None


def _auth_failure(exc: WorkOSError) -> ApiError:
    session.clear()
    if isinstance(exc, WorkOSStatusError) and exc.status in (400, 404, 422):
        return ApiError(400, "sign_in_failed", "WorkOS rejected this sign-in. Please try again.")
    return upstream_error_for(exc)


def _start_selection(exc: OrganizationSelectionRequired, next_path: str):
    """WorkOS wants an organization picked: keep its pending token sealed in the session."""
    session.clear()
    organizations = [
        {"id": o["id"], "name": o.get("name") or o["id"]}
        for o in exc.organizations
        if isinstance(o, dict) and o.get("id")
    ]
    session["pending"] = {
        "token": current_app.extensions["sealer"].seal(exc.pending_authentication_token),
        "organizations": organizations,
        "email": (exc.user or {}).get("email", ""),
        "n": next_path,
        "t": time.time(),
    }
    return redirect(url_for("auth.choose_organization"), 302)


@bp.get("/login/organization")
def choose_organization():
    """The organization picker, while a selection is pending."""
    pending = _pending()
    if pending is None:
        raise ApiError(400, "no_selection_pending", "There is no organization to choose now.")
    return render_template(
        "organization.html",
        organizations=pending["organizations"],
        email=pending.get("email", ""),
        csrf_token=csrf_token(),
    )


@bp.post("/login/organization")
def finish_organization():
    """Finish sign-in with the chosen organization."""
    pending = _pending()
    if pending is None:
        raise ApiError(400, "no_selection_pending", "There is no organization to choose now.")
    if not csrf_ok(allow_header=False):
        raise ApiError(400, "csrf_required", "The form expired. Please choose again.")
    organization_id = request.form.get("organization_id", "")
    if organization_id not in {o["id"] for o in pending["organizations"]}:
        raise ApiError(400, "invalid_request", "Choose one of the organizations offered.")
    if pending.get("local"):
        # Signed in already, with several memberships and no organization picked by WorkOS.
        session.pop("pending")
        session["organization"] = next(
            o for o in pending["organizations"] if o["id"] == organization_id
        )
        return redirect(pending["n"], 302)
    token = current_app.extensions["sealer"].unseal(pending["token"], max_age=FLOW_MAX_AGE)
    if token is None:
        raise _flow_error("The organization choice expired. Please sign in again.")
    try:
        result = _workos().authenticate_with_organization_selection(
            pending_authentication_token=token, organization_id=organization_id
        )
        return _sign_in(result, pending["n"])
    except WorkOSError as exc:
        raise _auth_failure(exc) from None


def _pending() -> dict | None:
    pending = session.get("pending")
    if not pending or time.time() - pending.get("t", 0) >= FLOW_MAX_AGE:
        return None
    return pending


def _sign_in(result: dict, next_path: str):
    """Start a fresh session for the authenticated user and look up their organization."""
    user = result["user"]
    organizations = organizations_of(_workos(), user["id"])
    picked = result.get("organization_id")
    current = next((o for o in organizations if o["id"] == picked), None)
    if picked and current is None:
        current = {"id": picked, "name": _workos().get_organization(picked).get("name", picked)}
        organizations.append(current)
    elif not picked and len(organizations) == 1:
        current = organizations[0]

    # No fixation: whatever the browser held before is dropped, and the id is new. Flows other
    # tabs started are kept, so their callbacks still finish.
    other_flows = session.get("flows")
    session.clear()
    if other_flows:
        session["flows"] = other_flows
    session.permanent = True
    session["session_id"] = secrets.token_hex(16)
    session["sid"] = _claim(result.get("access_token"), "sid")
    session["user"] = {
        "id": user["id"],
        "email": user.get("email", ""),
        "first_name": user.get("first_name"),
        "last_name": user.get("last_name"),
    }
    session["organization"] = current
    session["organizations"] = organizations
    session["signed_in_at"] = time.time()
    login_user(User(session["user"]))
    log.info(
        "signed in",
        extra={"user_id": user["id"], "organization_id": current and current["id"]},
    )
    if current is None and len(organizations) > 1:
        session["pending"] = {
            "local": True,
            "organizations": organizations,
            "email": session["user"]["email"],
            "n": next_path,
            "t": time.time(),
        }
        return redirect(url_for("auth.choose_organization"), 302)
    return redirect(next_path, 302)


def organizations_of(client: WorkOSClient, user_id: str) -> list[dict]:
    """The user's active organizations as [{id, name}]."""
    organizations = []
    for membership in client.list_organization_memberships(user_id=user_id):
        org_id = membership.get("organization_id")
        if not org_id:
            continue
        name = membership.get("organization_name")
        if not name:
            name = client.get_organization(org_id).get("name") or org_id
        organizations.append({"id": org_id, "name": name})
    return organizations


def switch_organization_to(organization_id: str) -> dict:
    """Make the signed-in user act for organization_id, after WorkOS confirms the membership."""
    try:
        organizations = organizations_of(_workos(), session["user"]["id"])
    except WorkOSError as exc:
        raise upstream_error_for(exc) from None
    chosen = next((o for o in organizations if o["id"] == organization_id), None)
    session["organizations"] = organizations
    if chosen is None:
        raise ApiError(403, "not_a_member", "You are not an active member of that organization.")
    previous = session.get("organization")
    if previous and previous["id"] != chosen["id"]:
        current_app.extensions["tokens"].evict(session["session_id"], previous["id"])
    session["organization"] = chosen
    session.pop("pending", None)
    return chosen


def _claim(token: str | None, name: str) -> str | None:
    # The access token came straight from WorkOS over TLS in answer to our own authenticated
    # call, so it is read without verifying; it is never stored, only its session id.
    if not token:
        return None
    try:
        return jwt_decode(token, options={"verify_signature": False}).get(name)
    except PyJWTError:
        return None


@bp.post("/logout")
def logout():
    """Evict this session's tokens, clear the session, end the WorkOS session."""
    session_id = session.get("session_id")
    if session_id is None:
        session.clear()
        return redirect(url_for("pages.index"), 302)
    require_csrf(message="Sign-out needs a valid CSRF token.")
    left = session.get("signed_in_at", 0) + _lifetime() - time.time()
    current_app.extensions["tokens"].end_session(session_id, left)
    sid = session.get("sid")
    logout_user()
    session.clear()
    return_to = _base_url() + "/"
    if not sid:
        return redirect(return_to, 302)
    return redirect(_workos().logout_url(session_id=sid, return_to=return_to), 302)
