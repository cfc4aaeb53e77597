import assert from 'node:assert/strict';
import { test } from 'node:test';

// Importing the page script outside a browser must not start it (no document here).
const app = await import('../../service/static/app.js');

test('the query asks for me and the organization by id', () => {
  assert.match(app.QUERY_WITH_ORGANIZATION, /\$id: ID!/);
  assert.match(app.QUERY_WITH_ORGANIZATION, /me \{ id email firstName lastName \}/);
  assert.match(app.QUERY_WITH_ORGANIZATION, /organization\(id: \$id\) \{ id name \}/);
  assert.doesNotMatch(app.QUERY_WITHOUT_ORGANIZATION, /organization/);
});

test('summarize: "Alice Anders <alice@acme.com> · Acme Corp"', () => {
  const data = {
    me: { id: 'user_1', email: 'alice@acme.com', firstName: 'Alice', lastName: 'Anders' },
    organization: { id: 'org_1', name: 'Acme Corp' },
  };
  assert.equal(app.summarize(data), 'Alice Anders <alice@acme.com> · Acme Corp');
  assert.equal(app.summarize({ me: { id: 'user_2', email: 'carol@example.com' } }), 'carol@example.com');
  assert.equal(app.summarize({ me: null, organization: { name: 'Globex' } }), 'Globex');
  assert.equal(app.summarize(null), '');
});

test('describeErrors names the failing field', () => {
  assert.equal(
    app.describeErrors([{ message: 'Unauthorized', path: ['me'] }, { message: 'Not found', path: ['organization'] }]),
    'Unauthorized (me); Not found (organization)',
  );
  assert.equal(app.describeErrors([{}]), 'Unknown error');
});

test('describeFailure keeps status, code and request id readable', () => {
  assert.equal(
    app.describeFailure({ message: 'Not a member', status: 403, code: 'not_a_member', requestId: 'req_1' }),
    'Not a member (HTTP 403, not_a_member, request req_1)',
  );
  assert.equal(app.describeFailure({ message: 'Offline', status: 0, code: 'network_error' }), 'Offline (network_error)');
});

test('secondsLeft counts down whole seconds and stops at zero', () => {
  assert.equal(app.secondsLeft(287_000, 0), 287);
  assert.equal(app.secondsLeft(287_000, 500), 287);
  assert.equal(app.secondsLeft(287_000, 1_000), 286);
  assert.equal(app.secondsLeft(287_000, 400_000), 0);
});
