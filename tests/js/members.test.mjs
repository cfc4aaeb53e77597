import assert from 'node:assert/strict';
import { test } from 'node:test';

// Importing outside a browser must not touch the DOM.
const members = await import('../../service/static/members.js');

test('the queries use WorkOS field names, arguments and result variants', () => {
  assert.match(members.MEMBERS_QUERY, /organizationMemberships\(limit: \$limit, after: \$after, before: \$before\)/);
  assert.match(members.MEMBERS_QUERY, /listMetadata \{ after before \}/);
  assert.match(members.UPDATE_MEMBER_ROLE, /updateMemberRole\(input: \{ userId: \$userId, roleSlugs: \$roleSlugs \}\)/);
  assert.match(members.UPDATE_MEMBER_ROLE, /\.\.\. on RoleNotFound/);
  assert.match(members.REMOVE_MEMBER, /removeMember\(input: \{ userId: \$userId \}\)/);
  assert.match(members.REMOVE_MEMBER, /\.\.\. on MemberIsManagedByDirectory/);
});

test('memberName falls back to the email', () => {
  assert.equal(members.memberName({ firstName: 'Alice', lastName: 'Anders', email: 'a@x' }), 'Alice Anders');
  assert.equal(members.memberName({ email: 'dave@acme.com' }), 'dave@acme.com');
  assert.equal(members.memberName(null), '');
});

test('explainErrors: FORBIDDEN names the permission the role lacks', () => {
  const message = "Forbidden: this needs the widgets:users-table:manage permission, which the role 'member' does not grant.";
  const { code, text } = members.explainErrors([{ message, extensions: { code: 'FORBIDDEN' } }]);
  assert.equal(code, 'FORBIDDEN');
  assert.match(text, /does not allow this \(FORBIDDEN\)/);
  assert.match(text, /widgets:users-table:manage/);
  assert.ok(text.endsWith(message));
});

test('explainErrors: UNAUTHENTICATED and anything else', () => {
  const refused = members.explainErrors([{ message: 'Unauthorized', extensions: { code: 'UNAUTHENTICATED' } }]);
  assert.equal(refused.code, 'UNAUTHENTICATED');
  assert.match(refused.text, /token was refused/);
  const other = members.explainErrors([{ message: 'limit must be between 1 and 100.', extensions: { code: 'BAD_USER_INPUT' } }]);
  assert.equal(other.text, 'The Widgets API answered with an error (BAD_USER_INPUT): limit must be between 1 and 100.');
  assert.deepEqual(members.explainErrors([]), { code: null, text: 'The Widgets API answered with an error: Unknown error' });
});

test('explainOutcome reads each result variant', () => {
  const bob = { id: 'user_bob', firstName: 'Bob', lastName: 'Brown', email: 'bob@globex.com' };
  const updated = { __typename: 'MemberRoleUpdated', member: { ...bob, roles: [{ name: 'Admin', slug: 'admin' }] } };
  assert.deepEqual(members.explainOutcome(updated, bob), { tone: 'info', text: 'Bob Brown is now Admin.' });
  assert.deepEqual(members.explainOutcome({ __typename: 'MemberRemoved', userId: 'user_bob' }, bob), {
    tone: 'info',
    text: 'Bob Brown was removed from the organization.',
  });
  assert.equal(members.explainOutcome({ __typename: 'MemberNotFound', userId: 'user_x' }).tone, 'error');
  assert.match(members.explainOutcome({ __typename: 'MemberNotFound', userId: 'user_x' }).text, /^user_x is no longer/);
  assert.equal(members.explainOutcome({ __typename: 'RoleNotFound', roleSlugs: ['owner'] }).text, 'No such role: owner.');
  assert.match(members.explainOutcome({ __typename: 'MemberIsManagedByDirectory' }, bob).text, /managed by a directory/);
  assert.equal(members.explainOutcome(null).text, 'Unexpected answer: nothing.');
});

test('createMembersTable without its card does nothing', async () => {
  const table = members.createMembersTable({ client: null, root: null });
  await table.load();
  table.reset();
});
