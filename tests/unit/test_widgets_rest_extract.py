"""tools/widgets_rest.py reads orval's client as written; widgets_rest_types checks values."""

from __future__ import annotations

import json

import pytest

from tests.widgets_rest_types import problems
from tools import widgets_rest
from tools.ts_types import ParseError, parse_type, tokenize
from tools.widgets_rest import OUT, calls, changes, declarations, endpoints

S = {"kind": "string"}
TRUE = {"kind": "literal", "value": True}


def ref(name):
    return {"kind": "ref", "name": name}


def field(node, optional=False, nullable=False):
    return {"type": node, "optional": optional, "nullable": nullable}


def obj(**fields):
    return {"kind": "object", "fields": fields, "index": None}


DTS = """
import { BodyType, ErrorType } from './widgets-api-client.js';

type Status = (typeof Status)[keyof typeof Status];
declare const Status: {
    readonly Active: "Active";
    readonly "no-invite": "NoInvite";
};
type Roles = {
    slug: string;
    /** @nullable */
    description?: string | null;
}[] | null;
interface Member {
    id: string;
    /** An ISO 8601 timestamp. */
    createdAt: string;
    status: Status;
    isLoggedInUser?: true | null;
    roles?: Roles;
    count: number;
}
interface MembersParams {
    search?: string;
    limit?: number;
}
type Factor = {
    type: "totp" | "sms";
    totp?: {
        issuer: string;
    } | {
        user: string;
    } | null;
} & {
    created_at: string;
};
type Config = {
    [key: string]: unknown;
};
interface UpdateInput {
    roles: string[];
}
type Members403 = {
    message: string;
};
type UpdateMember400 = {
    message: string;
};
/**
 * Returns the members.
 */
declare const useMembersHook: () => (params?: MembersParams, signal?: AbortSignal)
    => Promise<Member[]>;
declare const getMembersQueryKey: (params?: MembersParams)
    => readonly ["/_widgets/m", ...MembersParams[]];
type MembersQueryResult = NonNullable<Awaited<ReturnType<ReturnType<typeof useMembersHook>>>>;
type MembersQueryError = ErrorType<Members403>;
declare function useMembers<TData = Awaited<ReturnType<ReturnType<typeof useMembersHook>>>>(
    params?: MembersParams): UseQueryResult<TData> & {
    queryKey: DataTag<QueryKey, TData>;
};
declare const useUpdateMemberHook: () => (userId: string, updateInput: BodyType<UpdateInput>,
    signal?: AbortSignal) => Promise<Factor>;
type UpdateMemberMutationBody = BodyType<UpdateInput>;
type UpdateMemberMutationError = ErrorType<UpdateMember400>;
export { type Member, Status, useMembers };
"""

JS = """
const useMembersHook = () => {
  const members = useWidgetsApiClient();
  return useCallback(
    (params, signal) => {
      return members({ url: `/_widgets/m`, method: "GET", params, signal });
    },
    [members]
  );
};
const useUpdateMemberHook = () => {
  const updateMember = useWidgetsApiClient();
  return useCallback(
    (userId, updateInput, signal) => {
      return updateMember({
        url: `/_widgets/m/${userId}`,
        method: "POST",
        headers: { "Content-Type": "application/json" },
        data: updateInput,
        signal
      });
    },
    [updateMember]
  );
};
"""


@pytest.fixture(scope="module")
def sample():
    return endpoints(JS, DTS)


@pytest.fixture(scope="module")
def data():
    return json.loads(OUT.read_text())


def test_tokenizer_skips_comments_and_reads_templates():
    tokens = tokenize('/** doc */ url: `/_widgets/${id}`, // why\n "a\\"b"')
    assert [t.kind for t in tokens] == ["ident", "punct", "template", "punct", "string", "end"]
    assert tokens[4].value == 'a"b'
    assert tokens[4].line == 2


