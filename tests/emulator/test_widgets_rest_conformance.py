"""The emulator's Widgets REST API (`/_widgets/*`), held against the types WorkOS publishes.

The facts are tests/data/workos_widgets_rest.json, extracted from `@workos-inc/widgets` (the
pinned version in tools/widgets_rest.py) by `python -m tools.widgets_rest`. Which routes the
emulator serves is found by asking each endpoint of that file once: an unknown route answers
the emulator's generic 404 `{"message": "Not Found", "code": "not_found"}` (or its generic
405 when the path is served for another method only). Every answer of a served route is then
checked: a 2xx against the endpoint's response type, an error against the endpoint's typed
error for that status, else `{message: string}`, with no field the type does not declare.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from devstack.control_client import API_KEY, CLIENT_ID
from devstack.stack import ROOT
from emulator.__main__ import parse_args
from emulator.app import create_app
from tests.support import ThreadedServer, note_secret
from tests.widgets_rest_types import problems
from tools import widgets_rest

DATA = ROOT / "tests" / "data" / "workos_widgets_rest.json"
ORIGIN = "http://example.test"
MANAGE = "widgets:users-table:manage"
STATUS_NAMED = re.compile(r"^(\w+?)(\d{3})$")
GENERIC = {
    404: {"message": "Not Found", "code": "not_found"},
    405: {"message": "Method Not Allowed", "code": "method_not_allowed"},
}
# What the package's client reads from any error answer (widgets-api-client.js).
MESSAGE = {
    "kind": "object",
    "fields": {"message": {"type": {"kind": "string"}, "optional": False, "nullable": False}},
    "index": None,
}
# The routes issue 18 asks for: the test keeps them from going missing unnoticed.
CORE = {
    "GET UserManagement/roles-and-config",
    "GET UserManagement/roles",
    "GET UserManagement/members",
    "GET UserManagement/organizations",
    "POST UserManagement/invite-user",
    "POST UserManagement/members/{userId}",
    "DELETE UserManagement/members/{userId}",
    "DELETE UserManagement/invites/{userId}",
    "POST UserManagement/invites/{userId}/resend",
    "GET UserProfile/me",
    "POST UserProfile/me",
    "GET UserProfile/authentication-information",
    "GET UserProfile/sessions",
    "DELETE UserProfile/sessions/revoke/{sessionId}",
    "DELETE UserProfile/sessions/revoke-all",
    "POST UserProfile/send-verification",
    "POST UserProfile/verify",
    "POST UserProfile/create-password",
    "POST UserProfile/update-password",
    "GET settings",
}
MEMBER_MUTATIONS = {"InviteMember", "UpdateMember", "RemoveMember", "RevokeInvite", "ResendInvite"}
# What the widgets send with every call (widgets-api-client.js); GET included.
WIDGET_HEADERS = {
    "WorkOS-Widgets-Version": "1",
    "WorkOS-Widgets-Type": "conformance-test",
    "Content-Type": "application/json",
}
PREFLIGHT_HEADERS = (
    "authorization",
    "content-type",
    "workos-widgets-version",
    "workos-widgets-type",
    "x-elevated-access-token",
)


@pytest.fixture(scope="module")
def served():
    """The emulator as `python -m emulator --allowed-origin http://example.test` sets it up."""
    options = parse_args(["--allowed-origin", ORIGIN])
    app = create_app(allowed_origins=options.allowed_origin)
    server = ThreadedServer(app).start()
    yield app.extensions["emulator"], server.url
    server.stop()


@pytest.fixture(scope="module")
def workos() -> dict:
    return json.loads(DATA.read_text())


class Widgets:
    """Calls to `/_widgets/*` over the socket; every answer is checked against its types."""

    def __init__(self, url: str, workos: dict):
        self.url = url
        self.endpoints = workos["endpoints"]
        self.types = workos["types"]
        self.found: list[str] = []  # every departure from the types, with its JSON path

    def send(self, op, token, path=None, params=None, body=None, headers=None, typed=True):
        """The request the package's client makes for op; what it sends must fit the types."""
        spec = self.endpoints[op]
        if typed and body is not None:
            wrong = problems(body, spec["body"], self.types)
            assert not wrong, f"the test's own {op} body departs from WorkOS's type: {wrong}"
        if params is not None:
            wrong = problems(params, {"kind": "ref", "name": spec["query"]}, self.types)
            assert not wrong, f"the test's own {op} query departs from WorkOS's type: {wrong}"
        sent = dict(WIDGET_HEADERS, **(headers or {}))
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return requests.request(
            spec["method"],
            self.url + spec["path"].format(**(path or {})),
            params=params,
            json=body,
            headers=sent,
            timeout=10,
        )

    def call(self, op, token, expect=None, **kwargs) -> requests.Response:
        """send(), then check the answer; `expect` is the status it must have."""
        response = self.send(op, token, **kwargs)
        self.check(op, response)
        if expect is not None:
            assert response.status_code == expect, f"{op}: {response.status_code} {response.text}"
        return response

    def check(self, op: str, response: requests.Response) -> None:
        spec, status = self.endpoints[op], response.status_code
        where = f"{spec['method']} {urlsplit(response.url).path} -> {status}"
        try:
            body = response.json()
        except ValueError:
            self.found.append(f"{where}: not JSON: {response.text[:80]!r}")
            return
        if 200 <= status < 300:
            node = spec["response"]
            # Some answer types name their status (`CreatePassword201`): it must be that one.
            named = STATUS_NAMED.match(node.get("name", ""))
            if named and named[1] == op and named[2] != str(status):
                self.found.append(f"{where}: WorkOS answers {named[2]} ({node['name']})")
        elif str(status) in spec["errors"]:
            node = {"kind": "ref", "name": spec["errors"][str(status)]}
        else:
            node = MESSAGE
        self.found += [f"{where}: {p}" for p in problems(body, node, self.types)]

    def assert_conform(self) -> None:
        assert not self.found, "answers departing from WorkOS's types:\n  " + "\n  ".join(
            self.found
        )


