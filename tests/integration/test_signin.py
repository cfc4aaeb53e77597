"""AuthKit sign-in against the emulator: each seeded user, the picker, failures, sign-out."""

from urllib.parse import parse_qs, urlsplit

from service import components
from tests.seed_names import ACME, ALICE, BOB, CAROL, GLOBEX


def session_of(client) -> dict:
    with client.session_transaction() as s:
        return dict(s)


def test_login_redirects_to_authkit_with_pkce(browser, emulator):
    response = browser.start(ALICE, "/somewhere")
    url = urlsplit(response.headers["Location"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.geturl().startswith(emulator.url + "/user_management/authorize")
    assert q["client_id"] == "client_emulator"
    assert q["redirect_uri"] == "http://localhost/callback"
    assert q["response_type"] == "code" and q["provider"] == "authkit"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["login_hint"] == ALICE and len(q["state"]) >= 32


def test_alice_signs_in_with_her_one_organization(browser):
    response = browser.sign_in(ALICE, "/after")
    assert response.status_code == 302 and response.headers["Location"] == "/after"
    s = session_of(browser.client)
    record = browser.record()
    assert record.user["email"] == ALICE
    assert record.organization == {"id": ACME, "name": "Acme Corp"}
    assert len(s["session_id"]) == 32 and record.sid.startswith("session_")
    assert set(s) == {"session_id", "expires", "csrf_token", "sid"} and s["sid"] == record.sid
    page = browser.client.get("/")
    assert b'data-testid="user-email">alice@acme.com' in page.data
    assert b"Acme Corp" in page.data


def test_cookie_flags(browser):
    response = browser.sign_in(ALICE)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_bob_goes_through_the_picker(browser):
    response = browser.sign_in(BOB, "/next")
    assert response.headers["Location"] == "/login/organization"
    assert browser.record() is None  # not signed in until he picks
    page = browser.client.get("/login/organization")
    assert page.status_code == 200
    assert b"Acme Corp" in page.data and b"Globex" in page.data
    csrf = session_of(browser.client)["csrf_token"]
    response = browser.client.post(
        "/login/organization", data={"organization_id": GLOBEX, "csrf_token": csrf}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/next"
    record = browser.record()
    assert record.organization["id"] == GLOBEX
    assert {o["id"] for o in record.organizations} == {ACME, GLOBEX}
    assert "pick" not in session_of(browser.client)


def test_picker_preselects_nothing_and_asks_again_for_a_missing_choice(browser):
    """Without JavaScript, a submit with no choice comes back to the picker with a message."""
    browser.sign_in(BOB)
    page = browser.client.get("/login/organization").get_data(as_text=True)
    assert page.count('data-testid="organization-option"') == 2
    assert "checked" not in page and page.count("required") == 2
    csrf = session_of(browser.client)["csrf_token"]
    again = browser.client.post("/login/organization", data={"csrf_token": csrf})
    assert again.status_code == 400 and again.mimetype == "text/html"
    text = again.get_data(as_text=True)
    assert "Choose an organization first, then continue." in text
    assert 'data-testid="organization-option"' in text  # the choice is still open
    chosen = browser.client.post(
        "/login/organization", data={"organization_id": ACME, "csrf_token": csrf}
    )
    assert chosen.status_code == 302 and browser.record().organization["id"] == ACME


def test_picker_rejects_bad_csrf_and_foreign_orgs(browser):
    browser.sign_in(BOB)
    browser.client.get("/login/organization")
    csrf = session_of(browser.client)["csrf_token"]
    bad = browser.client.post("/login/organization", data={"organization_id": GLOBEX})
    assert bad.status_code == 400
    foreign = browser.client.post(
        "/login/organization", data={"organization_id": "org_other", "csrf_token": csrf}
    )
    assert foreign.status_code == 400
    assert browser.record() is None


def test_picker_without_pending_selection_is_400(client):
    assert client.get("/login/organization").status_code == 400


def test_carol_signs_in_with_no_organization(browser):
    browser.sign_in(CAROL)
    record = browser.record()
    assert record.user["email"] == CAROL and record.organization is None
    response = browser.token()
    assert response.status_code == 403 and response.json["error"] == "no_organization"
    page = browser.client.get("/").get_data(as_text=True)
    assert "You are not a member of any organization yet." in page
    assert "organization&#39;s WorkOS admin" in page or "organization's WorkOS admin" in page
    assert '<button type="button" data-testid="fetch-token" data-needs-organization hidden>' in page


def test_state_is_single_use(browser, emulator):
    authorize = browser.start(ALICE).headers["Location"]
    callback = emulator.authorize(authorize)
    assert browser.client.get(callback).status_code == 302
    replay = browser.client.get(callback)
    assert replay.status_code == 400
    assert browser.record() is not None  # a replayed callback ends only its own flow


def test_several_flows_at_once(browser, emulator):
    first = browser.start(ALICE).headers["Location"]
    second = browser.start(ALICE).headers["Location"]
    assert browser.client.get(emulator.authorize(first)).status_code == 302
    # The second tab's flow was started before the first finished; it still works.
    assert browser.client.get(emulator.authorize(second)).status_code == 302


def test_tampered_state_and_workos_error(browser, emulator):
    authorize = browser.start(ALICE).headers["Location"]
    callback = emulator.authorize(authorize).replace("state=", "state=x")
    assert browser.client.get(callback).status_code == 400
    error = browser.client.get("/callback?error=access_denied&error_description=nope&state=x")
    # A fixed message and WorkOS's error code; its free text is never shown.
    assert error.status_code == 400 and b"access_denied" in error.data
    assert b"nope" not in error.data
    assert "<script" not in error.get_data(as_text=True).split("</head>")[1]


def test_wrong_pkce_verifier_is_refused(browser, emulator):
    authorize = browser.start(ALICE).headers["Location"]
    callback = emulator.authorize(authorize)
    # The verifier is derived from the state under the app's key: another key, another verifier.
    components.of(browser.client.application).pkce_key = b"k" * 32
    response = browser.client.get(callback)
    assert response.status_code == 400
    assert browser.record() is None


def test_session_is_new_after_sign_in(browser):
    with browser.client.session_transaction() as s:
        s["session_id"] = "attacker-chosen"
        s["planted"] = "yes"
    browser.sign_in(ALICE)
    s = session_of(browser.client)
    assert s["session_id"] != "attacker-chosen" and "planted" not in s


def test_logout_evicts_and_ends_the_workos_session(browser, emulator, app):
    browser.sign_in(ALICE)
    assert browser.token().status_code == 200
    sid = browser.record().sid
    assert len(components.of(app).tokens) == 1
    response = browser.client.post("/logout", data={"csrf_token": browser.csrf()})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    q = parse_qs(location.query)
    assert location.path == "/user_management/sessions/logout"
    assert q["session_id"] == [sid] and q["return_to"] == ["http://localhost/?signed_out=1"]
    assert len(components.of(app).tokens) == 0
    assert browser.token().status_code == 401


def test_the_return_from_sign_out_says_so_and_differs_from_an_ended_session(client):
    """?signed_out=1 (asked for) and ?ended=1 (ended elsewhere) each have their own words."""
    signed_out = client.get("/?signed_out=1").get_data(as_text=True)
    assert 'data-testid="signed-out-confirmation"' in signed_out
    assert "You have signed out." in signed_out and "<title>Signed out" in signed_out
    assert 'data-testid="signed-out-notice"' not in signed_out
    ended = client.get("/?ended=1").get_data(as_text=True)
    assert "You were signed out. Sign in again to go on." in ended
    assert "You have signed out" not in ended
    first_visit = client.get("/").get_data(as_text=True)
    assert "signed out" not in first_visit.lower()


def test_logout_when_already_signed_out_also_confirms_it(client):
    response = client.post("/logout")
    # The same return URL WorkOS would be given: absolute, on this origin.
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/?signed_out=1"


def test_logout_needs_csrf_and_get_does_nothing(browser):
    browser.sign_in(ALICE)
    assert browser.client.post("/logout").status_code == 403
    assert browser.client.get("/logout").status_code == 405
    assert browser.token().status_code == 200


def test_a_cookie_kept_from_before_sign_out_stays_signed_out(browser, emulator):
    """A copy of the cookie taken before sign-out still has a good signature: no record."""
    browser.sign_in(ALICE)
    assert browser.token().status_code == 200
    kept = browser.client.get_cookie("gts").value
    browser.client.post("/logout", data={"csrf_token": browser.csrf()})
    browser.client.set_cookie("gts", kept)
    replayed = browser.token()
    assert replayed.status_code == 401 and replayed.json["error"] == "unauthenticated"
    assert b'data-testid="sign-in"' in browser.client.get("/").data
    assert emulator.count("POST /client/token") == 1
    browser.sign_in(ALICE)  # signing in again gives a new session that works
    assert browser.token().status_code == 200
