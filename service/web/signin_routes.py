"""The sign-in blueprint ("auth"): sign-in, the picker and sign-out, routed in one place."""

from __future__ import annotations

from flask import Blueprint

from service.web import picker, signin, signout

# Endpoint names (auth.login, auth.callback, ...) are part of the interface: url_for in the
# templates and the `route` label of the metrics.
bp = Blueprint("auth", __name__)
bp.add_url_rule("/login", view_func=signin.login, methods=["GET"])
bp.add_url_rule("/callback", view_func=signin.callback, methods=["GET"])
bp.add_url_rule("/login/organization", view_func=picker.choose_organization, methods=["GET"])
bp.add_url_rule("/login/organization", view_func=picker.finish_organization, methods=["POST"])
bp.add_url_rule("/logout", view_func=signout.logout, methods=["POST"])
