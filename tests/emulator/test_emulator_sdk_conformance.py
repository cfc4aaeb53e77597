"""WorkOS's official Python SDK as the emulator's judge: every answer parses in its models.

The SDK's models are generated from WorkOS's API description, and each one raises
`WorkOSError("Unexpected API response while parsing ...")` on a missing key or a bad value, so
every call below that returns is a shape WorkOS's own client accepts. The calls are those the
service makes and every emulator route the SDK has a method for (`POST /widgets/token` aside:
that route is not in the emulator yet). The emulator is served on a real port; the SDK sends
its own requests (httpx2) to it.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography import x509
from workos import BadRequestError, NotFoundError, WorkOSClient
from workos._errors import OrganizationSelectionRequiredError  # not re-exported by `workos`
from workos.events.models import EventSchemaUnknown
from workos.user_management.models import User
from workos.webhooks.models import WebhookEndpoint

from devstack.control_client import API_KEY
from tests.webhook_receiver import Receiver

CLIENT_ID = "client_emulator"
CALLBACK = "http://app.test/callback"
EMULATOR = Path(__file__).resolve().parents[2] / "emulator"
INVITE = """
mutation Invite($email: String!) {
  inviteUser(input: {email: $email, roleSlug: "member"}) { __typename }
}
"""


def emitted_types() -> set[str]:
    """Every event type the emulator's source emits, so a new one cannot go untested here."""
    pattern = re.compile(r'\.emit\(\s*"([a-z_]+\.[a-z_]+)"')
    return {m for path in EMULATOR.glob("*.py") for m in pattern.findall(path.read_text())}


