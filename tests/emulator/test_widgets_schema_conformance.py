"""The emulator's introspected schema, held against the types WorkOS publishes.

The facts are tests/data/workos_widgets_schema.json, extracted from `@workos-inc/widgets`
(the pinned version in tools/widgets_schema.py) by `python -m tools.widgets_schema`. Every
type, field, argument, enum value, union member and input field the emulator exposes must
exist there with the same type. Arguments, input fields, enum values and union members must
also be complete, so what is valid against WorkOS is valid against the emulator.
"""

from __future__ import annotations

import json

import pytest
import requests
from graphql import get_introspection_query

from devstack.stack import ROOT
from emulator.schema import SESSION_TOKEN_FIELDS
from tools import widgets_schema

DATA = ROOT / "tests" / "data" / "workos_widgets_schema.json"
BUILT_IN_SCALARS = {"ID", "String", "Boolean", "Int", "Float"}
SESSION_TOKEN_NOTE = "Requires a session token"
# What issue 14 asks the emulator to serve; the test keeps it from shrinking unnoticed.
REQUIRED = {
    "Query": {
        "me",
        "user",
        "organization",
        "organizations",
        "organizationMemberships",
        "roles",
        "sessions",
        "permissions",
        "effectivePermissions",
    },
    "Mutation": {"revokeSession", "removeMember", "updateMemberRole", "inviteUser"},
}


@pytest.fixture(scope="module")
def workos() -> dict:
    return json.loads(DATA.read_text())


@pytest.fixture
def emulated(url) -> dict:
    """The emulator's types from an introspection query over its socket: {name: type}."""
    response = requests.post(
        f"{url}/client/graphql", json={"query": get_introspection_query()}, timeout=5
    )
    body = response.json()
    assert "errors" not in body, body
    return {t["name"]: t for t in body["data"]["__schema"]["types"]}


def type_text(ref: dict) -> str:
    """An introspection type reference in GraphQL notation, e.g. `[String!]!`."""
    if ref["kind"] == "NON_NULL":
        return type_text(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return f"[{type_text(ref['ofType'])}]"
    return ref["name"]


def problems(emulated: dict, workos: dict) -> list[str]:
    """Every way the emulator's schema departs from WorkOS's published types."""
    found = []
    for name, ours in sorted(emulated.items()):
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        theirs = workos.get(name)
        if theirs is None:
            found.append(f"{name}: no such type at WorkOS")
            continue
        if ours["kind"] != theirs["kind"]:
            found.append(f"{name}: {ours['kind']} here, {theirs['kind']} at WorkOS")
            continue
        if ours["kind"] == "OBJECT":
            for field in ours["fields"]:
                where = f"{name}.{field['name']}"
                spec = theirs["fields"].get(field["name"])
                if spec is None:
                    found.append(f"{where}: no such field at WorkOS")
                    continue
                if type_text(field["type"]) != spec["type"]:
                    found.append(f"{where}: {type_text(field['type'])} here, {spec['type']}")
                args = {a["name"]: type_text(a["type"]) for a in field["args"]}
                found += _same(f"{where} arguments", args, spec.get("args", {}))
        elif ours["kind"] == "INPUT_OBJECT":
            fields = {f["name"]: type_text(f["type"]) for f in ours["inputFields"]}
            wanted = {k: v["type"] for k, v in theirs["inputFields"].items()}
            found += _same(f"{name} input fields", fields, wanted)
        elif ours["kind"] == "ENUM":
            values = sorted(v["name"] for v in ours["enumValues"])
            if values != theirs["values"]:
                found.append(f"{name}: values {values} here, {theirs['values']} at WorkOS")
        elif ours["kind"] == "UNION":
            members = sorted(t["name"] for t in ours["possibleTypes"])
            if members != theirs["possibleTypes"]:
                found.append(f"{name}: members {members}, {theirs['possibleTypes']} at WorkOS")
    return found


def _same(where: str, ours: dict, theirs: dict) -> list[str]:
    if ours == theirs:
        return []
    return [f"{where}: {json.dumps(ours, sort_keys=True)} here, {json.dumps(theirs)} at WorkOS"]


def test_data_file_is_the_pinned_package_version(workos):
    source = workos["source"]
    assert source["package"] == "@workos-inc/widgets"
    assert source["version"] == widgets_schema.VERSION
    assert len(workos["types"]) > 100  # the whole published schema, not a hand-made subset


def test_every_emulated_type_field_and_argument_matches_workos(emulated, workos):
    found = problems(emulated, workos["types"])
    assert not found, "the emulator departs from WorkOS's types:\n  " + "\n  ".join(found)


def test_the_subset_issue_14_asks_for_is_served(emulated):
    for root, fields in REQUIRED.items():
        served = {f["name"] for f in emulated[root]["fields"]}
        assert fields <= served, f"{root} lacks {sorted(fields - served)}"


def test_session_token_fields_are_the_ones_workos_marks(emulated, workos):
    marked = {
        name
        for root in ("Query", "Mutation")
        for name, spec in workos["types"][root]["fields"].items()
        if SESSION_TOKEN_NOTE in spec.get("description", "")
        and name in {f["name"] for f in emulated[root]["fields"]}
    }
    assert marked == set(SESSION_TOKEN_FIELDS)


def test_the_check_catches_a_departure(emulated, workos):
    """Canary: a changed nullability, a missing argument and a stray enum value are reported."""
    theirs = json.loads(json.dumps(workos["types"]))
    theirs["User"]["fields"]["firstName"]["type"] = "String!"
    theirs["Query"]["fields"]["organizationMemberships"]["args"]["cursor"] = "String"
    theirs["PaginationOrder"]["values"].remove("Normal")
    found = problems(emulated, theirs)
    assert any(p.startswith("User.firstName: String here, String!") for p in found)
    assert any(p.startswith("Query.organizationMemberships arguments") for p in found)
    assert any(p.startswith("PaginationOrder: values") for p in found)
    assert len(found) == 3
