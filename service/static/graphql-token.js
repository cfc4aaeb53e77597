/**
 * Browser client for the GraphQL token service (design.md §3, §7).
 *
 * Holds the WorkOS Client API token in memory only (never Web Storage or cookies), shares one
 * fetch of `GET /api/graphql-token` among concurrent callers and among open tabs
 * (BroadcastChannel + Web Locks), refreshes it shortly before it stops being served (not while
 * the page is hidden: an idle tab costs nothing; it catches up when it is shown), and runs
 * GraphQL requests against the WorkOS Client GraphQL API, which reports an expired or bad
 * token as HTTP 200 with `errors: [{message: "Unauthorized"}]`.
 *
 * Events (CustomEvent, `detail` never carries the token):
 *   token     {expiresIn, organizationId, source: "fetch" | "channel"}
 *   signedout {status, code, message, source: "fetch" | "channel"}
 *   retry     {status, code, message, requestId, retryAfter, attempt, delayMs}
 *   error     {status, code, message, requestId, retryAfter}
 *   reset     {source: "local" | "channel"}
 */

const CHANNEL_NAME = 'graphql-token';
const LOCK_NAME = 'graphql-token-fetch';
const MIN_REFRESH_DELAY_MS = 5000;
// A token the server handed over this recently is what it would hand over again.
const RECONFIRM_MS = 5000;
// A message between tabs takes milliseconds; anything beyond this is a clock jump, not transit.
const MAX_TRANSIT_MS = 5000;
// A tab granted the fetch lock right after another tab's fetch may get the lock before that
// tab's token message; when a peer said it was fetching, wait this long for its token.
const HANDOFF_MS = 500;
// A peer's "fetching" older than this is stale (its tab closed or its fetch hung).
const PEER_FETCH_MAX_MS = 15000;

