"""The members card in headless Chromium: paging, a role change, a removal, and FORBIDDEN."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from devstack.control_client import API_KEY
from tests.browser.helpers import screenshot, sign_in_without_page
from tests.seed_names import ACME, ALICE, BOB, GLOBEX
from tests.support import note_secret

API = {"Authorization": f"Bearer {API_KEY}"}
INVITE = "mutation ($email: String!) { inviteUser(input: {email: $email}) { __typename } }"


def invite(emulator_url: str, emails: list[str]) -> None:
    """Invite users to Acme as Alice, straight through the emulator's Widgets API."""
    minted = requests.post(
        f"{emulator_url}/client/token",
        json={"organization_id": ACME, "user_id": "user_alice"},
        headers=API,
        timeout=10,
    )
    token = minted.json()["token"]
    note_secret(token)
    for email in emails:
        answer = requests.post(
            f"{emulator_url}/client/graphql",
            json={"query": INVITE, "variables": {"email": email}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert answer["data"]["inviteUser"]["__typename"] == "UserInvited", answer


def membership(emulator_url: str, user_id: str) -> list[dict]:
    """The user's Acme memberships, as the REST API lists them."""
    response = requests.get(
        f"{emulator_url}/user_management/organization_memberships",
        params={"organization_id": ACME, "user_id": user_id},
        headers=API,
        timeout=10,
    )
    return response.json()["data"]


def member_row(page, user_id: str):
    return page.locator(f'[data-testid="member-row"][data-user-id="{user_id}"]')


def test_admin_pages_through_members_changes_a_role_and_removes_a_member(
    context, stack, emulator, watch
):
    invite(stack.emulator.url, [f"invitee{n}@acme.com" for n in range(4)])  # 6 members
    sign_in_without_page(context, ALICE)
    page = context.new_page()
    page.goto("/")

    rows = page.get_by_test_id("member-row")
    expect(rows).to_have_count(5)
    expect(page.get_by_test_id("members-page")).to_have_text("Page 1")
    expect(page.get_by_test_id("members-previous")).to_be_disabled()
    expect(rows.first.get_by_test_id("member-status")).to_have_text("Invited")
    page.get_by_test_id("members-next").click()
    expect(page.get_by_test_id("members-page")).to_have_text("Page 2")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("member-email")).to_have_text(ALICE)  # oldest last
    expect(page.get_by_test_id("members-next")).to_be_disabled()
    page.get_by_test_id("members-previous").click()
    expect(rows).to_have_count(5)
    expect(page.get_by_test_id("members-page")).to_have_text("Page 1")

    bob = member_row(page, "user_bob")
    expect(bob.get_by_test_id("member-name")).to_have_text("Bob Brown")
    bob.get_by_test_id("member-role").select_option("admin")
    bob.get_by_test_id("member-save-role").click()
    status = page.get_by_test_id("members-status")
    expect(status).to_have_text("Bob Brown is now Admin.")
    expect(bob.get_by_test_id("member-role")).to_have_value("admin")
    assert [m["role"]["slug"] for m in membership(stack.emulator.url, "user_bob")] == ["admin"]
    screenshot(page, "members-admin")

    remove = bob.get_by_test_id("member-remove")
    remove.click()
    expect(remove).to_have_text("Really remove Bob Brown?")
    remove.click()
    expect(status).to_have_text("Bob Brown was removed from the organization.")
    expect(bob).to_have_count(0)
    assert membership(stack.emulator.url, "user_bob") == []
    assert not watch.graphql_errors, watch.graphql_errors


def test_member_without_the_permission_sees_forbidden_explained(context, stack, emulator, watch):
    emulator.remove_membership("user_bob", GLOBEX)  # bob signs straight in to Acme
    sign_in_without_page(context, BOB)
    page = context.new_page()
    page.goto("/")

    expect(page.get_by_test_id("member-row")).to_have_count(2)  # a member may list members
    alice = member_row(page, "user_alice")
    alice.get_by_test_id("member-remove").click()
    alice.get_by_test_id("member-remove").click()
    status = page.get_by_test_id("members-status")
    expect(status).to_have_attribute("data-code", "FORBIDDEN")
    expect(status).to_contain_text("does not allow this (FORBIDDEN)")
    expect(status).to_contain_text("widgets:users-table:manage")
    expect(alice).to_have_count(1)

    alice.get_by_test_id("member-role").select_option("member")
    alice.get_by_test_id("member-save-role").click()
    expect(alice.get_by_test_id("member-role")).to_have_value("admin")  # re-read: unchanged
    expect(status).to_have_attribute("data-code", "FORBIDDEN")
    screenshot(page, "members-forbidden")

    assert [m["role"]["slug"] for m in membership(stack.emulator.url, "user_alice")] == ["admin"]
    codes = [e["extensions"]["code"] for body in watch.graphql_errors for e in body["errors"]]
    assert codes == ["FORBIDDEN", "FORBIDDEN"]
