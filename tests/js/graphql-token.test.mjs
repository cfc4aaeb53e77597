import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import {
  FakeChannelHub,
  FakeClock,
  FakeDocument,
  FakeLocks,
  errorBody,
  fakeFetch,
  json,
  recordEvents,
  settle,
  tokenIssuer,
} from './fakes.mjs';

// The client must keep the token in memory only: any touch of Web Storage or cookies is counted
// here (and throws), for every test in this file.
const storageTouches = [];
for (const name of ['localStorage', 'sessionStorage']) {
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() {
      storageTouches.push(name);
      throw new Error(`${name} must not be used`);
    },
  });
}
globalThis.document = {
  get cookie() {
    storageTouches.push('document.cookie');
    throw new Error('document.cookie must not be used');
  },
  set cookie(_value) {
    storageTouches.push('document.cookie');
    throw new Error('document.cookie must not be used');
  },
};

const { createTokenClient, isUnauthorized, TokenClient, TokenError } = await import(
  '../../service/static/graphql-token.js'
);

const TOKEN_URL = '/api/graphql-token';
const GRAPHQL_URL = 'https://api.workos.test/client/graphql';

let clock;

beforeEach(() => {
  clock = new FakeClock();
});

/** Settle `promise` after `ms` of fake time; a retry that should not happen fails, never hangs. */
async function after(promise, ms = 600_000) {
  const outcome = promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
  await clock.advance(ms);
  return Promise.race([outcome, { pending: true }]);
}

function makeClient(fetch, options = {}) {
  return createTokenClient({
    fetch,
    graphqlUrl: GRAPHQL_URL,
    now: clock.now,
    dateNow: clock.dateNow,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: () => 0.5,
    channel: null,
    locks: null,
    requestTimeoutMs: 0,
    ...options,
  });
}

/** A GraphQL API double: accepts the tokens in `valid`, answers Unauthorized (HTTP 200) otherwise. */
function graphqlApi(valid) {
  return (call) => {
    const token = call.init.headers.Authorization.replace(/^Bearer /, '');
    if (!valid.has(token)) {
      return json({ data: null, errors: [{ message: 'Unauthorized', path: ['me'] }] });
    }
    return json({ data: { me: { id: 'user_1', email: 'alice@acme.com' } } });
  };
}

function router(routes) {
  return fakeFetch((call, calls) => {
    const route = routes[call.url];
    assert.ok(route, `unexpected request to ${call.url}`);
    return route(call, calls);
  });
}

describe('getToken', () => {
  test('asks the token route with X-CSRF, same-origin credentials and no cache', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const client = makeClient(fetch);
    assert.ok(client instanceof TokenClient);
    assert.ok(client instanceof EventTarget);

    assert.equal(await client.getToken(), 'tok-1');

    assert.equal(fetch.calls.length, 1);
    const { init } = fetch.calls[0];
    assert.equal(init.method, 'GET');
    assert.equal(init.headers['X-CSRF'], '1');
    assert.equal(init.credentials, 'same-origin');
    assert.equal(init.cache, 'no-store');
  });

  test('a baseUrl on another origin sends the cookie with credentials include', async () => {
    const url = 'https://bff.example.com/bff/api/graphql-token';
    const fetch = router({ [url]: tokenIssuer() });
    const client = new TokenClient({
      baseUrl: 'https://bff.example.com/bff/',
      fetch,
      channel: null,
      locks: null,
    });

    assert.equal(await client.getToken(), 'tok-1');
    assert.equal(fetch.calls[0].init.credentials, 'include');
    client.stop();
  });

  test('a baseUrl that is only a path prefix stays same-origin', async () => {
    const fetch = router({ '/bff/api/graphql-token': tokenIssuer() });
    const client = new TokenClient({ baseUrl: '/bff', fetch, channel: null, locks: null });

    assert.equal(await client.getToken(), 'tok-1');
    assert.equal(fetch.calls[0].init.credentials, 'same-origin');
    client.stop();
  });

  test('ten concurrent calls share one fetch', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const client = makeClient(fetch);

    const tokens = await Promise.all(Array.from({ length: 10 }, () => client.getToken()));

    assert.deepEqual(new Set(tokens), new Set(['tok-1']));
    assert.equal(fetch.calls.length, 1);
  });

  test('serves the held token while more than the margin is left, then fetches', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 300 }) });
    const client = makeClient(fetch, { marginSeconds: 30 });
    await client.getToken();

    await clock.advance(269_999); // 30.001 s left
    assert.equal(await client.getToken(), 'tok-1');
    assert.equal(fetch.calls.length, 1);

    await clock.advance(1); // exactly the margin left: no longer served
    assert.equal(await client.getToken(), 'tok-2');
    assert.equal(fetch.calls.length, 2);
  });

  test('the margin is configurable', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 300 }) });
    const client = makeClient(fetch, { marginSeconds: 60 });
    await client.getToken();

    await clock.advance(239_000);
    assert.equal(await client.getToken(), 'tok-1');
    await clock.advance(1_000);
    assert.equal(await client.getToken(), 'tok-2');
  });

  test('expiry runs on the monotonic clock from receipt, whatever expires_at says', async () => {
    const fetch = router({
      [TOKEN_URL]: () =>
        json({ token: 'tok-1', expires_at: '1999-01-01T00:00:00Z', expires_in: 300, organization_id: 'org_acme' }),
    });
    const client = makeClient(fetch);
    await client.getToken();
    await clock.advance(100_000);
    assert.equal(await client.getToken(), 'tok-1');
    assert.equal(fetch.calls.length, 1);
  });

  test('a token is stale once the wall clock says so, even if the monotonic clock paused', async () => {
    // performance.now() may stand still while the machine sleeps.
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 300 }) });
    const client = makeClient(fetch);
    await client.getToken();

    clock.wallSkew += 280_000; // 280 s of sleep: wall clock moved, monotonic did not
    assert.equal(await client.getToken(), 'tok-2');
    assert.equal(fetch.calls.length, 2);
  });

  test('refresh() asks the server even while the held token is good', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const client = makeClient(fetch);
    await client.getToken();
    assert.equal(await client.refresh(), 'tok-2');
    assert.equal(await client.getToken(), 'tok-2');
    assert.equal(fetch.calls.length, 2);
  });

  test('emits token events with expiresIn and organizationId, never the token', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 287, organizationId: 'org_acme' }) });
    const client = makeClient(fetch);
    const events = recordEvents(client);

    await client.getToken();

    assert.deepEqual(events, [
      { type: 'token', detail: { expiresIn: 287, organizationId: 'org_acme', source: 'fetch' } },
    ]);
    assert.ok(!JSON.stringify(events).includes('tok-1'));
  });

  test('a 200 without a usable token is an error, not retried', async () => {
    const fetch = router({ [TOKEN_URL]: () => json({ token: '', expires_in: 300 }) });
    const client = makeClient(fetch);
    const events = recordEvents(client);

    const { error } = await after(client.getToken());
    assert.ok(error instanceof TokenError);
    assert.equal(error.status, 200);
    assert.equal(error.code, 'invalid_response');
    assert.equal(fetch.calls.length, 1);
    assert.equal(events.of('error').length, 1);
  });
});

