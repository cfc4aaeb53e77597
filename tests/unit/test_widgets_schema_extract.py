"""tools/widgets_schema.py reads graphql-codegen's TypeScript the way it is written."""

from __future__ import annotations

import pytest

from tools.widgets_schema import changes, graphql_type, parse

SAMPLE = """
type Maybe<T> = T | null;
type InputMaybe<T> = Maybe<T>;
/** All built-in and custom scalars, mapped to their actual values */
type Scalars = {
    ID: {
        input: string;
        output: string;
    };
    /** A date-time string at UTC. */
    DateTime: {
        input: string;
        output: string;
    };
};
/** A member. */
type Member = {
    __typename?: "Member";
    /** When it began. */
    createdAt: Scalars["DateTime"]["output"];
    id: Scalars["ID"]["output"];
    nickname?: Maybe<Scalars["String"]["output"]>;
    tags: Array<Scalars["String"]["output"]>;
    maybeTags?: Maybe<Array<Maybe<Scalars["String"]["output"]>>>;
    order: PaginationOrder;
};
type Gone = {
    __typename?: "Gone";
    id: Scalars["ID"]["output"];
};
type Query = {
    __typename?: "Query";
    members: Array<Member>;
};
type QueryMembersArgs = {
    limit?: InputMaybe<Scalars["Int"]["input"]>;
    order?: InputMaybe<PaginationOrder>;
};
type RemoveInput = {
    ids: Array<Scalars["ID"]["input"]>;
};
/** Enum represents the pagination order. */
type PaginationOrder = "Asc" | "Desc";
type RemoveResult = Gone | Member;
type OnlyResult = Gone;
type StatusQuery = {
    __typename?: "Query";
    status: string;
};
"""


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('Scalars["String"]["output"]', "String!"),
        ('Maybe<Scalars["String"]["output"]>', "String"),
        ('Array<Scalars["ID"]["input"]>', "[ID!]!"),
        ('InputMaybe<Array<Maybe<Scalars["Int"]["input"]>>>', "[Int]"),
        ("OrganizationMember", "OrganizationMember!"),
    ],
)
def test_graphql_type_notation(expr, expected):
    assert graphql_type(expr) == expected


def test_graphql_type_refuses_what_codegen_does_not_write():
    with pytest.raises(ValueError):
        graphql_type("string | number")


def test_parse_reads_objects_arguments_inputs_enums_unions_and_scalars():
    types = parse(SAMPLE)
    assert set(types) == {
        "DateTime",
        "Gone",
        "Member",
        "OnlyResult",
        "PaginationOrder",
        "Query",
        "RemoveInput",
        "RemoveResult",
    }
    member = types["Member"]["fields"]
    assert types["Member"]["description"] == "A member."
    assert member["createdAt"] == {"type": "DateTime!", "description": "When it began."}
    assert member["nickname"]["type"] == "String"
    assert member["tags"]["type"] == "[String!]!"
    assert member["maybeTags"]["type"] == "[String]"
    assert types["Query"]["fields"]["members"]["args"] == {
        "limit": "Int",
        "order": "PaginationOrder",
    }
    assert types["RemoveInput"] == {
        "kind": "INPUT_OBJECT",
        "inputFields": {"ids": {"type": "[ID!]!"}},
    }
    assert types["PaginationOrder"]["values"] == ["Asc", "Desc"]
    assert types["RemoveResult"]["possibleTypes"] == ["Gone", "Member"]
    assert types["OnlyResult"] == {"kind": "UNION", "possibleTypes": ["Gone"]}
    assert types["DateTime"] == {"kind": "SCALAR", "description": "A date-time string at UTC."}


def test_parse_fails_on_a_line_it_does_not_understand():
    text = SAMPLE.replace(
        '    id: Scalars["ID"]["output"];\n};\ntype Query', "    [k: string]: any;\n};\ntype Query"
    )
    with pytest.raises(ValueError, match="unexpected line"):
        parse(text)


def test_changes_name_added_removed_and_changed_types():
    old = {"A": {"kind": "OBJECT"}, "B": {"kind": "ENUM"}, "C": {"kind": "UNION"}}
    new = {"A": {"kind": "OBJECT"}, "B": {"kind": "ENUM", "values": []}, "D": {"kind": "SCALAR"}}
    assert changes(old, new) == ["+ D", "- C", "~ B"]
