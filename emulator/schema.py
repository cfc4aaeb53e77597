"""The Widgets API schema the emulator serves: a subset of WorkOS's, as WorkOS types it.

Names, arguments, lists, nullability, enum values and union members follow the types WorkOS
publishes in `@workos-inc/widgets` (tests/data/workos_widgets_schema.json, checked by
tests/emulator/test_widgets_schema_conformance.py). Descriptions are ours. Unions and enums
are complete, so a fragment or value that is valid against WorkOS is valid here; object types
may leave fields out.
"""

from __future__ import annotations

from graphql import build_schema

SDL = """
"A date-time string at UTC, ISO 8601."
scalar DateTime

type Query {
  "The user the token was issued for."
  me: User!
  "A user who is a member of the token's organization."
  user(id: ID!): User!
  "The token's organization; any other id is FORBIDDEN."
  organization(id: ID!): Organization!
  "The organizations the user is an active member of."
  organizations: [UserOrganization!]!
  "Members of the token's organization (active and invited), newest first by default."
  organizationMemberships(
    after: String
    before: String
    limit: Int
    order: PaginationOrder
    roleSlug: String
    search: String
  ): OrganizationMemberList!
  "The roles of the environment."
  roles: RolesResult!
  "Every permission some role of the environment grants."
  permissions(
    after: String
    before: String
    limit: Int
    order: PaginationOrder
    search: String
  ): PermissionList!
  "A member's permissions in the token's organization; another member's need users-table:manage."
  effectivePermissions(userId: ID!): [Permission!]!
  "The user's active sessions. Requires a session token (refused to widget tokens)."
  sessions: [Session!]!
}

type Mutation {
  "Invite a user to the token's organization. Needs widgets:users-table:manage."
  inviteUser(input: InviteUserInput!): InviteUserResult!
  "Remove a member from the token's organization. Needs widgets:users-table:manage."
  removeMember(input: RemoveMemberInput!): RemoveMemberResult!
  "Revoke one of the user's own sessions."
  revokeSession(input: RevokeSessionInput!): RevokeSessionResult!
  "Change a member's role. Needs widgets:users-table:manage; only the first slug is used."
  updateMemberRole(input: UpdateMemberRoleInput!): UpdateMemberRoleResult!
}

type User {
  connectedAccounts: [ConnectedAccount!]!
  createdAt: DateTime!
  email: String!
  emailVerified: Boolean!
  firstName: String
  id: ID!
  lastName: String
  mfaEnabled: Boolean!
  mfaLastUsedAt: DateTime
  passwordLastUsedAt: DateTime
  passwordSet: Boolean!
  profilePictureUrl: String
  updatedAt: DateTime!
}

type ConnectedAccount {
  email: String
  firstName: String
  id: ID!
  lastLoginAt: DateTime
  lastName: String
  profilePictureUrl: String
  provider: OAuthProvider!
}

enum OAuthProvider {
  AppleOAuth
  BitbucketOAuth
  DiscordOAuth
  GitLabOAuth
  GithubOAuth
  GoogleOAuth
  GrokOAuth
  IntuitOAuth
  LinkedInOAuth
  MicrosoftOAuth
  SalesforceOAuth
  SlackOAuth
  VercelMarketplaceOAuth
  VercelOAuth
  XOAuth
  XeroOAuth
}

type Organization {
  allowProfilesOutsideOrganization: Boolean!
  createdAt: DateTime!
  id: ID!
  name: String!
  updatedAt: DateTime!
}

type UserOrganization {
  id: ID!
  isCurrent: Boolean!
  name: String!
}

"A member: the user, their membership status and roles. The id is the user's id."
type OrganizationMember {
  createdAt: DateTime!
  email: String!
  emailVerified: Boolean!
  firstName: String
  id: ID!
  lastActivityAt: DateTime
  lastName: String
  profilePictureUrl: String
  roles: [OrganizationMemberRole!]!
  status: OrganizationMemberStatus!
}

type OrganizationMemberRole {
  name: String!
  slug: String!
}

enum OrganizationMemberStatus {
  Active
  InviteExpired
  InviteRevoked
  Invited
  NoInvite
}

type OrganizationMemberList {
  data: [OrganizationMember!]!
  listMetadata: ListMetadata!
}

"Cursors: pass `after` (or `before`) back to get the next (or previous) page."
type ListMetadata {
  after: String
  before: String
}

enum PaginationOrder {
  Asc
  Desc
  Normal
}

type Role {
  createdAt: DateTime!
  description: String
  id: ID!
  isDefault: Boolean!
  name: String!
  slug: String!
  updatedAt: DateTime!
}

type RolesResult {
  multipleRolesEnabled: Boolean!
  roles: [Role!]!
}

type Permission {
  createdAt: DateTime!
  description: String
  id: ID!
  name: String!
  slug: String!
  system: Boolean!
  updatedAt: DateTime!
}

type PermissionList {
  data: [Permission!]!
  listMetadata: ListMetadata!
}

type Session {
  createdAt: DateTime!
  currentLocation: SessionLocation
  id: ID!
  ipAddress: String
  isCurrent: Boolean!
  lastActivityAt: DateTime
  organizationId: String
  state: SessionState!
  updatedAt: DateTime!
  userAgent: String
}

type SessionLocation {
  cityName: String!
  countryISOCode: String!
}

type SessionState {
  expiresAt: DateTime
  tag: String!
}

input InviteUserInput {
  email: String!
  expiresInDays: Int
  roleSlug: String
}

input RemoveMemberInput {
  userId: ID!
}

input RevokeSessionInput {
  sessionId: ID!
}

input UpdateMemberRoleInput {
  roleSlugs: [String!]!
  userId: ID!
}

union InviteUserResult =
  | InvalidInvitationExpiry
  | InvalidInviteeEmail
  | InvalidInviteeRole
  | InviteeAlreadyInvited
  | InviteeAlreadyMember
  | InviteeEmailNotDeliverable
  | OrganizationBlockedFromSendingInvites
  | UserInvited

union RemoveMemberResult = MemberIsManagedByDirectory | MemberNotFound | MemberRemoved

union RevokeSessionResult = SessionNotFound | SessionRevoked

union UpdateMemberRoleResult = MemberNotFound | MemberRoleUpdated | RoleNotFound

type InvalidInvitationExpiry {
  _placeholder: Boolean
}

type InvalidInviteeEmail {
  email: String!
}

type InvalidInviteeRole {
  roleSlug: String
}

type InviteeAlreadyInvited {
  email: String!
}

type InviteeAlreadyMember {
  email: String!
}

type InviteeEmailNotDeliverable {
  email: String!
}

type OrganizationBlockedFromSendingInvites {
  _placeholder: Boolean
}

type UserInvited {
  invitation: OrganizationInvitation!
}

type OrganizationInvitation {
  createdAt: DateTime!
  email: String!
  expiresAt: DateTime!
  id: ID!
  roleSlug: String
  status: OrganizationInvitationStatus!
}

enum OrganizationInvitationStatus {
  Accepted
  Expired
  Pending
  Revoked
}

type MemberIsManagedByDirectory {
  userId: ID!
}

type MemberNotFound {
  userId: ID!
}

type MemberRemoved {
  userId: ID!
}

type MemberRoleUpdated {
  member: OrganizationMember!
}

type RoleNotFound {
  roleSlugs: [String!]!
}

type SessionNotFound {
  sessionId: ID!
}

type SessionRevoked {
  session: Session!
}
"""

# Top-level fields are non-null, so a failed field nulls `data`: the API gives no partial data.
SCHEMA = build_schema(SDL)

# Fields WorkOS documents as "Requires a session token": an AuthKit access token, not the
# widget token /client/token mints. The conformance test holds this set against WorkOS's.
SESSION_TOKEN_FIELDS = frozenset({"sessions"})