@pytest.fixture
def widgets(url, workos) -> Widgets:
    return Widgets(url, workos)


def widget_token(url, user_id, organization_id=None, scopes=None) -> str:
    """A widget token from the emulator's `POST /widgets/token`."""
    body: dict = {"user_id": user_id}
    if organization_id is not None:
        body["organization_id"] = organization_id
    if scopes is not None:
        body["scopes"] = scopes
    response = requests.post(
        f"{url}/widgets/token",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    note_secret(token)
    return token


def client_token(url, user_id, organization_id) -> str:
    """A Client API token from the emulator's `POST /client/token`."""
    response = requests.post(
        f"{url}/client/token",
        json={"user_id": user_id, "organization_id": organization_id},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    note_secret(token)
    return token


def sign_in(url, email) -> str:
    """The AuthKit access token of a new session (the emulator's authorize + code exchange)."""
    authorize = requests.get(
        f"{url}/user_management/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": f"{ORIGIN}/callback",
            "response_type": "code",
            "login_hint": email,
        },
        allow_redirects=False,
        timeout=5,
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    response = requests.post(
        f"{url}/user_management/authenticate",
        json={
            "client_id": CLIENT_ID,
            "client_secret": API_KEY,
            "grant_type": "authorization_code",
            "code": code,
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    note_secret(token)
    return token


def session_of(access_token: str) -> str:
    return jwt.decode(access_token, options={"verify_signature": False})["sid"]


def totp_code(secret: str, at: float) -> str:
    """RFC 6238 (HMAC-SHA1, 30 s, 6 digits), as an authenticator app computes it."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def op_named(workos: dict, route: str) -> str:
    """`GET UserManagement/members` -> the operation of the data file with that method and path."""
    method, path = route.split(" ", 1)
    found = [
        op
        for op, spec in workos["endpoints"].items()
        if spec["method"] == method and spec["path"] == f"/_widgets/{path}"
    ]
    assert len(found) == 1, f"{route}: {found} in the data file"
    return found[0]


@pytest.fixture(scope="module")
def probed(served, workos):
    """Each endpoint asked once with alice's managing token: (served operations, Widgets)."""
    state, url = served
    state.reset()
    widgets = Widgets(url, workos)
    token = widget_token(url, "user_alice", "org_acme", [MANAGE])
    implemented = set()
    for op, spec in sorted(workos["endpoints"].items()):
        path = {name: "probe_missing" for name in spec["path_params"]}
        response = widgets.send(op, token, path=path)
        try:
            body = response.json()
        except ValueError:
            body = None
        if GENERIC.get(response.status_code) == body:
            continue
        implemented.add(op)
        widgets.check(op, response)
    state.reset()
    return implemented, widgets


# -- which routes are served ----------------------------------------------------------------


def test_data_file_is_the_pinned_package_version(workos):
    assert workos["package"] == "@workos-inc/widgets"
    assert workos["version"] == widgets_rest.VERSION
    assert len(workos["endpoints"]) == 62


def test_the_routes_issue_18_asks_for_are_served(probed, workos):
    implemented, _ = probed
    core = {op_named(workos, route) for route in CORE}
    assert core <= implemented, f"not served: {sorted(core - implemented)}"


def test_every_served_route_answers_a_first_call_as_typed(probed):
    _, widgets = probed
    widgets.assert_conform()


# -- answers of each widget's routes ----------------------------------------------------------


def test_users_management_answers(widgets, url):
    alice = widget_token(url, "user_alice", "org_acme", [MANAGE])
    widgets.call("RolesAndConfig", alice, expect=200)
    roles = widgets.call("Roles", alice, expect=200).json()
    assert {"admin", "member"} <= {role["slug"] for role in roles}
    widgets.call("Organizations", alice, expect=200)
    page = widgets.call("Members", alice, expect=200, params={"limit": "1"}).json()
    assert len(page["data"]) == 1 and page["list_metadata"]["after"], page
    after = {"limit": "1", "after": page["list_metadata"]["after"]}
    assert widgets.call("Members", alice, expect=200, params=after).json()["data"] != page["data"]
    widgets.call("Members", alice, expect=200, params={"search": "bob", "role": "member"})

    invite = {"email": "dana@acme.com", "firstName": None, "roles": ["member"]}
    assert widgets.call("InviteMember", alice, body=invite).ok
    found = widgets.call("Members", alice, expect=200, params={"search": "dana"}).json()["data"]
    assert [m["status"] for m in found] == ["Invited"], found
    dana = {"userId": found[0]["id"]}
    assert widgets.call("ResendInvite", alice, path=dana).ok
    assert widgets.call("RevokeInvite", alice, path=dana).ok
    widgets.call("InviteMember", alice, body={"email": "not-an-email", "roles": ["member"]})
    widgets.call("InviteMember", alice, body={"email": "erin@acme.com", "roles": ["no-such"]})

    bob = {"userId": "user_bob"}
    assert widgets.call("UpdateMember", alice, path=bob, body={"roles": ["admin"]}).ok
    widgets.call("UpdateMember", alice, path=bob, body={"roles": ["no-such"]})
    widgets.call("UpdateMember", alice, path={"userId": "user_nobody"}, body={"roles": ["admin"]})
    assert widgets.call("RemoveMember", alice, path=bob).ok
    widgets.call("RemoveMember", alice, path=bob)  # gone already: an error answer, typed
    widgets.call("ResendInvite", alice, path={"userId": "user_nobody"})
    widgets.call("RevokeInvite", alice, path={"userId": "user_nobody"})
    widgets.assert_conform()


def test_client_api_tokens_and_access_tokens_are_accepted(widgets, url):
    widgets.call("Members", client_token(url, "user_alice", "org_acme"), expect=200)
    widgets.call("Me", sign_in(url, "alice@acme.com"), expect=200)
    widgets.assert_conform()


def test_user_profile_answers(widgets, url, served):
    alice = widget_token(url, "user_alice", "org_acme")
    widgets.call("Me", alice, expect=200)
    updated = widgets.call("UpdateMe", alice, body={"firstName": "Alicia", "locale": "fr-FR"})
    assert updated.json()["firstName"] == "Alicia"
    widgets.call("UpdateMe", alice, body={"firstName": 7}, typed=False)
    widgets.call("AuthenticationInformation", alice, expect=200)
    widgets.call("Settings", alice, expect=200)

    # Elevated access: without it the password routes refuse, with it they work.
    widgets.call("CreatePassword", alice, body={"password": "correct horse battery"})
    elevated = {"X-Elevated-Access-Token": elevate(widgets, url, alice)}
    widgets.call("Verify", alice, body={"code": "000000", "authenticationChallengeId": "x"})
    weak = {"password": "a"}
    widgets.call("CreatePassword", alice, body=weak, headers=elevated)
    strong = {"password": "correct horse battery"}
    assert widgets.call("CreatePassword", alice, body=strong, headers=elevated).ok
    change = {"currentPassword": "correct horse battery", "newPassword": "staple battery horse"}
    assert widgets.call("UpdatePassword", alice, body=change, headers=elevated).ok
    widgets.call("UpdatePassword", alice, body=change, headers=elevated)  # current is wrong now
    widgets.assert_conform()


def elevate(widgets: Widgets, url: str, token: str) -> str:
    """send-verification, the code read at the control route, verify: the elevated token."""
    sent = widgets.call("SendVerification", token).json()
    codes = requests.get(f"{url}/_emulate/widgets/verifications", timeout=5).json()
    code = next(
        v["code"]
        for v in codes["verifications"]
        if v["authentication_challenge_id"] == sent["authenticationChallenge"]
    )
    body = {"code": code, "authenticationChallengeId": sent["authenticationChallenge"]}
    verified = widgets.call("Verify", token, body=body).json()
    note_secret(verified["elevatedAccessToken"])
    return verified["elevatedAccessToken"]


def test_user_sessions_answers(widgets, url):
    first, second, third = (sign_in(url, "alice@acme.com") for _ in range(3))
    alice = widget_token(url, "user_alice", "org_acme")
    listed = widgets.call("Sessions", alice, expect=200).json()["data"]
    assert {session_of(t) for t in (first, second, third)} <= {s["id"] for s in listed}
    widgets.call("Sessions", first, expect=200)
    assert widgets.call("RevokeSession", alice, path={"sessionId": session_of(third)}).ok
    widgets.call("RevokeSession", alice, path={"sessionId": "session_nobody"})
    keep = {"currentSessionId": session_of(first)}
    assert widgets.call("RevokeAllSessions", alice, body=keep).ok
    widgets.call("RevokeAllSessions", alice, body={}, typed=False)
    left = widgets.call("Sessions", alice, expect=200).json()["data"]
    assert [s["id"] for s in left] == [session_of(first)]
    widgets.assert_conform()


def test_user_security_and_email_change_answers(widgets, url, probed):
    """The routes beyond issue 18's list that the emulator serves, driven to success."""
    implemented, _ = probed
    alice = widget_token(url, "user_alice", "org_acme")
    elevated = {"X-Elevated-Access-Token": elevate(widgets, url, alice)}
    if {"CreateTotpFactor", "VerifyTotpFactor", "DeleteTotpFactors"} <= implemented:
        made = widgets.call("CreateTotpFactor", alice, headers=elevated).json()
        secret = made["authenticationFactor"]["totp"]["secret"]
        challenge = made["authenticationChallenge"]["id"]
        body = {"code": totp_code(secret, time.time()), "authenticationChallengeId": challenge}
        assert widgets.call("VerifyTotpFactor", alice, body=body).ok
        widgets.call("VerifyTotpFactor", alice, body={**body, "code": "x"})
        widgets.call("AuthenticationInformation", alice, expect=200)
        assert widgets.call("DeleteTotpFactors", alice, headers=elevated).ok
    if {"SendEmailChange", "VerifyEmailChange"} <= implemented:
        taken, new = {"newEmail": "bob@globex.com"}, {"newEmail": "al@acme.com"}
        widgets.call("SendEmailChange", alice, body=taken, headers=elevated)
        assert widgets.call("SendEmailChange", alice, body=new, headers=elevated).ok
        codes = requests.get(f"{url}/_emulate/widgets/verifications", timeout=5).json()
        code = next(v["code"] for v in codes["verifications"] if v["user_id"] == "user_alice")
        widgets.call("VerifyEmailChange", alice, body={"code": "000000"})
        assert widgets.call("VerifyEmailChange", alice, body={"code": code}).ok
    for op in ("RegisterPasskey", "VerifyPasskey", "DeletePasskey"):
        if op in implemented:
            widgets.call(op, alice, path={"passkeyId": "passkey_x"}, body=None)
    widgets.assert_conform()


# -- who may call what ------------------------------------------------------------------------


def test_no_garbage_or_expired_token_is_refused_with_403(widgets, url, probed, clock):
    implemented, _ = probed
    expired = widget_token(url, "user_alice", "org_acme", [MANAGE])
    clock.advance(2 * 3600)  # widget tokens live one hour at WorkOS
    for op in sorted(implemented):
        path = {name: "user_bob" for name in widgets.endpoints[op]["path_params"]}
        for token in (None, "not-a-token", expired):
            widgets.call(op, token, expect=403, path=path)
    widgets.assert_conform()


def test_a_user_only_token_reaches_user_routes_only(widgets, url, probed):
    implemented, _ = probed
    carol = widget_token(url, "user_carol")
    widgets.call("Me", carol, expect=200)
    widgets.call("Sessions", carol, expect=200)
    # OrganizationSwitcher's list is the user's own: a user-only token gets it (empty here).
    widgets.call("Organizations", carol, expect=200)
    for op in sorted(implemented - {"Organizations"}):
        if widgets.endpoints[op]["path"].startswith("/_widgets/UserManagement/"):
            path = {name: "user_bob" for name in widgets.endpoints[op]["path_params"]}
            widgets.call(op, carol, expect=403, path=path)
    widgets.assert_conform()


@pytest.mark.parametrize(
    ("user", "scopes"), [("user_alice", []), ("user_bob", [MANAGE])], ids=["unscoped", "member"]
)
def test_member_changes_need_the_manage_permission(widgets, url, user, scopes):
    token = widget_token(url, user, "org_acme", scopes)
    bodies = {"InviteMember": {"email": "fay@acme.com", "roles": ["member"]}}
    bodies["UpdateMember"] = {"roles": ["admin"]}
    for op in sorted(MEMBER_MUTATIONS):
        widgets.call(op, token, expect=403, path={"userId": "user_bob"}, body=bodies.get(op))
    widgets.assert_conform()


# -- CORS -------------------------------------------------------------------------------------


def test_preflight_of_every_served_route_allows_the_widgets_requests(url, probed, workos):
    implemented, _ = probed
    for op in sorted(implemented):
        spec = workos["endpoints"][op]
        path = spec["path"].format(**{name: "x" for name in spec["path_params"]})
        response = requests.options(
            url + path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": spec["method"],
                "Access-Control-Request-Headers": ", ".join(PREFLIGHT_HEADERS),
            },
            timeout=5,
        )
        where = f"OPTIONS {path}"
        assert 200 <= response.status_code < 300, f"{where}: {response.status_code}"
        assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN, where
        methods = _listed(response.headers.get("Access-Control-Allow-Methods"))
        assert {"get", "post", "delete"} <= methods, f"{where}: methods {methods}"
        allowed = _listed(response.headers.get("Access-Control-Allow-Headers"))
        assert set(PREFLIGHT_HEADERS) <= allowed, f"{where}: headers {allowed}"


def test_an_origin_not_allowed_gets_no_cors_grant(url):
    response = requests.options(
        f"{url}/_widgets/UserProfile/me",
        headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "GET"},
        timeout=5,
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def _listed(header: str | None) -> set[str]:
    return {part.strip().lower() for part in (header or "").split(",") if part.strip()}


# -- the check itself -------------------------------------------------------------------------


def test_the_check_catches_a_departure(url, workos):
    """Canary: a field the type lacks, a missing required field and a stray literal are named."""
    theirs = json.loads(json.dumps(workos))
    response_type = theirs["types"]["RolesAndConfigResponse"]["fields"]
    del response_type["multipleRolesEnabled"]
    response_type["teamSize"] = {"type": {"kind": "number"}, "optional": False, "nullable": False}
    theirs["types"]["MemberRole"]["fields"]["slug"]["type"] = {"kind": "literal", "value": "x"}
    widgets = Widgets(url, theirs)
    alice = widget_token(url, "user_alice", "org_acme", [MANAGE])
    widgets.call("RolesAndConfig", alice, expect=200)
    assert "$.multipleRolesEnabled: field not in the type" in " ".join(widgets.found)
    assert "$.teamSize: required field missing" in " ".join(widgets.found)
    assert any(".slug: " in p and 'expected "x"' in p for p in widgets.found)
