"""Sign-in: GET /login (state + PKCE) and GET /callback (the code exchange, a new record)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import time

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from service.components import current
from service.core.claims import unverified_claims
from service.web.auth import home_url, public_origin
from service.web.cookie_session import browser_session
from service.web.errors import ApiError, upstream_error_for
from service.web.redirects import safe_next
from service.workos.client import OrganizationSelectionRequired, WorkOSError, WorkOSStatusError

log = logging.getLogger(__name__)

FLOW_MAX_AGE = 600  # seconds a sign-in flow (state, PKCE verifier) stays usable
MAX_FLOWS = 5  # pending flows kept per browser: several tabs may sign in at once
MAX_NEXT = 400  # longest `next` kept in a flow; longer ones return to /
FLOWS_BUDGET = 600  # bytes of JSON the flows may take, so the cookie stays under 1 KB
ERROR_CODE = re.compile(r"[a-z0-9_.-]{1,64}")
FLOW_PREFIX = "flow:"  # a state issued by /login and not used yet, in the value store


def _verifier(state: str) -> str:
    # Derived from the state under a server key: the cookie need not carry it, and nobody
    # without SECRET_KEY can compute it from a state seen in a URL.
    digest = hmac.new(current().pkce_key, state.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def login() -> ResponseReturnValue:
    """Start AuthKit: remember this flow's state in the cookie, go to WorkOS."""
    limit_signin()
    now = time.time()
    flows = {
        state: flow
        for state, flow in browser_session().get("flows", {}).items()
        if isinstance(flow, list) and len(flow) == 2 and now - flow[1] < FLOW_MAX_AGE
    }
    # `next` is a path on this origin, prefix included; the default is this service's page
    # (mounted in another app: that app's home).
    home = home_url()
    next_path = safe_next(request.args.get("next"), home)
    if len(next_path) > MAX_NEXT:
        next_path = home
    # Oldest flows go first when a browser starts more than a handful, or long ones crowd it.
    while flows and (
        len(flows) >= MAX_FLOWS or len(json.dumps(flows)) + len(next_path) > FLOWS_BUDGET
    ):
        flows.pop(min(flows, key=lambda s: flows[s][1]))
    state = secrets.token_urlsafe(24)
    flows[state] = [next_path, int(now)]
    # Issued here, kept server-side: a callback must name a state the store still holds, once
    # (a replayed pre-callback cookie still lists it in `flows`).
    current().values.set_value(FLOW_PREFIX + state, "1", FLOW_MAX_AGE)
    browser_session()["flows"] = flows
    login_hint = (request.args.get("login_hint") or "")[:320] or None
    url = current().workos.authorization_url(
        redirect_uri=public_origin() + url_for("auth.callback"),
        state=state,
        code_challenge=_challenge(_verifier(state)),
        login_hint=login_hint,
    )
    return redirect(url, 302)


def callback() -> ResponseReturnValue:
    """Finish AuthKit: check state once, exchange the code, start a fresh session.

    A failure ends only this flow: the browser's session and its other flows stay, so a
    forged callback from another site cannot sign anybody out.
    """
    limit_signin()  # before the flow is taken: a refused callback can be retried as is
    state = request.args.get("state", "")
    cookie = browser_session()
    flows = dict(cookie.get("flows", {}))
    flow = flows.pop(state, None) if state else None
    if flow is not None:
        if flows:
            cookie["flows"] = flows
        else:
            cookie.pop("flows")
    error = request.args.get("error")
    # Single use, whatever the cookie says (a replayed copy still lists the state): taken
    # from the store before WorkOS is asked. Only a state the cookie holds is looked up, so
    # a bogus callback costs the store nothing.
    issued = flow is not None and current().values.pop_value(FLOW_PREFIX + state) is not None
    if error:
        code = error if ERROR_CODE.fullmatch(error) else "unknown"
        raise ApiError(400, "sign_in_failed", f"WorkOS could not sign you in ({code}).")
    if flow is None or not issued:
        raise ApiError(
            400,
            "sign_in_failed",
            "This sign-in link is unknown or was already used. Please sign in again.",
        )
    next_path, started = flow
    if time.time() - started >= FLOW_MAX_AGE:
        raise ApiError(400, "sign_in_failed", "This sign-in took too long. Please sign in again.")
    code = request.args.get("code", "")
    if not code:
        raise ApiError(400, "sign_in_failed", "WorkOS sent no authorization code.")
    try:
        result = current().workos.authenticate_with_code(
            code=code,
            code_verifier=_verifier(state),
            ip_address=request.remote_addr,
            user_agent=request.user_agent.string[:512] or None,
        )
        return sign_in(result, next_path)
    except OrganizationSelectionRequired as exc:
        return _start_selection(exc, next_path)
    except WorkOSError as exc:
        raise auth_failure(exc) from None