describe('hidden page', () => {
  test('a hidden tab with 60 s tokens for 10 minutes fetches none; shown again, one at once', async () => {
    const page = new FakeDocument();
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 60 }) });
    const client = makeClient(fetch, { document: page, marginSeconds: 30, refreshAheadSeconds: 0 }).start();
    await client.getToken();
    page.hide();
    await clock.advance(600_000);
    assert.equal(fetch.calls.length, 1); // visible, it would have fetched every 30 s: 20 more
    assert.equal(clock.timers.size, 0); // nothing armed while hidden

    page.show();
    await settle();
    assert.equal(fetch.calls.length, 2); // the overdue refresh runs as soon as it is shown
    assert.equal(await client.getToken(), 'tok-2');
    assert.deepEqual(clock.pending(), [30_000]); // and the refresh cycle resumes
    client.stop();
  });

  test('a query while hidden still gets a token; showing a page with a fresh token fetches nothing', async () => {
    const page = new FakeDocument();
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 60 }) });
    const client = makeClient(fetch, { document: page, marginSeconds: 30, refreshAheadSeconds: 0 }).start();
    page.hide();
    assert.equal(await client.getToken(), 'tok-1'); // a caller needs one: fetched, hidden or not
    await clock.advance(10_000);
    page.show();
    await settle();
    assert.equal(fetch.calls.length, 1); // its refresh is not due yet
    client.stop();
  });

  test('hidden tabs take the token a visible tab fetched, at no cost', async () => {
    const hub = new FakeChannelHub();
    const locks = new FakeLocks();
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 60 }) });
    const hiddenPage = new FakeDocument();
    hiddenPage.hide();
    const options = { marginSeconds: 30, refreshAheadSeconds: 0, locks };
    const shown = makeClient(fetch, { ...options, channel: hub.open(), document: new FakeDocument() });
    const hidden = makeClient(fetch, { ...options, channel: hub.open(), document: hiddenPage });
    shown.start();
    hidden.start();
    await shown.getToken();
    await clock.advance(300_000);
    assert.equal(fetch.calls.length, 11); // the visible tab's own cycle: one fetch per 30 s
    assert.equal(await hidden.getToken(), 'tok-11'); // taken in from the channel
    assert.equal(fetch.calls.length, 11);
    shown.stop();
    hidden.stop();
  });

  test('stop() stops listening to the page', async () => {
    const page = new FakeDocument();
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 60 }) });
    const client = makeClient(fetch, { document: page }).start();
    await client.getToken();
    page.hide();
    await clock.advance(600_000);
    client.stop();
    page.show();
    await settle();
    assert.equal(fetch.calls.length, 1);
  });
});