@pytest.fixture
def sdk(url):
    """The official client pointed at the emulator: no retries, a short timeout."""
    client = WorkOSClient(
        api_key=API_KEY, client_id=CLIENT_ID, base_url=url, max_retries=0, request_timeout=5
    )
    yield client
    client.close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def authorize(sdk: WorkOSClient, email: str) -> tuple[str, str]:
    """Follow the SDK's PKCE authorization URL as a browser would: (code, verifier)."""
    flow = sdk.user_management.get_authorization_url_with_pkce(
        redirect_uri=CALLBACK, provider="authkit", login_hint=email
    )
    answer = requests.get(flow["url"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [flow["state"]]
    return query["code"][0], flow["code_verifier"]


def sign_in(sdk: WorkOSClient, email: str):
    """A PKCE sign-in of a user with at most one organization: the AuthenticateResponse."""
    code, verifier = authorize(sdk, email)
    return sdk.user_management.authenticate_with_code_pkce(code=code, code_verifier=verifier)


def verified_claims(sdk: WorkOSClient, token: str) -> dict:
    """The token's claims, verified with the key of the SDK's JWKS answer."""
    (key,) = sdk.user_management.get_jwks(CLIENT_ID).keys
    return jwt.decode(token, jwt.PyJWK(key.to_dict()).key, algorithms=["RS256"])


# sign-in, tokens and keys


def test_pkce_sign_in_refresh_and_logout(sdk, url):
    alice = sign_in(sdk, "alice@acme.com")
    assert (alice.user.id, alice.organization_id) == ("user_alice", "org_acme")
    claims = verified_claims(sdk, alice.access_token)
    assert (claims["sub"], claims["org_id"], claims["role"]) == ("user_alice", "org_acme", "admin")
    again = sdk.user_management.authenticate_with_refresh_token(refresh_token=alice.refresh_token)
    assert again.refresh_token != alice.refresh_token
    logout = sdk.user_management.get_logout_url(session_id=claims["sid"], return_to=CALLBACK)
    answer = requests.get(logout, allow_redirects=False, timeout=5)
    assert (answer.status_code, answer.headers["Location"]) == (302, CALLBACK)
    (session,) = sdk.user_management.list_sessions("user_alice").data
    assert (session.id, session.status) == (claims["sid"], "revoked")


def test_organization_selection_and_switching_by_refresh(sdk):
    code, verifier = authorize(sdk, "bob@globex.com")
    with pytest.raises(OrganizationSelectionRequiredError) as raised:
        sdk.user_management.authenticate_with_code_pkce(code=code, code_verifier=verifier)
    pending = raised.value
    assert User.from_dict(pending.user).id == "user_bob"  # the SDK leaves it a dict
    assert {o["id"] for o in pending.organizations or []} == {"org_acme", "org_globex"}
    chosen = sdk.user_management.authenticate_with_organization_selection(
        pending_authentication_token=pending.pending_authentication_token,
        organization_id="org_globex",
    )
    assert chosen.organization_id == "org_globex"
    switched = sdk.user_management.authenticate_with_refresh_token(
        refresh_token=chosen.refresh_token, organization_id="org_acme"
    )
    assert verified_claims(sdk, switched.access_token)["org_id"] == "org_acme"


def test_client_token_and_jwks(sdk):
    token = sdk.client_api.create_token(organization_id="org_acme", user_id="user_alice").token
    claims = verified_claims(sdk, token)
    assert (claims["sub"], claims["org_id"]) == ("user_alice", "org_acme")
    jwks = sdk.user_management.get_jwks(CLIENT_ID)
    # The certificate in x5c carries the same key: a client that reads x5c verifies too.
    cert = x509.load_der_x509_certificate(base64.b64decode(jwks.keys[0].x_5_c[0]))
    jwt.decode(token, cert.public_key(), algorithms=["RS256"])
    # The URL the SDK builds (for PyJWKClient) serves that same document.
    assert requests.get(sdk.user_management.get_jwks_url(), timeout=5).json() == jwks.to_dict()


def test_widget_tokens_with_and_without_an_organization(sdk):
    scoped = sdk.widgets.create_token(
        organization_id="org_acme", user_id="user_alice", scopes=["widgets:users-table:manage"]
    )
    claims = verified_claims(sdk, scoped.token)
    assert (claims["org_id"], claims["permissions"]) == ("org_acme", ["widgets:users-table:manage"])
    user_only = verified_claims(sdk, sdk.widgets.create_token(user_id="user_carol").token)
    assert user_only["sub"] == "user_carol" and "org_id" not in user_only
    with pytest.raises(BadRequestError):
        sdk.widgets.create_token(user_id="user_alice", scopes=["widgets:users-table:manage"])


# directory


def test_memberships_paged_one_at_a_time(sdk):
    memberships = sdk.organization_membership
    first = memberships.list_organization_memberships(user_id="user_bob", limit=1)
    assert len(first.data) == 1 and first.has_more()
    bob = list(first.auto_paging_iter())
    assert sorted(m.organization_id for m in bob) == ["org_acme", "org_globex"]
    acme = memberships.list_organization_memberships(
        organization_id="org_acme", statuses=["active"], limit=1, order="asc"
    )
    assert [m.user_id for m in acme.auto_paging_iter()] == ["user_alice", "user_bob"]


def test_membership_status_changes_and_deletions(sdk):
    memberships = sdk.organization_membership
    (om,) = [
        m
        for m in memberships.list_organization_memberships(user_id="user_bob").data
        if m.organization_id == "org_acme"
    ]
    assert memberships.deactivate_organization_membership(om.id).status == "inactive"
    assert memberships.reactivate_organization_membership(om.id).status == "active"
    memberships.delete_organization_membership(om.id)
    sdk.user_management.delete_user("user_carol")
    with pytest.raises(NotFoundError):
        sdk.user_management.get_user("user_carol")
    sdk.organizations.delete_organization("org_globex")
    with pytest.raises(NotFoundError):
        sdk.organizations.get_organization("org_globex")


def test_organization_and_user(sdk):
    acme = sdk.organizations.get_organization("org_acme")
    assert (acme.id, acme.name) == ("org_acme", "Acme Corp")
    alice = sdk.user_management.get_user("user_alice")
    assert (alice.id, alice.email) == ("user_alice", "alice@acme.com")


def test_sessions_listed_and_revoked(sdk):
    sid = verified_claims(sdk, sign_in(sdk, "alice@acme.com").access_token)["sid"]
    (listed,) = sdk.user_management.list_sessions("user_alice").data
    assert (listed.id, listed.status) == (sid, "active")
    sdk.user_management.revoke_session(session_id=sid)
    (listed,) = sdk.user_management.list_sessions("user_alice").data
    assert listed.status == "revoked"


# webhook endpoints and events


def test_webhook_endpoints_create_list_get_delete(sdk):
    hooks = sdk.webhooks
    created = hooks.create_webhook_endpoint(endpoint_url="http://127.0.0.1:9/hook", events=[])
    assert created.secret.startswith("whsec_") and created.status == "enabled"
    assert [e.to_dict() for e in hooks.list_webhook_endpoints().data] == [created.to_dict()]
    # The SDK has no method for one endpoint; its request() parses the answer in the model.
    path = ("webhook_endpoints", created.id)
    one = sdk.request(method="get", path=path, model=WebhookEndpoint)
    assert one.to_dict() == created.to_dict()
    hooks.delete_webhook_endpoint(created.id)
    with pytest.raises(NotFoundError):
        sdk.request(method="get", path=path, model=WebhookEndpoint)
    assert hooks.list_webhook_endpoints().data == []


def test_every_event_type_delivered_verified_and_listed(sdk, url, receiver):
    endpoint = sdk.webhooks.create_webhook_endpoint(endpoint_url=receiver.url, events=[])
    fire_every_event_type(sdk, url)
    listed = sdk.events.list_events(events=sorted(emitted_types()), order="asc", limit=1)
    events = list(listed.auto_paging_iter())
    assert not [e for e in events if isinstance(e, EventSchemaUnknown)]
    assert {e.event for e in events} == emitted_types()
    deliveries = receiver.wait_for(len(events))
    verified = [
        sdk.webhooks.verify_event(
            event_body=d.body,
            event_signature=d.headers["Workos-Signature"],
            secret=endpoint.secret,
        )
        for d in deliveries
    ]
    assert not [e for e in verified if isinstance(e, EventSchemaUnknown)]
    # The same events, in the same order, by webhook and by the Events API.
    assert [(e.id, e.event) for e in verified] == [(e.id, e.event) for e in events]
    assert [e.to_dict()["data"] for e in verified] == [e.to_dict()["data"] for e in events]


def fire_every_event_type(sdk: WorkOSClient, url: str) -> None:
    """One of each event the emulator emits, all through SDK calls but the invitation."""
    sid = verified_claims(sdk, sign_in(sdk, "alice@acme.com").access_token)["sid"]
    token = sdk.client_api.create_token(organization_id="org_acme", user_id="user_alice").token
    # An invitation (user.created, then a pending membership) has no REST route here.
    invited = requests.post(
        f"{url}/client/graphql",
        json={"query": INVITE, "variables": {"email": "dave@acme.com"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()
    assert invited == {"data": {"inviteUser": {"__typename": "UserInvited"}}}
    # A profile change (user.updated) through the widgets' REST API, with a widget token.
    widget = sdk.widgets.create_token(user_id="user_alice")
    me = requests.post(
        f"{url}/_widgets/UserProfile/me",
        json={"firstName": "Alicia"},
        headers={"Authorization": f"Bearer {widget.token}"},
        timeout=5,
    )
    assert me.status_code == 200, me.text
    memberships = sdk.organization_membership
    (om,) = memberships.list_organization_memberships(
        user_id="user_bob", organization_id="org_acme"
    ).data
    memberships.deactivate_organization_membership(om.id)
    memberships.reactivate_organization_membership(om.id)
    sdk.user_management.revoke_session(session_id=sid)
    memberships.delete_organization_membership(om.id)
    sdk.user_management.delete_user("user_carol")
    sdk.organizations.delete_organization("org_globex")
