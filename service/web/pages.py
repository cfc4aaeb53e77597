"""HTML pages: the sign-in page, and the app page for a signed-in user."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service.components import current
from service.web.auth import require_user, signed_in_user
from service.web.csrf import csrf_token, require_csrf
from service.web.errors import ApiError
from service.web.switch import switch_organization_to

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """The app page when signed in, the sign-in page otherwise."""
    user = signed_in_user()
    if user is None:
        # ?ended=1: the page's token client learnt that the session ended (a sign-out
        # elsewhere, or WorkOS revoked it). ?signed_out=1: WorkOS's logout sent the browser
        # back after this user asked to sign out.
        return render_template(
            "token_service/signin.html",
            ended=request.args.get("ended") == "1",
            signed_out=request.args.get("signed_out") == "1",
        )
    settings = current().settings
    return render_template(
        "token_service/app.html",
        user=user,
        organization=user.record.organization,
        organizations=user.record.organizations,
        graphql_url=settings.workos_graphql_url,
        token_margin_seconds=settings.token_refresh_margin_seconds,
        csrf_token=csrf_token(),
        widgets_example_url=settings.widgets_example_url,
    )


@bp.post("/organization")
def switch_organization() -> ResponseReturnValue:
    """The organization switcher without JavaScript: a form post, then back to the page."""
    user = require_user()
    require_csrf(header=False, message="The form expired. Please reload the page.")
    organization_id = request.form.get("organization_id", "")
    if not 0 < len(organization_id) <= 200:
        raise ApiError(400, "invalid_request", "Choose an organization.")
    switch_organization_to(user.record, organization_id)
    return redirect(url_for("pages.index"), 303)