describe('proactive refresh', () => {
  test('fires expires_in - margin - refreshAhead after receipt and fetches once', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 300 }) });
    const client = makeClient(fetch, { marginSeconds: 30, refreshAheadSeconds: 5 }).start();
    const events = recordEvents(client);
    await client.getToken();
    assert.deepEqual(clock.pending(), [265_000]);

    await clock.advance(264_999);
    assert.equal(fetch.calls.length, 1);

    await clock.advance(1);
    assert.equal(fetch.calls.length, 2);
    assert.equal(events.of('token').length, 2);
    // Callers get the new token without waiting; the next refresh is armed.
    assert.equal(await client.getToken(), 'tok-2');
    assert.equal(fetch.calls.length, 2);
    assert.deepEqual(clock.pending(), [265_000]);
    client.stop();
  });

  /** Like the service: serves its cached token while more than its margin is left (whole seconds). */
  function cachingTokenRoute({ lifetime = 300, margin = 30, mintedAgoMs = 0 } = {}) {
    let n = 0;
    let token = null;
    let expiresAt = 0;
    const route = () => {
      if (!token || expiresAt - clock.now() <= margin * 1000) {
        n += 1;
        token = `tok-${n}`;
        expiresAt = clock.now() + lifetime * 1000 - (n === 1 ? mintedAgoMs : 0);
      }
      const expiresIn = Math.floor((expiresAt - clock.now()) / 1000);
      return json({ token, expires_in: expiresIn, organization_id: 'org_acme' });
    };
    route.minted = () => n;
    return route;
  }

  test('a server that keeps its token until its own margin: one fetch per cycle once learned', async () => {
    const route = cachingTokenRoute({ lifetime: 300, margin: 30 });
    const fetch = router({ [TOKEN_URL]: route });
    const client = makeClient(fetch, { marginSeconds: 30, refreshAheadSeconds: 5 }).start();
    await client.getToken();

    await clock.advance(265_000); // refresh ahead: the server still serves tok-1 (35 s left)
    assert.equal(fetch.calls.length, 2);
    assert.equal(route.minted(), 1);
    assert.deepEqual(clock.pending(), [5_000]); // so ask again when the margin is reached

    await clock.advance(5_000);
    assert.equal(fetch.calls.length, 3);
    assert.equal(await client.getToken(), 'tok-2');
    assert.deepEqual(clock.pending(), [270_000]); // refreshing ahead no longer pays

    await clock.advance(270_000);
    assert.equal(fetch.calls.length, 4);
    assert.equal(await client.getToken(), 'tok-3');
    client.stop();
  });

  test('a token the server just handed back is served for a few seconds, not refetched per call', async () => {
    // Whole-second rounding: the server's token is half a second older than expires_in says.
    const route = cachingTokenRoute({ lifetime: 300, margin: 30, mintedAgoMs: 500 });
    const fetch = router({ [TOKEN_URL]: route });
    const client = makeClient(fetch, { marginSeconds: 30, refreshAheadSeconds: 5 }).start();
    await client.getToken(); // tok-1, expires_in 299

    await clock.advance(264_000 + 5_000); // two refreshes, both answered with tok-1 (35 s, 30 s)
    assert.equal(fetch.calls.length, 3);
    assert.equal(route.minted(), 1);

    for (let second = 0; second < 4; second += 1) {
      assert.equal(await client.getToken(), 'tok-1'); // 30 s or less left, but just confirmed
      await clock.advance(1_000);
    }
    assert.equal(fetch.calls.length, 3);

    await clock.advance(1_000); // the next refresh finds the server has rotated
    assert.equal(fetch.calls.length, 4);
    assert.equal(await client.getToken(), 'tok-2');
    client.stop();
  });

  test('waits at least a few seconds even for a short-lived token', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 32 }) });
    const client = makeClient(fetch).start();
    await client.getToken();
    assert.deepEqual(clock.pending(), [5_000]);
    client.stop();
  });

  test('start() arms the refresh for a token already held', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 300 }) });
    const client = makeClient(fetch);
    await client.getToken();
    assert.deepEqual(clock.pending(), []);
    await clock.advance(10_000);
    client.start();
    assert.deepEqual(clock.pending(), [255_000]);
    client.stop();
  });

  test('after a transient failure it tries again later, not in a tight loop', async () => {
    let first = true;
    const fetch = router({
      [TOKEN_URL]: () => {
        if (first) {
          first = false;
          return tokenIssuer({ expiresIn: 300 })();
        }
        return errorBody(503, 'upstream_unavailable', { 'Retry-After': '1' });
      },
    });
    const client = makeClient(fetch, { maxAttempts: 2, maxBackoffMs: 30_000 }).start();
    await client.getToken();

    await clock.advance(265_000 + 1_250); // refresh, one back-off of 1 s + jitter, give up
    assert.equal(fetch.calls.length, 3);
    assert.deepEqual(clock.pending(), [30_000]);
    client.stop();
  });

  test('stop() clears every timer and closes the channel', async () => {
    const hub = new FakeChannelHub();
    const channel = hub.open();
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const client = makeClient(fetch, { channel }).start();
    await client.getToken();
    assert.equal(clock.timers.size, 1);

    client.stop();

    assert.equal(clock.timers.size, 0);
    assert.equal(channel.closed, true);
    await assert.rejects(client.getToken(), { code: 'stopped' });
  });

  test('stop() ends a back-off wait instead of leaving it pending', async () => {
    const fetch = router({ [TOKEN_URL]: () => errorBody(503, 'upstream_unavailable') });
    const client = makeClient(fetch);
    const pending = client.getToken();
    await settle();
    assert.equal(clock.timers.size, 1);

    client.stop();

    await assert.rejects(pending, { code: 'stopped' });
    assert.equal(clock.timers.size, 0);
    assert.equal(fetch.calls.length, 1);
  });
});