def test_tokenizer_fails_on_a_character_it_does_not_know():
    with pytest.raises(ParseError, match="line 2: unexpected character '@'"):
        tokenize("type A = {\n @x: string }")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("string", S),
        ('"a" | "b"', {"kind": "union", "of": [{"kind": "literal", "value": v} for v in "ab"]}),
        ("X[][]", {"kind": "array", "of": {"kind": "array", "of": {"kind": "ref", "name": "X"}}}),
        ("(A | B)[]", {"kind": "array", "of": {"kind": "union", "of": [ref("A"), ref("B")]}}),
        ("{a: string} & B", {"kind": "intersection", "of": [obj(a=field(S)), ref("B")]}),
        ("{\n /** c */\n a?: true | null;\n}", obj(a=field(TRUE, optional=True, nullable=True))),
        ("{[key: string]: number}", {"kind": "object", "fields": {}, "index": {"kind": "number"}}),
        ("(typeof E)[keyof typeof E]", {"kind": "valueof", "const": "E"}),
        ("X | null", {"kind": "union", "of": [{"kind": "ref", "name": "X"}, {"kind": "null"}]}),
    ],
)
def test_type_expressions(text, expected):
    assert parse_type(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Record<string, unknown>",
        "any",
        "{a: string",
        "(typeof E)[keyof typeof F]",
        "{a: string; a: number}",
        "{readonly a: string}",
        "string extends",
    ],
)
def test_type_expressions_it_does_not_understand_fail(text):
    with pytest.raises(ParseError):
        parse_type(text)


def test_declarations_read_types_enums_hooks_and_errors(sample):
    found, types = sample
    assert types["Status"] == {
        "kind": "union",
        "of": [{"kind": "literal", "value": "Active"}, {"kind": "literal", "value": "NoInvite"}],
    }
    member = types["Member"]["fields"]
    assert member["status"]["type"] == {"kind": "ref", "name": "Status"}
    assert member["isLoggedInUser"] == {
        "type": {"kind": "literal", "value": True},
        "optional": True,
        "nullable": True,
    }
    assert types["Roles"]["of"][1] == {"kind": "null"}
    assert types["Factor"]["kind"] == "intersection"
    assert types["Config"]["index"] == {"kind": "unknown"}
    assert "MembersQueryResult" not in types and "UpdateMemberMutationBody" not in types
    assert found["Members"] == {
        "method": "GET",
        "path": "/_widgets/m",
        "path_params": [],
        "query": "MembersParams",
        "body": None,
        "response": {"kind": "array", "of": {"kind": "ref", "name": "Member"}},
        "errors": {"403": "Members403"},
    }
    assert found["UpdateMember"] == {
        "method": "POST",
        "path": "/_widgets/m/{userId}",
        "path_params": ["userId"],
        "query": None,
        "body": {"kind": "ref", "name": "UpdateInput"},
        "response": {"kind": "ref", "name": "Factor"},
        "errors": {"400": "UpdateMember400"},
    }


def test_an_unknown_statement_fails():
    with pytest.raises(ParseError, match="unexpected statement"):
        declarations(DTS + "\nnamespace Foo {}\n;")


def test_an_unknown_constant_shape_fails():
    with pytest.raises(ParseError):
        declarations(DTS + "\ndeclare const Limits: { readonly max: 3; };")


def test_errors_not_named_for_their_operation_fail():
    text = DTS.replace("ErrorType<Members403>", "ErrorType<UpdateMember400>")
    with pytest.raises(ParseError, match="not named Members<status>"):
        declarations(text)


def test_an_unknown_client_call_key_fails():
    with pytest.raises(ParseError, match="client call key 'timeout'"):
        calls(JS.replace('method: "GET",', 'method: "GET", timeout: 5,'))


def test_the_two_files_must_agree():
    with pytest.raises(ParseError, match="body typed and sent disagree"):
        endpoints(JS.replace("data: updateInput,", ""), DTS)
    with pytest.raises(ParseError, match="arguments"):
        endpoints(JS.replace("${userId}", "${memberId}"), DTS)


def test_changes_name_added_removed_and_changed():
    old = {"endpoints": {"A": 1, "B": 2}, "types": {"T": 1}}
    new = {"endpoints": {"A": 1, "B": 3, "C": 1}, "types": {}}
    assert changes(old, new) == ["+ endpoints C", "~ endpoints B", "- types T"]


# -- the committed data file ----------------------------------------------------------------


def test_data_file_is_the_pinned_version_with_all_endpoints(data):
    assert data["package"] == "@workos-inc/widgets"
    assert data["version"] == widgets_rest.VERSION
    assert set(data["sha256"]) == {widgets_rest.JS_FILE, widgets_rest.TYPES_FILE}
    assert len(data["endpoints"]) == 62
    assert len(data["types"]) > 250


