// The one place the browser code builds a request to the service: the X-CSRF header, JSON,
// the session cookie's credentials mode and no cache, for the token client and the app page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { credentialsFor, readJson, serviceRequest } from '../../service/static/service-fetch.js';

test('a GET carries X-CSRF, asks for JSON, sends the cookie same-origin and is never cached', () => {
  assert.deepEqual(serviceRequest(), {
    method: 'GET',
    headers: { 'X-CSRF': '1', Accept: 'application/json' },
    credentials: 'same-origin',
    cache: 'no-store',
  });
});

test('a body is sent as JSON with its Content-Type', () => {
  const init = serviceRequest({ method: 'POST', body: { organization_id: 'org_1' } });
  assert.equal(init.method, 'POST');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.equal(init.headers['X-CSRF'], '1');
  assert.equal(init.body, '{"organization_id":"org_1"}');
});

test('a service on another origin gets the cookie only with credentials include', () => {
  assert.equal(credentialsFor(null), 'same-origin');
  assert.equal(credentialsFor('/bff'), 'same-origin');
  assert.equal(credentialsFor('//bff.example.com'), 'include');
  assert.equal(credentialsFor('https://bff.example.com'), 'include');
  assert.equal(serviceRequest({ credentials: 'include' }).credentials, 'include');
});

test('an answer that is not JSON reads as null', async () => {
  assert.deepEqual(await readJson(new Response('{"a":1}')), { a: 1 });
  assert.equal(await readJson(new Response('<html>')), null);
});