describe('errors from the token route', () => {
  test('401: signedout event, rejection with status and code, no retry', async () => {
    const fetch = router({ [TOKEN_URL]: () => errorBody(401, 'unauthenticated') });
    const client = makeClient(fetch);
    const events = recordEvents(client);

    const { error } = await after(client.getToken());
    assert.ok(error instanceof TokenError);
    assert.equal(error.status, 401);
    assert.equal(error.code, 'unauthenticated');
    assert.equal(error.requestId, 'req_401');

    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(events, [
      {
        type: 'signedout',
        detail: {
          status: 401,
          code: 'unauthenticated',
          message: 'unauthenticated happened',
          requestId: 'req_401',
          source: 'fetch',
        },
      },
    ]);
  });

  test('401 during proactive refresh stops refreshing', async () => {
    let n = 0;
    const issue = tokenIssuer({ expiresIn: 60 });
    const fetch = router({ [TOKEN_URL]: () => (++n === 1 ? issue() : errorBody(401, 'unauthenticated')) });
    const client = makeClient(fetch).start();
    const events = recordEvents(client);
    await client.getToken();

    await clock.advance(25_000);

    assert.equal(fetch.calls.length, 2);
    assert.equal(events.of('signedout').length, 1);
    assert.equal(clock.timers.size, 0);
    await clock.advance(3_600_000);
    assert.equal(fetch.calls.length, 2);
    client.stop();
  });

  for (const code of ['csrf_required', 'no_organization', 'not_a_member']) {
    test(`403 ${code}: error event, rejection, no retry`, async () => {
      const fetch = router({ [TOKEN_URL]: () => errorBody(403, code) });
      const client = makeClient(fetch);
      const events = recordEvents(client);

      const { error } = await after(client.getToken());
      assert.equal(error?.status, 403);
      assert.equal(error.code, code);

      assert.equal(fetch.calls.length, 1);
      assert.deepEqual(events, [
        {
          type: 'error',
          detail: { status: 403, code, message: `${code} happened`, requestId: 'req_403', retryAfter: null },
        },
      ]);
    });
  }

  for (const code of ['upstream_error', 'upstream_misconfigured']) {
    test(`502 ${code}: error event, rejection, no retry`, async () => {
      const fetch = router({ [TOKEN_URL]: () => errorBody(502, code) });
      const client = makeClient(fetch);
      const events = recordEvents(client);

      const { error } = await after(client.getToken());
      assert.equal(error?.status, 502);
      assert.equal(error.code, code);
      assert.equal(fetch.calls.length, 1);
      assert.equal(events.of('error').length, 1);
      assert.equal(clock.timers.size, 0);
    });
  }

  test('network errors: exponential back-off with jitter, 4 attempts, then error', async () => {
    const fetch = router({
      [TOKEN_URL]: () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const randoms = [0, 1, 0.25];
    const client = makeClient(fetch, { random: () => randoms.shift(), baseBackoffMs: 500 });
    const events = recordEvents(client);
    const outcome = client.getToken().catch((err) => err);

    // ceiling 500, 1000, 2000 ms; delay = ceiling/2 + random * ceiling/2
    await clock.advance(249);
    assert.equal(fetch.calls.length, 1);
    await clock.advance(1);
    assert.equal(fetch.calls.length, 2);
    await clock.advance(1_000);
    assert.equal(fetch.calls.length, 3);
    await clock.advance(1_250);
    assert.equal(fetch.calls.length, 4);

    const err = await outcome;
    assert.deepEqual(clock.delays, [250, 1_000, 1_250]);
    assert.equal(err.status, 0);
    assert.equal(err.code, 'network_error');
    assert.deepEqual(events.of('error').map((event) => event.detail.code), ['network_error']);
    assert.equal(clock.timers.size, 0);
  });

  test('back-off never exceeds maxBackoffMs', async () => {
    const fetch = router({
      [TOKEN_URL]: () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const client = makeClient(fetch, { random: () => 1, baseBackoffMs: 1_000, maxBackoffMs: 1_500, maxAttempts: 4 });
    const outcome = client.getToken().catch((err) => err);
    await clock.advance(10_000);
    await outcome;
    assert.deepEqual(clock.delays, [1_000, 1_500, 1_500]);
  });

  test('503 with Retry-After waits at least that long, plus jitter, then succeeds', async () => {
    const answers = [
      () => errorBody(503, 'upstream_unavailable', { 'Retry-After': '2' }),
      () => errorBody(503, 'upstream_unavailable', { 'Retry-After': '3' }),
      tokenIssuer(),
    ];
    const fetch = router({ [TOKEN_URL]: () => answers.shift()() });
    const client = makeClient(fetch, { random: () => 0.5, baseBackoffMs: 500 });
    const events = recordEvents(client);
    const token = client.getToken();

    await clock.advance(2_249);
    assert.equal(fetch.calls.length, 1);
    await clock.advance(1);
    assert.equal(fetch.calls.length, 2);
    await clock.advance(3_250);
    assert.equal(fetch.calls.length, 3);

    assert.equal(await token, 'tok-1');
    assert.deepEqual(clock.delays, [2_250, 3_250]);
    assert.equal(events.of('error').length, 0);
  });

  test('each wait before another attempt is announced by a retry event', async () => {
    const answers = [
      () => errorBody(503, 'upstream_unavailable', { 'Retry-After': '2' }),
      () => errorBody(503, 'upstream_unavailable'),
      tokenIssuer(),
    ];
    const fetch = router({ [TOKEN_URL]: () => answers.shift()() });
    const client = makeClient(fetch, { random: () => 0, baseBackoffMs: 500 });
    const events = recordEvents(client, ['retry', 'error', 'token']);
    const token = client.getToken();
    await clock.advance(10_000);

    assert.equal(await token, 'tok-1');
    const retries = events.of('retry').map((event) => event.detail);
    assert.deepEqual(
      retries.map(({ attempt, delayMs, retryAfter, status, code }) => ({ attempt, delayMs, retryAfter, status, code })),
      [
        { attempt: 1, delayMs: 2_000, retryAfter: 2, status: 503, code: 'upstream_unavailable' },
        { attempt: 2, delayMs: 500, retryAfter: null, status: 503, code: 'upstream_unavailable' },
      ],
    );
    assert.ok(retries.every((detail) => !JSON.stringify(detail).includes('tok-')));
    assert.deepEqual(events.map((event) => event.type), ['retry', 'retry', 'token']);
  });

  test('no retry event when a failure is not retried', async () => {
    const fetch = router({ [TOKEN_URL]: () => errorBody(503, 'upstream_unavailable', { 'Retry-After': '120' }) });
    const client = makeClient(fetch);
    const events = recordEvents(client, ['retry', 'error']);
    await after(client.getToken());
    assert.deepEqual(events.map((event) => event.type), ['error']);
    assert.equal(events[0].detail.retryAfter, 120);
  });

  test('429 rate_limited honours Retry-After; without it, exponential back-off', async () => {
    const answers = [
      () => errorBody(429, 'rate_limited', { 'Retry-After': '1' }),
      () => errorBody(429, 'rate_limited'),
      tokenIssuer(),
    ];
    const fetch = router({ [TOKEN_URL]: () => answers.shift()() });
    const client = makeClient(fetch, { random: () => 0 });
    const token = client.getToken();
    await clock.advance(5_000);
    assert.equal(await token, 'tok-1');
    assert.deepEqual(clock.delays, [1_000, 500]);
  });

  test('503 every time: gives up after the attempts and reports the last error', async () => {
    const fetch = router({ [TOKEN_URL]: () => errorBody(503, 'upstream_unavailable', { 'Retry-After': '1' }) });
    const client = makeClient(fetch, { maxAttempts: 4 });
    const events = recordEvents(client);
    const outcome = client.getToken().catch((err) => err);
    await clock.advance(60_000);

    const err = await outcome;
    assert.equal(fetch.calls.length, 4);
    assert.equal(err.code, 'upstream_unavailable');
    assert.equal(err.retryAfter, 1);
    assert.equal(events.of('error').length, 1);
  });

  test('a Retry-After beyond maxBackoffMs is not waited on inside the call', async () => {
    const fetch = router({ [TOKEN_URL]: () => errorBody(503, 'upstream_unavailable', { 'Retry-After': '120' }) });
    const client = makeClient(fetch, { maxBackoffMs: 30_000 });
    const { error } = await after(client.getToken());
    assert.equal(error?.status, 503);
    assert.equal(error.retryAfter, 120);
    assert.equal(fetch.calls.length, 1);
    assert.equal(clock.timers.size, 0);
  });

  test('a request that hangs is aborted after requestTimeoutMs and retried', async () => {
    const issue = tokenIssuer();
    const fetch = router({
      [TOKEN_URL]: (call, calls) =>
        calls.length > 1
          ? issue()
          : new Promise((_resolve, reject) => {
              call.init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
            }),
    });
    const client = makeClient(fetch, { requestTimeoutMs: 10_000 });
    const token = client.getToken();

    await clock.advance(9_999);
    assert.equal(fetch.calls.length, 1);
    await clock.advance(1 + 375);
    assert.equal(await token, 'tok-1');
    assert.equal(fetch.calls[0].init.signal.aborted, true);
    assert.equal(fetch.calls.length, 2);
    assert.equal(clock.timers.size, 0); // the second request's timeout was cleared
  });
});

describe('graphql', () => {
  test('POSTs query and variables with the Bearer token, no cookies', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer(), [GRAPHQL_URL]: graphqlApi(new Set(['tok-1'])) });
    const client = makeClient(fetch);

    const result = await client.graphql('query Q($id: ID!) { organization(id: $id) { id } }', { id: 'org_acme' });

    assert.deepEqual(result.data, { me: { id: 'user_1', email: 'alice@acme.com' } });
    assert.deepEqual(result.errors, []);
    const [post] = fetch.to(GRAPHQL_URL);
    assert.equal(post.init.method, 'POST');
    assert.equal(post.init.credentials, 'omit');
    assert.equal(post.init.headers.Authorization, 'Bearer tok-1');
    assert.equal(post.init.headers['Content-Type'], 'application/json');
    assert.equal(post.init.headers['X-CSRF'], undefined);
    assert.deepEqual(JSON.parse(post.init.body), {
      query: 'query Q($id: ID!) { organization(id: $id) { id } }',
      variables: { id: 'org_acme' },
    });
  });

  test('on Unauthorized: drops the token, fetches a fresh one once, retries once', async () => {
    // tok-1 is already expired at WorkOS (e.g. the laptop slept); tok-2 is good.
    const fetch = router({ [TOKEN_URL]: tokenIssuer(), [GRAPHQL_URL]: graphqlApi(new Set(['tok-2'])) });
    const client = makeClient(fetch);

    const result = await client.graphql('{ me { id } }');

    assert.deepEqual(result.errors, []);
    assert.equal(result.data.me.id, 'user_1');
    assert.equal(fetch.to(TOKEN_URL).length, 2);
    assert.deepEqual(
      fetch.to(GRAPHQL_URL).map((call) => call.init.headers.Authorization),
      ['Bearer tok-1', 'Bearer tok-2'],
    );
    assert.equal(await client.getToken(), 'tok-2');
  });

  test('a second Unauthorized is returned, not looped on', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer(), [GRAPHQL_URL]: graphqlApi(new Set()) });
    const client = makeClient(fetch);

    const result = await client.graphql('{ me { id } }');

    assert.equal(result.data, null);
    assert.ok(isUnauthorized(result));
    assert.equal(result.errors[0].message, 'Unauthorized');
    assert.equal(fetch.to(GRAPHQL_URL).length, 2);
    assert.equal(fetch.to(TOKEN_URL).length, 2);
  });

  test('no second POST when the server hands back the very token just refused', async () => {
    const fetch = router({
      [TOKEN_URL]: () => json({ token: 'tok-same', expires_in: 300, organization_id: 'org_acme' }),
      [GRAPHQL_URL]: graphqlApi(new Set()),
    });
    const client = makeClient(fetch);

    const result = await client.graphql('{ me { id } }');

    assert.ok(isUnauthorized(result));
    assert.equal(fetch.to(TOKEN_URL).length, 2);
    assert.equal(fetch.to(GRAPHQL_URL).length, 1);
  });

  test('ten concurrent queries refused together cost one fresh token', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer(), [GRAPHQL_URL]: graphqlApi(new Set(['tok-2'])) });
    const client = makeClient(fetch);

    const results = await Promise.all(Array.from({ length: 10 }, () => client.graphql('{ me { id } }')));

    assert.ok(results.every((result) => result.errors.length === 0));
    assert.equal(fetch.to(TOKEN_URL).length, 2);
    assert.equal(fetch.to(GRAPHQL_URL).length, 20);
  });

  test('other GraphQL errors are returned as they are, without a token refetch', async () => {
    const fetch = router({
      [TOKEN_URL]: tokenIssuer(),
      [GRAPHQL_URL]: () => json({ data: { organization: null }, errors: [{ message: 'Not found', path: ['organization'] }] }),
    });
    const client = makeClient(fetch);

    const result = await client.graphql('{ organization(id: "x") { id } }');

    assert.equal(result.errors[0].message, 'Not found');
    assert.equal(fetch.to(TOKEN_URL).length, 1);
    assert.equal(fetch.to(GRAPHQL_URL).length, 1);
  });

  test('an HTTP failure without a GraphQL body throws GraphQLRequestError', async () => {
    const fetch = router({
      [TOKEN_URL]: tokenIssuer(),
      [GRAPHQL_URL]: () => new Response('<html>bad gateway</html>', { status: 502 }),
    });
    const client = makeClient(fetch);
    await assert.rejects(client.graphql('{ me { id } }'), { name: 'GraphQLRequestError', status: 502 });
  });

  test('needs graphqlUrl', async () => {
    const client = makeClient(router({}), { graphqlUrl: undefined });
    await assert.rejects(client.graphql('{ me { id } }'), TypeError);
  });

  test('isUnauthorized reads the errors array, not the HTTP status alone', () => {
    assert.equal(isUnauthorized({ data: null, errors: [{ message: 'Unauthorized' }] }), true);
    assert.equal(isUnauthorized({ data: {}, errors: [] }), false);
    assert.equal(isUnauthorized({ data: null, errors: [{ message: 'Not found' }] }), false);
    assert.equal(isUnauthorized({ data: null, errors: [{ message: 'x', extensions: { code: 'UNAUTHENTICATED' } }] }), true);
  });
});

