import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  createOutageNotice,
  formatCountdown,
  isOutage,
  outageWhat,
  retryText,
  secondsLeft,
} from '../../service/static/outage.js';

test('formatCountdown: m:ss, and h:mm:ss past an hour', () => {
  assert.equal(formatCountdown(298), '4:58');
  assert.equal(formatCountdown(60), '1:00');
  assert.equal(formatCountdown(7), '0:07');
  assert.equal(formatCountdown(0), '0:00');
  assert.equal(formatCountdown(3723), '1:02:03');
  assert.equal(formatCountdown(-5), '0:00');
  assert.equal(formatCountdown(undefined), '0:00');
});

test('secondsLeft counts down whole seconds and stops at zero', () => {
  assert.equal(secondsLeft(2_250, 0), 3);
  assert.equal(secondsLeft(2_250, 2_250), 0);
  assert.equal(secondsLeft(2_250, 9_000), 0);
});

test('an outage is no answer, 429 or 503; a refusal or a stopped client is not', () => {
  assert.ok(isOutage({ status: 503, code: 'upstream_unavailable' }));
  assert.ok(isOutage({ status: 429, code: 'rate_limited' }));
  assert.ok(isOutage({ status: 0, code: 'network_error' }));
  assert.ok(!isOutage({ status: 0, code: 'stopped' }));
  assert.ok(!isOutage({ status: 403, code: 'not_a_member' }));
  assert.ok(!isOutage({ status: 401, code: 'unauthenticated' }));
  assert.ok(!isOutage(null));
});

test('outageWhat names who is not answering', () => {
  assert.equal(outageWhat({ status: 503, code: 'upstream_unavailable' }), 'WorkOS is not answering');
  assert.equal(outageWhat({ status: 0, code: 'network_error' }), 'The token service is not answering');
  assert.equal(outageWhat({ status: 503, code: 'session_store_unavailable' }), 'The sign-in store is not answering');
  assert.equal(outageWhat({ status: 429, code: 'rate_limited' }), 'Too many requests for the moment');
});

test('retryText counts down, then says it is retrying now', () => {
  assert.equal(retryText(4), 'retrying in 4 s');
  assert.equal(retryText(0), 'retrying now…');
});

/** A DOM node stand-in: textContent, hidden and dataset, found by data-testid. */
function fakeNotice() {
  const nodes = {};
  const root = {
    hidden: true,
    dataset: {},
    querySelector(selector) {
      const id = /data-testid="([^"]+)"/.exec(selector)[1];
      nodes[id] ??= { textContent: '', hidden: false };
      return nodes[id];
    },
  };
  return { root, nodes };
}

test('the notice says it once, in words, counts down, and hides the request id behind details', () => {
  const { root, nodes } = fakeNotice();
  let now = 1_000;
  const notice = createOutageNotice(root, () => now);
  const failure = { status: 503, code: 'upstream_unavailable', requestId: 'a'.repeat(32) };

  notice.show(failure, now + 4_200);
  assert.equal(root.hidden, false);
  assert.equal(notice.active, true);
  assert.equal(`${nodes['outage-what'].textContent} ${nodes['outage-retry'].textContent}`,
    'WorkOS is not answering; retrying in 5 s');
  assert.equal(root.dataset.retryIn, '5');
  assert.equal(nodes['outage-status'].textContent, 'HTTP 503');
  assert.equal(nodes['outage-code'].textContent, 'upstream_unavailable');
  assert.equal(nodes['outage-request-id'].textContent, 'a'.repeat(32));
  assert.equal(nodes['outage-request'].hidden, false);

  now += 2_000;
  notice.render();
  assert.equal(nodes['outage-retry'].textContent, 'retrying in 3 s');
  now += 5_000;
  notice.render();
  assert.equal(nodes['outage-retry'].textContent, 'retrying now…');

  notice.show({ status: 0, code: 'network_error', requestId: null }, now + 1_000);
  assert.equal(nodes['outage-status'].textContent, 'No answer');
  assert.equal(nodes['outage-request'].hidden, true);

  notice.clear();
  assert.equal(root.hidden, true);
  assert.equal(notice.active, false);
  assert.equal(root.dataset.retryIn, undefined);
});

test('without its element the notice does nothing and does not throw', () => {
  const notice = createOutageNotice(null, () => 0);
  notice.show({ status: 503 }, 1_000);
  notice.render();
  notice.clear();
  assert.equal(notice.active, false);
});
