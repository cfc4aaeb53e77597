"""The Client GraphQL API schema (a small subset of the Widgets API) and its resolvers."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLError, build_schema

from emulator.state import EmulatorState

SDL = """
type Query {
  "The user the token was minted for."
  me: User!
  "The token's organization; any other id is Unauthorized."
  organization(id: ID!): Organization!
  "Active memberships of the token's organization."
  organizationMemberships: [OrganizationMembership!]!
}

type User {
  id: ID!
  email: String!
  firstName: String
  lastName: String
}

type Organization {
  id: ID!
  name: String!
}

type OrganizationMembership {
  id: ID!
  role: String!
  user: User!
  organization: Organization!
}
"""

# Top-level fields are non-null, so any failure nulls `data` (the API gives no partial data).
SCHEMA = build_schema(SDL)


@dataclass
class Caller:
    """Who a verified token speaks for."""

    user_id: str
    organization_id: str | None


class Root:
    """Root value: graphql-core's default resolver calls these methods with (info, **args)."""

    def __init__(self, state: EmulatorState, caller: Caller):
        self._state = state
        self._caller = caller

    def me(self, info):
        with self._state.lock:
            return _user(self._state.users[self._caller.user_id])

    def organization(self, info, id):
        if id != self._caller.organization_id:
            raise GraphQLError("Unauthorized")
        with self._state.lock:
            return _organization(self._state.organizations[id])

    def organizationMemberships(self, info):  # camelCase: it is the GraphQL field name
        org_id = self._caller.organization_id
        if org_id is None:
            raise GraphQLError("Unauthorized")
        with self._state.lock:
            members = sorted(
                (
                    m
                    for m in self._state.memberships.values()
                    if m.organization_id == org_id and m.status == "active"
                ),
                key=lambda m: m.seq,
            )
            org = _organization(self._state.organizations[org_id])
            return [
                {
                    "id": m.id,
                    "role": m.role,
                    "organization": org,
                    "user": _user(self._state.users[m.user_id]),
                }
                for m in members
            ]


def _user(user) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
    }


def _organization(org) -> dict:
    return {"id": org.id, "name": org.name}