describe('tabs', () => {
  function tab(hub, locks, fetch, offset, options = {}) {
    return makeClient(fetch, {
      channel: hub.open(),
      locks,
      // Each tab's performance.now() has its own origin.
      now: () => clock.now() + offset,
      ...options,
    });
  }

  /** A token route that answers after 100 ms of fake time, like a real round trip. */
  function slowIssuer(options) {
    const issue = tokenIssuer(options);
    return () => new Promise((resolve) => clock.setTimeout(() => resolve(issue()), 100));
  }

  test('concurrent getToken() in two tabs costs one fetch', async () => {
    const hub = new FakeChannelHub();
    const locks = new FakeLocks();
    const fetch = router({ [TOKEN_URL]: slowIssuer() });
    const a = tab(hub, locks, fetch, 0);
    const b = tab(hub, locks, fetch, 987_654);
    const eventsB = recordEvents(b);

    const both = await after(Promise.all([a.getToken(), b.getToken(), a.getToken(), b.getToken()]), 1_000);

    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(both.value, ['tok-1', 'tok-1', 'tok-1', 'tok-1']);
    assert.equal(locks.requests, 2); // one per tab: each tab's callers share its request
    assert.deepEqual(eventsB.of('token').map((event) => event.detail), [
      { expiresIn: 300, organizationId: 'org_acme', source: 'channel' },
    ]);
    assert.deepEqual(hub.posted.map((message) => message.type), ['fetching', 'token']);
  });

  test('a tab granted the lock before the token message arrives waits for it', async () => {
    // Real browsers may hand the lock to the next tab before the first tab's message is
    // delivered: here every token message takes 50 ms of fake time to arrive.
    const hub = new FakeChannelHub();
    const open = hub.open.bind(hub);
    hub.open = (name) => {
      const channel = open(name);
      const post = channel.postMessage.bind(channel);
      channel.postMessage = (data) =>
        data?.type === 'token' ? clock.setTimeout(() => post(data), 50) : post(data);
      return channel;
    };
    const locks = new FakeLocks();
    const fetch = router({ [TOKEN_URL]: slowIssuer() });
    const a = tab(hub, locks, fetch, 0);
    const b = tab(hub, locks, fetch, 5_000);

    const both = await after(Promise.all([a.getToken(), b.getToken()]), 1_000);

    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(both.value, ['tok-1', 'tok-1']);
  });

  test('a peer whose fetch failed does not hold the others back', async () => {
    const hub = new FakeChannelHub();
    const locks = new FakeLocks();
    let calls = 0;
    const issue = tokenIssuer();
    const fetch = router({
      [TOKEN_URL]: () => {
        calls += 1;
        return calls === 1 ? errorBody(403, 'no_organization') : issue();
      },
    });
    const a = tab(hub, locks, fetch, 0);
    const b = tab(hub, locks, fetch, 5_000);

    const results = await after(Promise.allSettled([a.getToken(), b.getToken()]), 100);

    assert.equal(results.value[0].status, 'rejected');
    assert.equal(results.value[1].value, 'tok-1'); // fetched at once, without the 500 ms wait
    assert.ok(clock.now() < 500);
  });

  test('five tabs opened at once cost one fetch', async () => {
    const hub = new FakeChannelHub();
    const locks = new FakeLocks();
    const fetch = router({ [TOKEN_URL]: slowIssuer() });
    const tabs = Array.from({ length: 5 }, (_, i) => tab(hub, locks, fetch, i * 1_000));

    const tokens = await after(Promise.all(tabs.map((client) => client.getToken())), 1_000);

    assert.equal(fetch.calls.length, 1);
    assert.deepEqual(new Set(tokens.value), new Set(['tok-1']));
  });

  test('an adopted token expires on the receiver\'s clock, minus transit time', async () => {
    const hub = new FakeChannelHub();
    const sender = hub.open();
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const b = tab(hub, null, fetch, 50_000);

    sender.postMessage({
      type: 'token',
      token: 'tok-shared',
      expiresIn: 100,
      organizationId: 'org_acme',
      sentAt: clock.dateNow() - 2_000, // two seconds in transit
    });
    await settle();

    assert.equal(await b.getToken(), 'tok-shared');
    await clock.advance(67_999); // 98 s lived minus 30 s margin, less 1 ms
    assert.equal(await b.getToken(), 'tok-shared');
    await clock.advance(1);
    assert.equal(await b.getToken(), 'tok-1');
    assert.equal(fetch.calls.length, 1);
  });

  test('adopts only a token that lives longer, for the same organization', async () => {
    const hub = new FakeChannelHub();
    const sender = hub.open();
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ expiresIn: 300, organizationId: 'org_acme' }) });
    const b = tab(hub, null, fetch, 0);
    await b.getToken(); // tok-1, 300 s

    sender.postMessage({ type: 'token', token: 'tok-short', expiresIn: 200, organizationId: 'org_acme' });
    sender.postMessage({ type: 'token', token: 'tok-globex', expiresIn: 600, organizationId: 'org_globex' });
    await settle();
    assert.equal(await b.getToken(), 'tok-1');

    sender.postMessage({ type: 'token', token: 'tok-long', expiresIn: 600, organizationId: 'org_acme' });
    await settle();
    assert.equal(await b.getToken(), 'tok-long');
    assert.equal(fetch.calls.length, 1);
  });

  test('a token refused by GraphQL is not adopted again from another tab', async () => {
    const hub = new FakeChannelHub();
    const sender = hub.open();
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const b = tab(hub, null, fetch, 0);
    b.invalidate('tok-bad');

    sender.postMessage({ type: 'token', token: 'tok-bad', expiresIn: 300, organizationId: 'org_acme' });
    await settle();

    assert.equal(await b.getToken(), 'tok-1');
  });

  test('reset() drops the token here and in other tabs, and broadcasts {type: "reset"}', async () => {
    const hub = new FakeChannelHub();
    const locks = new FakeLocks();
    const issue = tokenIssuer({ organizationId: 'org_acme' });
    const fetch = router({ [TOKEN_URL]: () => issue() });
    const a = tab(hub, locks, fetch, 0);
    const b = tab(hub, locks, fetch, 5_000);
    const eventsB = recordEvents(b);
    await a.getToken();
    await settle();
    assert.equal(await b.getToken(), 'tok-1');
    assert.equal(fetch.calls.length, 1);

    a.reset();
    await settle();

    assert.deepEqual(hub.posted.at(-1), { type: 'reset' });
    assert.deepEqual(eventsB.of('reset').map((event) => event.detail), [{ source: 'channel' }]);
    const tokens = await Promise.all([a.getToken(), b.getToken()]);
    assert.deepEqual(tokens, ['tok-2', 'tok-2']);
    assert.equal(fetch.calls.length, 2);
  });

  test('after reset() a token for another organization is adopted from another tab', async () => {
    const hub = new FakeChannelHub();
    const sender = hub.open();
    const fetch = router({ [TOKEN_URL]: tokenIssuer({ organizationId: 'org_acme' }) });
    const b = tab(hub, null, fetch, 0);
    await b.getToken();

    sender.postMessage({ type: 'reset' });
    sender.postMessage({ type: 'token', token: 'tok-globex', expiresIn: 300, organizationId: 'org_globex' });
    await settle();

    assert.equal(await b.getToken(), 'tok-globex');
  });

  test('a fetch begun before reset() does not keep its token', async () => {
    const fetch = router({ [TOKEN_URL]: slowIssuer() });
    const client = makeClient(fetch);
    const before = client.getToken();
    client.reset();
    await clock.advance(100);

    assert.equal(await before, 'tok-1'); // its caller still gets an answer
    const after = client.getToken();
    await clock.advance(100);
    assert.equal(await after, 'tok-2');
    assert.equal(fetch.calls.length, 2);
  });

  test('a 401 in one tab signs the other tabs out', async () => {
    const hub = new FakeChannelHub();
    const a = tab(hub, null, router({ [TOKEN_URL]: () => errorBody(401, 'unauthenticated') }), 0);
    const b = tab(hub, null, router({ [TOKEN_URL]: tokenIssuer() }), 0).start();
    const eventsB = recordEvents(b);
    await b.getToken();
    await settle();
    assert.equal(await a.getToken(), 'tok-1'); // adopted from b

    const { error } = await after(a.refresh(), 0); // the session ended (signed out elsewhere)
    assert.equal(error?.status, 401);
    await settle();

    assert.deepEqual(eventsB.of('signedout').map((event) => event.detail.source), ['channel']);
    assert.equal(clock.timers.size, 0); // b's proactive refresh stopped too
    b.stop();
  });

  test('a lock manager that refuses does not stop the fetch', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const locks = { request: () => Promise.reject(new DOMException('denied', 'SecurityError')) };
    const client = makeClient(fetch, { locks });
    assert.equal(await client.getToken(), 'tok-1');
  });

  test('without a channel or locks each tab simply fetches for itself', async () => {
    const fetch = router({ [TOKEN_URL]: tokenIssuer() });
    const a = makeClient(fetch);
    const b = makeClient(fetch);
    await Promise.all([a.getToken(), b.getToken()]);
    assert.equal(fetch.calls.length, 2);
  });
});