def limit_signin() -> None:
    """SIGNIN_RATE_LIMIT per client: an IPv4 address or an IPv6 /64 (the forwarded address
    behind trusted proxies)."""
    current().limits.signin.check(f"addr:{client_key(request.remote_addr)}")


def client_key(address: str | None) -> str:
    """The client a limit counts: an IPv4 address, or the /64 of an IPv6 one (one host or
    subscriber is given a whole /64, so counting single addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def auth_failure(exc: WorkOSError) -> ApiError:
    if isinstance(exc, WorkOSStatusError) and exc.status in (400, 404, 422):
        return ApiError(400, "sign_in_failed", "WorkOS rejected this sign-in. Please try again.")
    return upstream_error_for(exc)


def _end_browser_session() -> None:
    """Signing in again in a browser, as anyone, ends the session it had; only the flows
    other tabs started stay in the cookie (nothing planted before sign-in survives it)."""
    cookie = browser_session()
    session_id = cookie.get("session_id")
    if isinstance(session_id, str):
        current().sessions.end(session_id)
    flows = cookie.get("flows")
    cookie.clear()
    if flows:
        cookie["flows"] = flows


def _start_selection(exc: OrganizationSelectionRequired, next_path: str) -> WerkzeugResponse:
    """WorkOS wants an organization picked: keep the choice, sealed, in the value store."""
    _end_browser_session()
    organizations = [
        {"id": o["id"], "name": o.get("name") or o["id"]}
        for o in exc.organizations
        if isinstance(o, dict) and o.get("id")
    ]
    pending = {
        "token": exc.pending_authentication_token,
        "organizations": organizations,
        "email": (exc.user or {}).get("email", ""),
        "n": next_path,
    }
    pick = secrets.token_urlsafe(16)
    sealed = current().pending_sealer.seal(json.dumps(pending))
    current().values.set_value("pick:" + pick, sealed, FLOW_MAX_AGE)
    browser_session()["pick"] = pick
    return redirect(url_for("auth.choose_organization"), 302)


def sign_in(result: dict, next_path: str) -> WerkzeugResponse:
    """Start a fresh session record for the authenticated user and their organization."""
    user = result["user"]
    # Part of signing in: these calls may spend the budget's sign-in reserve.
    parts = current()
    lists = parts.organizations
    organizations = lists.listed(user["id"], kind="signin")
    picked = result.get("organization_id")
    acting = next((o for o in organizations if o["id"] == picked), None)
    if picked and acting is None:
        named = parts.workos.get_organization(picked, kind="signin").get("name", picked)
        acting = {"id": picked, "name": named}
        organizations.append(acting)
    elif not picked and len(organizations) == 1:
        acting = organizations[0]
    lists.remember(user["id"], organizations)  # a switch in the next minute need not list again
    choose = acting is None and len(organizations) > 1

    # No fixation: the browser's previous session ends and the new id is random. Flows other
    # tabs started stay, so their callbacks still finish.
    _end_browser_session()
    record = parts.sessions.start(
        user={
            "id": user["id"],
            "email": user.get("email", ""),
            "first_name": user.get("first_name"),
            "last_name": user.get("last_name"),
        },
        # Read without verifying (claims.py): it came from WorkOS in answer to our own call.
        sid=_sid(result.get("access_token")),
        organization=acting,
        organizations=organizations,
        picking=next_path if choose else None,
    )
    cookie = browser_session()
    cookie["session_id"] = record.id
    cookie["expires"] = int(record.expires_at) + 1
    cookie["csrf_token"] = secrets.token_urlsafe(32)
    if record.sid:
        # The WorkOS session's id (the `sid` of every token this browser gets): a sign-out
        # while the store is down still ends it through the logout URL.
        cookie["sid"] = record.sid
    log.info(
        "signed in",
        extra={"user_id": user["id"], "organization_id": acting and acting["id"]},
    )
    if choose:
        return redirect(url_for("auth.choose_organization"), 302)
    return redirect(next_path, 302)


def _sid(access_token: str | None) -> str | None:
    """The WorkOS session id (`sid` claim) of an AuthKit access token; only it is kept."""
    sid = unverified_claims(access_token).get("sid")
    return sid if isinstance(sid, str) and sid else None
