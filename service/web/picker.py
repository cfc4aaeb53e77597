"""The organization picker: GET/POST /login/organization, for WorkOS's choice or our own."""

from __future__ import annotations

import json
from dataclasses import replace

from flask import redirect, render_template, request
from flask.typing import ResponseReturnValue

from service.components import current
from service.web.auth import current_record, signed_in_user
from service.web.cookie_session import browser_session
from service.web.csrf import csrf_token, require_csrf
from service.web.errors import ApiError
from service.web.signin import auth_failure, limit_signin, sign_in
from service.workos.client import WorkOSError


def choose_organization() -> ResponseReturnValue:
    """The organization picker, while a selection is pending."""
    pending = _pending()
    if pending is None:
        raise ApiError(400, "no_selection_pending", "There is no organization to choose now.")
    return _picker(pending)


def _picker(pending: dict, problem: str | None = None, status: int = 200) -> tuple[str, int]:
    """The picker page, with nothing chosen; `problem` says why the last submit was refused."""
    page = render_template(
        "token_service/organization.html",
        organizations=pending["organizations"],
        email=pending.get("email", ""),
        csrf_token=csrf_token(),
        problem=problem,
    )
    return page, status


def finish_organization() -> ResponseReturnValue:
    """Finish sign-in with the chosen organization."""
    limit_signin()
    pending = _pending()
    if pending is None:
        raise ApiError(400, "no_selection_pending", "There is no organization to choose now.")
    # 400, not 403 (docs/reference/http-api.md): the picker's answer to an expired form is to
    # choose again.
    require_csrf(header=False, status=400, message="The form expired. Please choose again.")
    organization_id = request.form.get("organization_id", "")
    chosen = next((o for o in pending["organizations"] if o["id"] == organization_id), None)
    if chosen is None:
        # The picker again rather than an error page: a browser that skips the radios'
        # `required` check (or has no JavaScript-free validation) still gets a way on.
        problem = "Choose one of the organizations offered, then continue."
        if not organization_id:
            problem = "Choose an organization first, then continue."
        return _picker(pending, problem, 400)
    if pending.get("local"):
        # Signed in already, with several memberships and no organization picked by WorkOS.
        # Only while the record still lists it: an event may have removed it since.
        updated = current().sessions.update(
            current_record().id,
            lambda r: (
                replace(r, organization=chosen, picking=None) if chosen in r.organizations else r
            ),
        )
        if updated is None or updated.organization != chosen:
            raise ApiError(403, "not_a_member", "You are no longer a member of that organization.")
        return redirect(pending["n"], 302)
    pick = browser_session().pop("pick")
    sealed = current().values.pop_value("pick:" + pick)  # single use
    if sealed is None:
        raise ApiError(400, "sign_in_failed", "The organization choice expired. Sign in again.")
    try:
        result = current().workos.authenticate_with_organization_selection(
            pending_authentication_token=pending["token"], organization_id=organization_id
        )
        return sign_in(result, pending["n"])
    except WorkOSError as exc:
        raise auth_failure(exc) from None


def _pending() -> dict | None:
    pick = browser_session().get("pick")
    if isinstance(pick, str):
        sealed = current().values.get_value("pick:" + pick)
        opened = current().pending_sealer.unseal(sealed) if sealed else None
        if opened is None:
            browser_session().pop("pick")
            return None
        return json.loads(opened)
    user = signed_in_user()
    if user is None:
        return None
    record = user.record
    if record.organization is not None or record.picking is None:
        return None
    return {
        "local": True,
        "organizations": record.organizations,
        "email": user.email,
        "n": record.picking,
    }