def test_data_file_members_endpoint(data):
    members = data["endpoints"]["Members"]
    assert (members["method"], members["path"]) == ("GET", "/_widgets/UserManagement/members")
    assert members["query"] == "MembersParams"
    assert members["response"] == {"kind": "ref", "name": "MembersResponse"}
    assert data["endpoints"]["RemoveMember"]["method"] == "DELETE"
    assert data["endpoints"]["RemoveMember"]["path_params"] == ["userId"]
    assert data["endpoints"]["Verify"]["body"] == {"kind": "ref", "name": "VerifyRequest"}


def test_data_file_every_reference_is_declared(data):
    names = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("kind") == "ref":
                names.add(node["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    assert names <= set(data["types"])
    for spec in data["endpoints"].values():
        assert set(spec["errors"].values()) <= set(data["types"])


# -- the validator ---------------------------------------------------------------------------


def member(**overrides):
    value = {
        "id": "user_1",
        "email": "a@example.test",
        "emailVerified": True,
        "createdAt": "2026-01-01T00:00:00Z",
        "status": "Active",
        "actions": ["edit-role"],
    }
    return {**value, **overrides}


def test_validator_accepts_an_exact_answer(data):
    body = {
        "data": [member(roles=None, firstName=None)],
        "list_metadata": {"before": None, "after": "x"},
    }
    ref = data["endpoints"]["Members"]["response"]
    assert problems(body, ref, data["types"]) == []


def test_validator_names_each_mismatch_by_path(data):
    body = {
        "data": [
            member(status="Gone", emailVerified="yes", extra=1, actions=["fly"], roles=[{}]),
            {k: v for k, v in member().items() if k != "email"},
        ],
        "list_metadata": {"before": None},
    }
    found = problems(body, data["endpoints"]["Members"]["response"], data["types"])
    assert found == [
        '$.data[0].actions[0]: "fly" is not one of "edit-role", "resend-invite", '
        '"revoke-invite", "revoke-membership"',
        '$.data[0].emailVerified: expected boolean, got "yes"',
        "$.data[0].extra: field not in the type",
        "$.data[0].roles[0].name: required field missing",
        "$.data[0].roles[0].slug: required field missing",
        '$.data[0].status: "Gone" is not one of "Active", "Invited", "InviteExpired", '
        '"InviteRevoked", "NoInvite"',
        "$.data[1].email: required field missing",
        "$.list_metadata.after: required field missing",
    ]


def test_validator_nulls_numbers_and_literals(sample):
    _, types = sample
    ref = {"kind": "ref", "name": "Member"}
    base = {"id": "u", "createdAt": "t", "status": "Active", "count": 1}
    assert problems(base, ref, types) == []
    assert problems({**base, "id": None}, ref, types) == ["$.id: expected string, got null"]
    assert problems({**base, "count": True}, ref, types) == ["$.count: expected number, got true"]
    assert problems({**base, "isLoggedInUser": False}, ref, types) == [
        "$.isLoggedInUser: expected true, got false"
    ]
    assert problems({**base, "roles": None, "isLoggedInUser": None}, ref, types) == []
    assert problems([], ref, types) == ["$: expected an object, got []"]


def test_validator_intersections_unions_and_index_signatures(sample):
    _, types = sample
    factor = {"kind": "ref", "name": "Factor"}
    ok = {"type": "sms", "created_at": "t", "totp": {"user": "u"}}
    assert problems(ok, factor, types) == []
    assert problems({**ok, "totp": {"issuer": 1}}, factor, types) == [
        "$.totp.issuer: expected string, got 1"
    ]
    assert problems({"type": "sms"}, factor, types) == ["$.created_at: required field missing"]
    assert problems({**ok, "totp": "x"}, factor, types) == [
        '$.totp: "x" fits none of the union\'s 2 members'
    ]
    config = {"kind": "ref", "name": "Config"}
    assert problems({"any-key": [1, {"a": None}]}, config, types) == []
    strings = {"kind": "object", "fields": {}, "index": S}
    assert problems({"a b": 1}, strings, {}) == ['$["a b"]: expected string, got 1']
