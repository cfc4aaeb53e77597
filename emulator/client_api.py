"""Client API: `POST /client/token` for the backend, `POST /client/graphql` for browsers.

The GraphQL side is split by concern: emulator/schema.py (the SDL), emulator/graphql_auth.py
(tokens, permissions, error codes), emulator/resolvers.py (queries and mutations).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from flask import Blueprint, jsonify, request
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)

from emulator.api import bearer, error, get_state, issuer, require_api_key
from emulator.basics import new_id
from emulator.graphql_auth import UNAUTHORIZED, caller_from_token
from emulator.resolvers import Root
from emulator.schema import SCHEMA
from emulator.state import EmulatorState

bp = Blueprint("client_api", __name__)

CORS_MAX_AGE = "600"
# What the browser may send: WorkOS's widgets add their version and type to every request.
CORS_HEADERS = "Authorization, Content-Type, WorkOS-Widgets-Version, WorkOS-Widgets-Type"


@bp.post("/client/token")
@require_api_key
def create_token():
    """Mint a short-lived RS256 token for one user acting in one organization."""
    state = get_state()
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    org_id, user_id = body.get("organization_id"), body.get("user_id")
    missing = [
        name
        for name, value in (("organization_id", org_id), ("user_id", user_id))
        if not isinstance(value, str) or not value
    ]
    if missing:
        return error(400, message=f"{' and '.join(missing)} must be a non-empty string.")
    with state.lock:
        if org_id not in state.organizations:
            return error(404, message=f"Organization not found: '{org_id}'")
        if user_id not in state.users:
            return error(404, message=f"User not found: '{user_id}'")
        membership = state.active_membership(user_id, org_id)
        if membership is None:
            return error(
                422, message=f"User '{user_id}' is not an active member of organization '{org_id}'."
            )
        now = state.now()
        claims = {
            "iss": issuer(),
            "sub": user_id,
            "org_id": org_id,
            "sid": new_id("session"),
            "jti": secrets.token_hex(16),
            "iat": now,
            "exp": now + state.settings.client_token_ttl,
            # WorkOS's widgets read this claim to decide what to offer (use-permissions.js).
            "permissions": list(state.roles.get(membership.role, [])),
        }
    return jsonify(token=state.signing_key.sign(claims)), 201


@bp.route("/client/graphql", methods=["POST", "OPTIONS"])
def graphql():
    """Run a GraphQL query for the token's user; failures are HTTP 200 with `errors`."""
    if request.method == "OPTIONS":
        return ("", 204) if _origin_allowed() else ("", 403)
    return jsonify(_run(get_state(), request.get_json(silent=True)))


@bp.after_request
def cors(response):
    """CORS for the GraphQL endpoint: only configured origins may read its answers."""
    if request.endpoint != "client_api.graphql":
        return response
    response.vary.add("Origin")
    if _origin_allowed():
        response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response


def _origin_allowed() -> bool:
    origin = request.headers.get("Origin")
    allowed = get_state().settings.allowed_origins
    return bool(origin) and (origin in allowed or "*" in allowed)


def _run(state: EmulatorState, body: object) -> Mapping[str, object]:
    """Parse, validate, authorize, execute: the whole GraphQL request."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _failure("The request body must be JSON with a 'query' string.")
    variables, operation_name = body.get("variables"), body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return _failure("'variables' must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        return _failure("'operationName' must be a string.")
    try:
        document = parse(body["query"])
    except GraphQLError as exc:
        return {"data": None, "errors": [exc.formatted]}
    errors = validate(SCHEMA, document)
    if errors:
        return {"data": None, "errors": [e.formatted for e in errors]}
    operation = get_operation_ast(document, operation_name)
    fields = _top_level_fields(document, operation) if operation else []
    caller = caller_from_token(state, bearer())
    # Introspection needs no token, so GraphQL tooling can read the schema.
    if caller is None and not all(name.startswith("__") for _, name in fields):
        first = next((key for key, name in fields if not name.startswith("__")), None)
        refusal = {
            "message": UNAUTHORIZED,
            "path": [first],
            "extensions": {"code": "UNAUTHENTICATED"},
        }
        return {"data": None, "errors": [refusal]}
    result = execute_sync(
        SCHEMA,
        document,
        # Without a caller only introspection runs, which reads no root value.
        root_value=Root(state, caller) if caller is not None else None,
        variable_values=variables,
        operation_name=operation_name,
    )
    return result.formatted


def _failure(message: str) -> dict:
    return {"data": None, "errors": [{"message": message}]}


def _top_level_fields(
    document: DocumentNode, operation: OperationDefinitionNode
) -> list[tuple[str, str]]:
    """(response key, field name) of the operation's top-level fields, through fragments."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields: list[tuple[str, str]] = []

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields.append(((selection.alias or selection.name).value, selection.name.value))
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                walk(fragments[selection.name.value].selection_set)

    walk(operation.selection_set)
    return fields
