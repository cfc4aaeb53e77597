"""The OpenAPI 3.1 description of the JSON API (docs/reference/http-api.md), served at
/api/openapi.json.

Held as code rather than a JSON file so that every error answer is built by one helper from
the same shape ({error, message, request_id}) with the codes of its status as an enum.
tests/integration/test_openapi.py keeps it true against live answers and fuzzes the routes.
"""

from __future__ import annotations

from functools import cache

ERROR_SCHEMA = "#/components/schemas/Error"
REQUEST_ID = {
    "description": "The caller's X-Request-ID when short and plain, otherwise a fresh id.",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
}
RETRY_AFTER = {
    "description": "Whole seconds to wait before asking again.",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
NO_STORE = {
    "description": "Answers that carry user data are never cached.",
    "required": True,
    "schema": {"type": "string", "const": "no-store"},
}
SESSION: list[dict[str, list[str]]] = [{"session": []}]
# The token routes: the session cookie, or (AUTHKIT_BEARER) an AuthKit access token.
SESSION_OR_BEARER: list[dict[str, list[str]]] = [*SESSION, {"authkit": []}]


def _headers(**extra: dict) -> dict:
    return {"X-Request-ID": REQUEST_ID, **{k.replace("_", "-"): v for k, v in extra.items()}}


def _json(schema: dict, description: str, **headers: dict) -> dict:
    return {
        "description": description,
        "headers": _headers(**headers),
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str, *codes: str, retry_after: bool = False) -> dict:
    """An error answer whose `error` is one of codes."""
    schema = {"allOf": [{"$ref": ERROR_SCHEMA}, {"properties": {"error": {"enum": list(codes)}}}]}
    extra = {"Retry_After": RETRY_AFTER} if retry_after else {}
    return _json(schema, description, Cache_Control=NO_STORE, **extra)


def _page_error(description: str, *codes: str) -> dict:
    """An error answer of a route forms use too: JSON when asked for, else the HTML page."""
    answer = _error(description, *codes)
    answer["content"]["text/html"] = {"schema": {"type": "string"}}
    return answer


UNAUTHENTICATED = _error("No signed-in session (JSON routes never redirect).", "unauthenticated")
NOT_SIGNED_IN_OR_BAD_TOKEN = _error(
    "No signed-in session (JSON routes never redirect); or, with AUTHKIT_BEARER, an access "
    "token that is malformed, expired, signed by another key, of another issuer, or of a "
    "session WorkOS revoked (invalid_token, with WWW-Authenticate: Bearer).",
    "unauthenticated",
    "invalid_token",
)
NOT_SIGNED_IN_OR_BAD_TOKEN["headers"]["WWW-Authenticate"] = {
    "description": 'Bearer error="invalid_token" on invalid_token.',
    "required": False,
    "schema": {"type": "string"},
}
UPSTREAM_BAD = _error(
    "WorkOS rejected our credentials or answered with something unexpected.",
    "upstream_error",
    "upstream_misconfigured",
)
UPSTREAM_DOWN = _error(
    "WorkOS is unavailable, slow or rate limiting us; the deployment's WorkOS request budget "
    "is spent (WORKOS_REQUEST_BUDGET; Retry-After jittered); or the session store does not "
    "answer.",
    "upstream_unavailable",
    "session_store_unavailable",
    retry_after=True,
)
STORE_DOWN = _error(
    "The session store does not answer (nobody is signed in or out on a guess).",
    "session_store_unavailable",
    retry_after=True,
)


def _session_operation(
    summary: str, ok: dict, errors: dict, bearer: bool = False, **extra: object
) -> dict:
    """An operation that reads the session cookie and needs X-CSRF: 1 (`bearer`: or takes an
    AuthKit access token instead, without X-CSRF)."""
    return {
        "summary": summary,
        "security": SESSION_OR_BEARER if bearer else SESSION,
        "parameters": [
            {"$ref": "#/components/parameters/XCSRF"},
            {"$ref": "#/components/parameters/XRequestID"},
        ],
        **extra,
        "responses": {
            "200": ok,
            "401": NOT_SIGNED_IN_OR_BAD_TOKEN if bearer else UNAUTHENTICATED,
            **errors,
        },
    }


def _plain(summary: str, ok: dict, **responses: dict) -> dict:
    return {
        "summary": summary,
        "security": [],
        "parameters": [{"$ref": "#/components/parameters/XRequestID"}],
        "responses": {"200": ok, **responses},
    }


ORGANIZATION = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
    "additionalProperties": False,
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message", "request_id"],
        "properties": {
            "error": {"type": "string", "description": "Stable machine-readable code."},
            "message": {"type": "string", "description": "Human text; may change."},
            "request_id": {"type": "string", "description": "Also sent as X-Request-ID."},
        },
        "additionalProperties": False,
    },
    "Token": {
        "type": "object",
        "required": ["token", "expires_at", "expires_in", "organization_id"],
        "properties": {
            "token": {"type": "string", "minLength": 1, "description": "WorkOS Client API token"},
            "expires_at": {
                "type": "string",
                "format": "date-time",
                "pattern": "Z$",
                "description": "When the token expires, ISO 8601 UTC.",
            },
            "expires_in": {
                "type": "integer",
                "minimum": 0,
                "description": "Whole seconds left on this host's clock.",
            },
            "organization_id": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
    },
    "WidgetToken": {
        "type": "object",
        "required": ["token", "expires_at", "expires_in", "organization_id", "scopes"],
        "properties": {
            "token": {"type": "string", "minLength": 1, "description": "WorkOS widget token"},
            "expires_at": {"type": "string", "format": "date-time", "pattern": "Z$"},
            "expires_in": {"type": "integer", "minimum": 0},
            "organization_id": {
                "type": ["string", "null"],
                "description": "null: a user-only token (the user acts for no organization).",
            },
            "scopes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The scopes asked for; WorkOS narrows them to the user's role.",
            },
        },
        "additionalProperties": False,
    },
    "Organization": ORGANIZATION,
    "Session": {
        "type": "object",
        "required": ["user", "organization", "organizations", "expires_in"],
        "properties": {
            "user": {
                "type": "object",
                "required": ["id", "email", "first_name", "last_name"],
                "properties": {
                    "id": {"type": "string"},
                    "email": {"type": "string"},
                    "first_name": {"type": ["string", "null"]},
                    "last_name": {"type": ["string", "null"]},
                },
                "additionalProperties": False,
            },
            "organization": {
                "oneOf": [{"$ref": "#/components/schemas/Organization"}, {"type": "null"}]
            },
            "organizations": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Organization"},
            },
            "expires_in": {
                "type": "integer",
                "minimum": 0,
                "description": "Seconds left of this sign-in.",
            },
            "session_id": {
                "type": ["string", "null"],
                "description": "The WorkOS session of this sign-in (UserSessions' "
                "currentSessionId).",
            },
            "logout": {
                "type": "object",
                "description": "How to sign out: POST url with X-CSRF: 1 or csrf_token.",
                "required": ["url", "method", "csrf_token"],
                "properties": {
                    "url": {"type": "string", "pattern": "^/", "description": "Prefix included."},
                    "method": {"const": "POST"},
                    "csrf_token": {"type": "string", "minLength": 1},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
    "SignedOut": {
        "type": "object",
        "required": ["logout_url"],
        "properties": {
            "logout_url": {
                "type": "string",
                "format": "uri",
                "description": "Send the browser here: WorkOS ends its session, then return_to.",
            }
        },
        "additionalProperties": False,
    },
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["ok", "degraded"]},
            "token_store": {"type": "object", "description": "With METRICS_TOKEN only."},
            "session_store": {"type": "object", "description": "With METRICS_TOKEN only."},
        },
        "additionalProperties": False,
    },
    "OrganizationChoice": {
        "type": "object",
        "required": ["organization_id"],
        "properties": {"organization_id": {"type": "string", "minLength": 1, "maxLength": 200}},
    },
    "Switched": {
        "type": "object",
        "required": ["organization_id"],
        "properties": {"organization_id": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    },
}