/** Failure of the token route: `status` is the HTTP status (0: no response), `code` its error code. */
export class TokenError extends Error {
  constructor(message, { status = 0, code = 'unknown', requestId = null, retryAfter = null } = {}) {
    super(message);
    this.name = 'TokenError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/** Failure to get a GraphQL answer at all (network, or an HTTP error without a GraphQL body). */
export class GraphQLRequestError extends Error {
  constructor(message, { status = 0, code = 'graphql_request_failed' } = {}) {
    super(message);
    this.name = 'GraphQLRequestError';
    this.status = status;
    this.code = code;
  }
}

/** True when a GraphQL result says the token was refused (expired, bad, or not scoped). */
export function isUnauthorized(result) {
  if (result?.status === 401) return true;
  return (result?.errors ?? []).some(
    (error) =>
      /^unauthori[sz]ed$/i.test(String(error?.message ?? '').trim()) ||
      error?.extensions?.code === 'UNAUTHENTICATED',
  );
}

function isTransient(status) {
  return status === 0 || status === 429 || status === 503;
}

function parseRetryAfter(value) {
  // Our service sends whole seconds; anything else falls back to exponential back-off.
  return value != null && /^\s*\d+\s*$/.test(value) ? Number(value) : null;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function defaultChannel() {
  return typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL_NAME) : null;
}

// The session cookie goes with the token request: on a page of the service's own origin as
// usual; to a service on another origin (baseUrl) only with credentials: 'include'.
function credentialsFor(base) {
  if (!base || (base.startsWith('/') && !base.startsWith('//'))) return 'same-origin';
  try {
    const here = globalThis.location?.origin;
    return new URL(base, globalThis.location?.href).origin === here ? 'same-origin' : 'include';
  } catch {
    return 'include';
  }
}

function bound(name, owner = globalThis) {
  const fn = owner?.[name];
  // Browsers throw "Illegal invocation" when fetch/setTimeout run with another `this`.
  return typeof fn === 'function' ? fn.bind(owner) : undefined;
}

export class TokenClient extends EventTarget {
  #tokenUrl;
  #credentials;
  #graphqlUrl;
  #marginMs;
  #refreshAheadMs;
  #maxAttempts;
  #baseBackoffMs;
  #maxBackoffMs;
  #requestTimeoutMs;
  #fetch;
  #now;
  #dateNow;
  #setTimeout;
  #clearTimeout;
  #random;
  #channel;
  #locks;
  #document;

  #held = null; // {token, organizationId, lifetimeMs, received, confirmed}; the last two: #stamp()
  #organizationId;
  #rejectedToken = null;
  #inflight = null;
  #generation = 0;
  #peerFetchingAt = null;
  #peerWaiters = [];
  #started = false;
  #stopped = false;
  #signedOut = false;
  #refreshTimer = null;
  #refreshWhenVisible = false; // a refresh came due while the page was hidden
  #sleeps = new Set();
  #controllers = new Set();
  #onMessage = (event) => this.#receive(event?.data);
  #onVisibility = () => this.#visibilityChanged();

  constructor(options = {}) {
    super();
    const base = String(options.baseUrl ?? '').replace(/\/+$/, '');
    this.#tokenUrl = options.tokenUrl ?? `${base}/api/graphql-token`;
    this.#credentials = credentialsFor(base || null);
    this.#graphqlUrl = options.graphqlUrl ?? null;
    this.#marginMs = (options.marginSeconds ?? 30) * 1000;
    this.#refreshAheadMs = (options.refreshAheadSeconds ?? 5) * 1000;
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#baseBackoffMs = options.baseBackoffMs ?? 500;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10000;
    this.#fetch = options.fetch ?? bound('fetch');
    this.#now = options.now ?? bound('now', globalThis.performance);
    this.#dateNow = options.dateNow ?? Date.now;
    this.#setTimeout = options.setTimeout ?? bound('setTimeout');
    this.#clearTimeout = options.clearTimeout ?? bound('clearTimeout');
    this.#random = options.random ?? Math.random;
    this.#channel = options.channel === undefined ? defaultChannel() : options.channel;
    this.#locks = options.locks === undefined ? (globalThis.navigator?.locks ?? null) : options.locks;
    this.#organizationId = options.organizationId ?? null;
    this.#channel?.addEventListener('message', this.#onMessage);
    this.#document = options.document === undefined ? (globalThis.document ?? null) : options.document;
    if (typeof this.#document?.addEventListener === 'function') {
      this.#document.addEventListener('visibilitychange', this.#onVisibility);
    }
  }

  /** The current token: the held one while more than the margin is left, else a fresh fetch. */
  getToken() {
    if (this.#stopped) return Promise.reject(this.#stoppedError());
    return this.#ensure(this.#marginMs);
  }

  /** Ask the server now, even if the held token is still good ("fetch now"). */
  refresh() {
    this.#held = null;
    return this.getToken();
  }

  /** Drop `token` if it is the one held (it was refused), so the next call fetches another. */
  invalidate(token) {
    if (token === undefined || this.#held?.token === token) this.#held = null;
    if (token !== undefined) this.#rejectedToken = token;
  }

  /** Forget the token and the organization here and in other tabs (after switching organization). */
  reset() {
    this.#forget();
    this.#post({ type: 'reset' });
    this.#emit('reset', { source: 'local' });
  }

  /** Keep the token fresh while the page is open. */
  start() {
    if (this.#stopped) throw this.#stoppedError();
    this.#started = true;
    this.#scheduleRefresh();
    return this;
  }

  /** Dispose: clear every timer, abort requests, close the channel. The client is unusable after. */
  stop() {
    this.#started = false;
    this.#stopped = true;
    this.#cancelRefresh();
    for (const sleep of this.#sleeps) {
      this.#clearTimeout(sleep.id);
      sleep.reject(this.#stoppedError());
    }
    this.#sleeps.clear();
    for (const controller of this.#controllers) controller.abort();
    this.#channel?.removeEventListener('message', this.#onMessage);
    this.#document?.removeEventListener?.('visibilitychange', this.#onVisibility);
    this.#channel?.close?.();
    this.#channel = null;
  }

  /** POST a query to the GraphQL API; on `Unauthorized`, fetch a fresh token once and retry once. */
  async graphql(query, variables = {}) {
    if (!this.#graphqlUrl) throw new TypeError('graphqlUrl is required for graphql()');
    const token = await this.getToken();
    const result = await this.#postGraphql(token, query, variables);
    if (!isUnauthorized(result)) return result;
    this.invalidate(token);
    const fresh = await this.getToken();
    // The server handed back the token just refused: the same request would be refused again.
    if (fresh === token) return result;
    return this.#postGraphql(fresh, query, variables);
  }

  #ensure(minRemainingMs) {
    if (this.#servable(minRemainingMs)) return Promise.resolve(this.#held.token);
    if (!this.#inflight) {
      const generation = this.#generation;
      const flight = this.#withLock(async () => {
        // Another tab may have fetched while this one waited for the lock.
        if (this.#servable(minRemainingMs)) return this.#held.token;
        if (this.#peerFetching()) {
          await this.#peerToken();
          if (this.#servable(minRemainingMs)) return this.#held.token;
        }
        return this.#fetchToken(generation);
      });
      const clear = () => {
        if (this.#inflight === flight) this.#inflight = null;
      };
      flight.then(clear, clear);
      this.#inflight = flight;
    }
    return this.#inflight;
  }

  async #withLock(work) {
    if (!this.#locks) return work();
    let granted = false;
    try {
      return await this.#locks.request(LOCK_NAME, () => {
        granted = true;
        return work();
      });
    } catch (err) {
      // A lock manager that refuses (e.g. an opaque origin) must not stop the fetch itself.
      if (granted) throw err;
      return work();
    }
  }

  #servable(minRemainingMs) {
    const remaining = this.#remainingMs();
    if (remaining > minRemainingMs) return true;
    // When the server's margin is not below ours it keeps handing back the same token near the
    // boundary; within a few seconds of it doing so, asking again would only cost a request.
    return remaining > 0 && this.#age(this.#held.confirmed) < RECONFIRM_MS;
  }

  #remainingMs() {
    return this.#held ? this.#held.lifetimeMs - this.#age(this.#held.received) : -Infinity;
  }

  #stamp() {
    return { monotonic: this.#now(), wall: this.#dateNow() };
  }

  #age(stamp) {
    // performance.now() may not advance while the machine sleeps; the wall clock does. Time has
    // passed as soon as either clock says so (only this tab's own readings are compared).
    return Math.max(this.#now() - stamp.monotonic, this.#dateNow() - stamp.wall);
  }

  async #fetchToken(generation) {
    this.#post({ type: 'fetching' });
    try {
      return await this.#fetchTokenOnce(generation);
    } catch (err) {
      this.#post({ type: 'fetch-failed' });
      throw err;
    }
  }

  #peerFetching() {
    return this.#peerFetchingAt !== null && this.#now() - this.#peerFetchingAt < PEER_FETCH_MAX_MS;
  }

  #peerToken() {
    return new Promise((resolve) => {
      this.#peerWaiters.push(resolve);
      this.#setTimeout(resolve, HANDOFF_MS);
    });
  }

  #peerDone() {
    this.#peerFetchingAt = null;
    const waiters = this.#peerWaiters.splice(0);
    for (const resolve of waiters) resolve();
  }

  async #fetchTokenOnce(generation) {
    for (let attempt = 1; ; attempt += 1) {
      if (this.#stopped) throw this.#stoppedError();
      let failure;
      try {
        const response = await this.#request(this.#tokenUrl, {
          method: 'GET',
          headers: { 'X-CSRF': '1', Accept: 'application/json' },
          credentials: this.#credentials,
          cache: 'no-store',
        });
        failure = response.ok ? null : await this.#failureOf(response);
        if (!failure) {
          const body = await readJson(response);
          const token = body?.token;
          const expiresIn = body?.expires_in;
          if (typeof token === 'string' && token && Number.isFinite(expiresIn) && expiresIn > 0) {
            const organizationId = body.organization_id ?? null;
            if (generation === this.#generation) {
              if (token === this.#held?.token && this.#remainingMs() > this.#marginMs) {
                // Asked ahead of the margin and the server still serves the same token: it does
                // not rotate this early, so refreshing ahead would only cost a request per cycle.
                this.#refreshAheadMs = 0;
              }
              this.#accept(token, expiresIn * 1000, organizationId, 'fetch');
              this.#post({ type: 'token', token, expiresIn, organizationId, sentAt: this.#dateNow() });
            }
            return token;
          }
          failure = new TokenError('The token route answered without a usable token', {
            status: response.status,
            code: 'invalid_response',
          });
        }
      } catch (err) {
        if (this.#stopped) throw this.#stoppedError();
        failure = new TokenError(`Could not reach the token route: ${err?.message ?? err}`, {
          status: 0,
          code: err?.name === 'AbortError' ? 'timeout' : 'network_error',
        });
      }
      const delay = this.#retryDelay(failure, attempt);
      if (delay === null) {
        this.#report(failure);
        throw failure;
      }
      // So a page can say when the next attempt goes out, rather than just that one failed.
      this.#emit('retry', { ...this.#detail(failure), attempt, delayMs: delay });
      await this.#sleep(delay);
    }
  }