test('defaults: a real BroadcastChannel named graphql-token when available, closed by stop()', async () => {
  const client = createTokenClient({ fetch: router({}), locks: null });
  const peer = new BroadcastChannel('graphql-token');
  const seen = new Promise((resolve) => {
    peer.onmessage = (event) => resolve(event.data);
  });
  client.reset();
  assert.deepEqual(await seen, { type: 'reset' });
  client.stop();
  peer.close();
});

test('never touches localStorage, sessionStorage or document.cookie', async () => {
  const hub = new FakeChannelHub();
  const fetch = router({ [TOKEN_URL]: tokenIssuer(), [GRAPHQL_URL]: graphqlApi(new Set(['tok-2'])) });
  const client = makeClient(fetch, { channel: hub.open(), locks: new FakeLocks() }).start();

  await client.getToken();
  await client.graphql('{ me { id } }');
  await clock.advance(600_000);
  client.reset();
  await client.refresh();
  client.stop();

  assert.deepEqual(storageTouches, []);
});

describe('widget tokens', () => {
  const WIDGET_URL = '/api/widget-token?scopes=widgets%3Ausers-table%3Amanage';

  test('kind widget asks the widget route with its scopes, sorted and once each', async () => {
    const fetch = router({ [WIDGET_URL]: tokenIssuer() });
    const scopes = ['widgets:users-table:manage', 'widgets:users-table:manage'];
    const client = makeClient(fetch, { kind: 'widget', scopes });
    assert.equal(await client.getToken(), 'tok-1');
    assert.equal(await client.getToken(), 'tok-1');
    assert.equal(fetch.calls.length, 1);
    assert.equal(fetch.calls[0].init.headers['X-CSRF'], '1');
  });

  test('a widget client without scopes asks for a user-only token', async () => {
    const fetch = router({ '/api/widget-token': tokenIssuer() });
    const client = makeClient(fetch, { kind: 'widget', baseUrl: '' });
    assert.equal(await client.getToken(), 'tok-1');
  });

  test('an unknown kind is refused when the client is made', () => {
    assert.throws(() => makeClient(router({}), { kind: 'session' }), TypeError);
  });

  test('each kind and scope set fetches under a lock of its own', async () => {
    const locks = new FakeLocks();
    const names = [];
    const spy = { request: (name, callback) => (names.push(name), locks.request(name, callback)) };
    const fetch = router({
      [TOKEN_URL]: tokenIssuer(),
      [WIDGET_URL]: tokenIssuer(),
      '/api/widget-token': tokenIssuer(),
    });
    await makeClient(fetch, { locks: spy }).getToken();
    await makeClient(fetch, { locks: spy, kind: 'widget', scopes: ['widgets:users-table:manage'] }).getToken();
    await makeClient(fetch, { locks: spy, kind: 'widget' }).getToken();
    assert.deepEqual(names, [
      'graphql-token-fetch',
      'graphql-token:widget:widgets:users-table:manage-fetch',
      'graphql-token:widget:-fetch',
    ]);
  });

  test('tabs share widget tokens only with clients of the same kind and scopes', async () => {
    const hub = new FakeChannelHub();
    const original = globalThis.BroadcastChannel;
    // The browser's BroadcastChannel, by name: each client opens the channel of its share.
    globalThis.BroadcastChannel = function BroadcastChannel(name) {
      return hub.open(name);
    };
    try {
      const issue = tokenIssuer(); // one sequence of tokens for both routes
      const fetch = router({ [TOKEN_URL]: issue, [WIDGET_URL]: issue });
      const widget = { kind: 'widget', scopes: ['widgets:users-table:manage'], channel: undefined };
      const graphqlTab = makeClient(fetch, { channel: undefined });
      const widgetTab = makeClient(fetch, widget);
      const otherWidgetTab = makeClient(fetch, widget);
      const graphqlToken = await graphqlTab.getToken();
      await settle();
      const token = await widgetTab.getToken();
      await settle();
      assert.notEqual(token, graphqlToken);
      assert.equal(await otherWidgetTab.getToken(), token);
      assert.equal(fetch.calls.filter((c) => c.url === WIDGET_URL).length, 1);
      assert.deepEqual([...hub.channels].map((c) => c.name).sort(), [
        'graphql-token',
        'graphql-token:widget:widgets:users-table:manage',
        'graphql-token:widget:widgets:users-table:manage',
      ]);
    } finally {
      globalThis.BroadcastChannel = original;
    }
  });
});