@cache
def openapi_document() -> dict:
    """The OpenAPI 3.1 description of the JSON API, health, readiness and metrics."""
    token = _session_operation(
        "A Client API token for the signed-in user and their current organization",
        _json(
            {"$ref": "#/components/schemas/Token"},
            "The token, served from the cache while more than the refresh margin is left.",
            Cache_Control=NO_STORE,
        ),
        {
            "403": _error(
                "Missing X-CSRF, no organization picked, or no longer a member of it.",
                "csrf_required",
                "no_organization",
                "not_a_member",
            ),
            "429": _error(
                "Too many token requests from this user (TOKEN_RATE_LIMIT).",
                "rate_limited",
                retry_after=True,
            ),
            "502": UPSTREAM_BAD,
            "503": UPSTREAM_DOWN,
        },
        bearer=True,
    )
    widget = _session_operation(
        "A widget token for WorkOS's React widgets (POST /widgets/token), with asked scopes",
        _json(
            {"$ref": "#/components/schemas/WidgetToken"},
            "The token, cached per session, organization and scopes like the Client API token.",
            Cache_Control=NO_STORE,
        ),
        {
            "400": _error("A scope that WIDGET_TOKEN_SCOPES does not offer.", "invalid_scope"),
            **{status: answer for status, answer in token["responses"].items() if status != "200"},
        },
        bearer=True,
        description=(
            "Without scopes, or for a user without an organization, a user-only token (enough "
            "for UserProfile, UserSecurity, UserSessions and OrganizationSwitcher)."
        ),
    )
    widget["parameters"].append(
        {
            "name": "scopes",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Widget scopes, comma- or space-separated "
            "(e.g. widgets:users-table:manage); none: a user-only token.",
        }
    )
    who = _session_operation(
        "Who am I: the user, their organization and the ones they may switch to",
        _json({"$ref": "#/components/schemas/Session"}, "The session.", Cache_Control=NO_STORE),
        {"403": _error("Missing X-CSRF.", "csrf_required"), "503": STORE_DOWN},
    )
    webhook = {
        "summary": "WorkOS events, verified by WorkOS-Signature (WORKOS_WEBHOOK_SECRET set)",
        "parameters": [
            {
                "name": "WorkOS-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<issued at, ms>, v1=<hex HMAC-SHA256 of '<t>.<body>'>",
            }
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"enum": ["applied", "duplicate", "ignored"]}},
                },
                "Accepted: applied, already applied (same event id), or a type not handled.",
            ),
            "400": _error("The body is not a WorkOS event.", "invalid_event"),
            "401": _error("Missing, malformed, wrong or stale signature.", "invalid_signature"),
            "404": _error("Webhooks are not enabled.", "not_found"),
            "413": _error("The body is larger than 64 KiB.", "payload_too_large"),
            "503": STORE_DOWN,
        },
    }
    switch = _session_operation(
        "Act for another organization the user is an active member of",
        _json({"$ref": "#/components/schemas/Switched"}, "Switched.", Cache_Control=NO_STORE),
        {
            "400": _error("The body is not JSON {organization_id}.", "invalid_request"),
            "403": _error(
                "Missing X-CSRF, or not an active member of that organization (asked of WorkOS).",
                "csrf_required",
                "not_a_member",
            ),
            "413": _error("The body is larger than 64 KiB.", "payload_too_large"),
            "429": _error(
                "Too many switches by this user (SWITCH_RATE_LIMIT).",
                "rate_limited",
                retry_after=True,
            ),
            "502": UPSTREAM_BAD,
            "503": UPSTREAM_DOWN,
        },
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/OrganizationChoice"}}
            },
        },
    )
    logout = {
        "summary": "Sign out: a form gets a 302 to WorkOS, Accept: application/json gets 200",
        "security": [{}, *SESSION],
        "parameters": [
            {"$ref": "#/components/parameters/XRequestID"},
            {
                "name": "return_to",
                "in": "query",
                "required": False,
                "description": "A path here or a URL on a CORS_ALLOWED_ORIGINS origin.",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": _json(
                {"$ref": "#/components/schemas/SignedOut"}, "Signed out (or was already)."
            ),
            "302": {
                "description": "The same, for a form: Location is the logout URL.",
                "headers": _headers(Location={"required": True, "schema": {"type": "string"}}),
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            "400": _page_error(
                "return_to is neither a path here nor an allowed origin's URL.", "invalid_request"
            ),
            "403": _page_error("Signed in, without X-CSRF: 1 or csrf_token.", "csrf_required"),
            "413": _page_error("The body is larger than 64 KiB.", "payload_too_large"),
        },
    }
    metrics_401 = _error("METRICS_TOKEN is set and was not sent as Bearer.", "unauthenticated")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "GraphQL token service",
            "version": "1",
            "description": (
                "Signs users in with WorkOS AuthKit and hands the browser a WorkOS Client API "
                "token for the Widgets GraphQL API. Every JSON error has the shape "
                "{error, message, request_id}. Routes that use the session need the header "
                "X-CSRF: 1: a custom header forces a CORS preflight, granted only to "
                "CORS_ALLOWED_ORIGINS. With AUTHKIT_BEARER=true the token routes also take the "
                "user's AuthKit access token as Authorization: Bearer, without cookie or X-CSRF."
            ),
        },
        "paths": {
            "/api/graphql-token": {"get": {"operationId": "getGraphqlToken", **token}},
            "/api/widget-token": {"get": {"operationId": "getWidgetToken", **widget}},
            "/api/session": {"get": {"operationId": "getSession", **who}},
            "/api/organization": {"post": {"operationId": "switchOrganization", **switch}},
            "/webhooks/workos": {"post": {"operationId": "receiveWorkosEvent", **webhook}},
            "/logout": {"post": {"operationId": "logout", **logout}},
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenapi",
                    **_plain("This description", _json({"type": "object"}, "OpenAPI 3.1")),
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    **_plain(
                        "Liveness: touches nothing outside the process",
                        _json(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"const": "ok"}},
                                "additionalProperties": False,
                            },
                            "Alive.",
                        ),
                    ),
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    **_plain(
                        "Readiness: the process serves tokens. A store that does not answer is"
                        " reported (degraded) without failing readiness; which one only to a"
                        " caller with Authorization: Bearer <METRICS_TOKEN>.",
                        _json({"$ref": "#/components/schemas/Readiness"}, "Ready."),
                    ),
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    **_plain(
                        "Prometheus text format, summed over gunicorn workers",
                        {
                            "description": "Prometheus exposition format 0.0.4.",
                            "headers": _headers(),
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **{"401": metrics_401},
                    ),
                }
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "parameters": {
                "XCSRF": {
                    "name": "X-CSRF",
                    "in": "header",
                    "required": True,
                    "description": (
                        "Must be 1; without it a session route answers 403. Not needed with "
                        "an AuthKit access token (Authorization: Bearer) on the token routes."
                    ),
                    "schema": {"type": "string", "enum": ["1"]},
                },
                "XRequestID": {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "description": (
                        "Kept and echoed when it matches ^[A-Za-z0-9._:-]{1,128}$; any other "
                        "value is replaced by a fresh id."
                    ),
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "gts",
                    "description": (
                        "The signed session cookie set by GET /callback: SESSION_COOKIE_NAME, "
                        "by default __Host-gts when Secure and host-only, gts otherwise."
                    ),
                },
                "authkit": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "The user's AuthKit access token (AUTHKIT_BEARER=true), verified "
                        "against WorkOS's JWKS for the client id; user from sub, organization "
                        "from org_id. Takes the place of the cookie and X-CSRF."
                    ),
                },
            },
        },
    }