  async #failureOf(response) {
    const body = await readJson(response);
    return new TokenError(body?.message ?? `The token route answered HTTP ${response.status}`, {
      status: response.status,
      code: body?.error ?? `http_${response.status}`,
      requestId: body?.request_id ?? response.headers?.get?.('X-Request-Id') ?? null,
      retryAfter: parseRetryAfter(response.headers?.get?.('Retry-After')),
    });
  }

  #retryDelay(failure, attempt) {
    if (attempt >= this.#maxAttempts || !isTransient(failure.status)) return null;
    if (failure.retryAfter !== null) {
      const waitMs = failure.retryAfter * 1000;
      // Honour Retry-After, never retry earlier; a wait beyond the cap is the caller's to decide.
      if (waitMs > this.#maxBackoffMs) return null;
      return Math.round(waitMs + this.#random() * this.#baseBackoffMs);
    }
    const ceiling = Math.min(this.#maxBackoffMs, this.#baseBackoffMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  #detail(failure) {
    return {
      status: failure.status,
      code: failure.code,
      message: failure.message,
      requestId: failure.requestId,
      retryAfter: failure.retryAfter,
    };
  }

  #report(failure) {
    const { retryAfter, ...detail } = this.#detail(failure);
    if (failure.status === 401) {
      this.#signOut();
      this.#post({ type: 'signedout' });
      this.#emit('signedout', { ...detail, source: 'fetch' });
    } else {
      this.#emit('error', { ...detail, retryAfter });
    }
  }

  async #postGraphql(token, query, variables) {
    let response;
    try {
      response = await this.#request(this.#graphqlUrl, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
        body: JSON.stringify({ query, variables }),
        // Cross-origin to WorkOS: the Bearer token is the credential; never send our cookies.
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (err) {
      if (this.#stopped) throw this.#stoppedError();
      throw new GraphQLRequestError(`Could not reach the GraphQL API: ${err?.message ?? err}`, {
        code: err?.name === 'AbortError' ? 'timeout' : 'network_error',
      });
    }
    const body = await readJson(response);
    const status = response.status;
    if (body && (body.data !== undefined || Array.isArray(body.errors))) {
      return { data: body.data ?? null, errors: body.errors ?? [], status };
    }
    if (status === 401) {
      return { data: null, errors: [{ message: body?.message ?? 'Unauthorized' }], status };
    }
    throw new GraphQLRequestError(`The GraphQL API answered HTTP ${status} without a result`, {
      status,
      code: 'invalid_response',
    });
  }

  async #request(url, init) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer =
      controller && this.#requestTimeoutMs > 0
        ? this.#setTimeout(() => controller.abort(), this.#requestTimeoutMs)
        : null;
    if (controller) this.#controllers.add(controller);
    try {
      return await this.#fetch(url, controller ? { ...init, signal: controller.signal } : init);
    } finally {
      if (timer !== null) this.#clearTimeout(timer);
      this.#controllers.delete(controller);
    }
  }

  #sleep(ms) {
    return new Promise((resolve, reject) => {
      const sleep = { reject, id: null };
      sleep.id = this.#setTimeout(() => {
        this.#sleeps.delete(sleep);
        resolve();
      }, ms);
      this.#sleeps.add(sleep);
    });
  }

  #accept(token, lifetimeMs, organizationId, source) {
    this.#held = {
      token,
      organizationId,
      lifetimeMs,
      received: this.#stamp(),
      confirmed: this.#stamp(),
    };
    if (organizationId) this.#organizationId = organizationId;
    this.#signedOut = false;
    this.#scheduleRefresh();
    this.#emit('token', { expiresIn: Math.floor(lifetimeMs / 1000), organizationId, source });
  }

  #receive(message) {
    if (this.#stopped || !message || typeof message !== 'object') return;
    if (message.type === 'fetching') {
      this.#peerFetchingAt = this.#now();
    } else if (message.type === 'fetch-failed') {
      this.#peerDone();
    } else if (message.type === 'reset') {
      this.#forget();
      this.#emit('reset', { source: 'channel' });
    } else if (message.type === 'signedout') {
      this.#signOut();
      this.#emit('signedout', {
        status: 401,
        code: 'unauthenticated',
        message: 'Signed out in another tab',
        source: 'channel',
      });
    } else if (message.type === 'token') {
      // Waiters resume in a microtask, after this handler has adopted the token.
      this.#peerDone();
      const { token, expiresIn, organizationId = null, sentAt } = message;
      if (typeof token !== 'string' || !token || !Number.isFinite(expiresIn)) return;
      if (token === this.#rejectedToken) return;
      if (this.#held?.token === token) {
        this.#held.confirmed = this.#stamp(); // another tab just asked and got the same token
        return;
      }
      if (this.#organizationId && organizationId !== this.#organizationId) return;
      // Tabs' performance.now() origins differ, so the sender sends seconds left, not a deadline.
      const transit = Number.isFinite(sentAt) ? this.#dateNow() - sentAt : 0;
      const lifetimeMs = expiresIn * 1000 - Math.min(Math.max(transit, 0), MAX_TRANSIT_MS);
      if (lifetimeMs <= 0 || lifetimeMs <= this.#remainingMs()) return;
      this.#accept(token, lifetimeMs, organizationId, 'channel');
    }
  }

  #forget() {
    this.#held = null;
    this.#organizationId = null;
    this.#inflight = null; // a fetch begun before the reset finishes, but its token is not kept
    this.#generation += 1;
    this.#signedOut = false;
    this.#cancelRefresh();
  }

  #signOut() {
    this.#held = null;
    this.#signedOut = true;
    this.#cancelRefresh();
  }

  #scheduleRefresh() {
    if (!this.#started || this.#signedOut || !this.#held) return;
    const due = this.#remainingMs() - (this.#marginMs + this.#refreshAheadMs);
    this.#armRefresh(Math.max(MIN_REFRESH_DELAY_MS, due));
  }

  #armRefresh(delay) {
    this.#cancelRefresh();
    this.#refreshTimer = this.#setTimeout(() => {
      this.#refreshTimer = null;
      // Nobody looks at a hidden page: its refresh waits until it is shown (or a caller asks).
      if (this.#hidden()) this.#refreshWhenVisible = true;
      else this.#refreshNow();
    }, delay);
  }

  #refreshNow() {
    this.#ensure(this.#marginMs + this.#refreshAheadMs).then(
      // A timer that fired a little early found the token still good: arm it again.
      () => this.#refreshTimer === null && this.#scheduleRefresh(),
      (err) => {
        const again = this.#started && !this.#signedOut && this.#refreshTimer === null;
        if (again && isTransient(err?.status)) this.#armRefresh(this.#maxBackoffMs);
      },
    );
  }

  #hidden() {
    return this.#document?.visibilityState === 'hidden';
  }

  #visibilityChanged() {
    if (this.#hidden() || !this.#refreshWhenVisible) return;
    this.#refreshWhenVisible = false;
    if (this.#started && !this.#signedOut && !this.#stopped) this.#refreshNow();
  }

  #cancelRefresh() {
    if (this.#refreshTimer !== null) this.#clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    this.#refreshWhenVisible = false;
  }

  #post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // A closed or broken channel only costs other tabs a fetch of their own.
    }
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #stoppedError() {
    return new TokenError('The token client was stopped', { code: 'stopped' });
  }
}

/** Create a token client; see TokenClient for the options and their defaults. */
export function createTokenClient(options = {}) {
  return new TokenClient(options);
}
