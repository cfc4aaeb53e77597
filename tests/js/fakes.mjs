// Test doubles for the browser token client: a fake monotonic clock with timers, a fake fetch,
// an in-memory BroadcastChannel hub and a Web Locks stand-in. No dependencies.

/** Let every pending promise chain and queued microtask run. */
export async function settle(rounds = 10) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A monotonic clock (ms) with setTimeout/clearTimeout that only fire when advanced. */
export class FakeClock {
  constructor({ start = 0, wallStart = 1_700_000_000_000 } = {}) {
    this.time = start;
    this.wallSkew = wallStart - start;
    this.timers = new Map();
    this.delays = []; // every delay ever scheduled, in order
    this.nextId = 1;
  }

  now = () => this.time;

  dateNow = () => this.time + this.wallSkew;

  setTimeout = (fn, ms = 0) => {
    const id = this.nextId++;
    this.timers.set(id, { fn, at: this.time + ms, ms });
    this.delays.push(ms);
    return id;
  };

  clearTimeout = (id) => {
    this.timers.delete(id);
  };

  /** Delays of the timers still pending, in the order they were set. */
  pending() {
    return [...this.timers.values()].map((timer) => timer.ms);
  }

  /** Move time forward, firing due timers in order and letting promises settle after each. */
  async advance(ms) {
    const target = this.time + ms;
    for (;;) {
      await settle();
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= target && (!next || timer.at < next.timer.at)) next = { id, timer };
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.time = next.timer.at;
      next.timer.fn();
    }
    this.time = target;
    await settle();
  }
}

export function json(body, { status = 200, headers = {} } = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function errorBody(status, error, headers = {}) {
  return json({ error, message: `${error} happened`, request_id: `req_${status}` }, { status, headers });
}

/** A fetch that records each call and answers with `handler({url, init, calls})`. */
export function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const call = { url: String(url), init };
    calls.push(call);
    return handler(call, calls);
  };
  fetch.calls = calls;
  fetch.to = (url) => calls.filter((call) => call.url === url);
  return fetch;
}

/** Answers for the token route: tok-1, tok-2, ... each living `expiresIn` seconds. */
export function tokenIssuer({ expiresIn = 300, organizationId = 'org_acme' } = {}) {
  let n = 0;
  const issue = () => {
    n += 1;
    return json({
      token: `tok-${n}`,
      expires_at: '2030-01-01T00:00:00Z',
      expires_in: expiresIn,
      organization_id: organizationId,
    });
  };
  issue.count = () => n;
  return issue;
}

/** In-memory BroadcastChannel: channels opened on one hub with one name hear each other. */
export class FakeChannelHub {
  constructor() {
    this.channels = new Set();
    this.posted = [];
  }

  open(name = 'graphql-token') {
    const hub = this;
    const channel = new (class extends EventTarget {
      name = name;
      closed = false;
      postMessage(data) {
        if (this.closed) throw new Error('channel is closed');
        hub.posted.push(structuredClone(data));
        for (const other of hub.channels) {
          if (other === this || other.name !== this.name) continue;
          const copy = structuredClone(data);
          queueMicrotask(() => {
            if (!other.closed) other.dispatchEvent(new MessageEvent('message', { data: copy }));
          });
        }
      }
      close() {
        this.closed = true;
        hub.channels.delete(this);
      }
    })();
    this.channels.add(channel);
    return channel;
  }
}

/** Web Locks stand-in: exclusive locks by name, granted in request order. */
export class FakeLocks {
  constructor() {
    this.tails = new Map();
    this.requests = 0;
  }

  request(name, callback) {
    this.requests += 1;
    const previous = this.tails.get(name) ?? Promise.resolve();
    const run = previous.then(() => callback({ name, mode: 'exclusive' }));
    this.tails.set(
      name,
      run.catch(() => {}),
    );
    return run;
  }
}

/** Collect the events a client emits, in order. */
export function recordEvents(target, types = ['token', 'signedout', 'error', 'reset']) {
  const events = [];
  for (const type of types) {
    target.addEventListener(type, (event) => events.push({ type, detail: event.detail }));
  }
  Object.defineProperty(events, 'of', {
    value: (type) => events.filter((event) => event.type === type),
  });
  return events;
}

/** A document whose visibility a test sets: `hide()`, `show()` dispatch visibilitychange. */
export class FakeDocument extends EventTarget {
  visibilityState = 'visible';

  hide() {
    this.visibilityState = 'hidden';
    this.dispatchEvent(new Event('visibilitychange'));
  }

  show() {
    this.visibilityState = 'visible';
    this.dispatchEvent(new Event('visibilitychange'));
  }
}
