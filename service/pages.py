"""HTML pages: the sign-in page, and the app page for a signed-in user."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, session
from flask_login import current_user

from service.security import csrf_token

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    """The app page when signed in, the sign-in page otherwise."""
    if not current_user.is_authenticated:
        return render_template("signin.html")
    settings = current_app.extensions["settings"]
    return render_template(
        "app.html",
        user=current_user,
        organization=session.get("organization"),
        organizations=session.get("organizations", []),
        graphql_url=settings.workos_graphql_url,
        token_margin_seconds=settings.token_refresh_margin_seconds,
        csrf_token=csrf_token(),
    )
