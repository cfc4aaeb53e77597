/**
 * Browser client for the GraphQL token service (docs/reference/http-api.md, docs/reference/browser-client.md).
 *
 * Holds the WorkOS Client API token in memory only (never Web Storage or cookies), shares one
 * fetch of `GET /api/graphql-token` among concurrent callers and among open tabs
 * (BroadcastChannel + Web Locks), refreshes it shortly before it stops being served (not while
 * the page is hidden: an idle tab costs nothing; it catches up when it is shown), and runs
 * GraphQL requests against the WorkOS Client GraphQL API, which reports an expired or bad
 * token as HTTP 200 with `errors: [{message: "Unauthorized"}]`. With `kind: 'widget'` it holds
 * a widget token for WorkOS's React widgets instead (`GET /api/widget-token?scopes=...`), with
 * the same caching, sharing and refresh, among the tabs' clients of the same kind and scopes.
 *
 * Events (CustomEvent, `detail` never carries the token):
 *   token     {expiresIn, organizationId, source: "fetch" | "channel"}
 *   signedout {status, code, message, source: "fetch" | "channel"}
 *   retry     {status, code, message, requestId, retryAfter, attempt, delayMs}
 *   error     {status, code, message, requestId, retryAfter}
 *   reset     {source: "local" | "channel"}
 *
 * This module is the client (when to fetch, refresh or adopt a token) and the package's entry
 * point. Beside it: graphql-token-held.js (the token held, timed on two clocks),
 * graphql-token-tabs.js (sharing among tabs), graphql-token-refresh.js (the refresh timer,
 * paused while hidden), graphql-token-retry.js (back-off, stoppable waits),
 * graphql-token-route.js (the token route), graphql-token-query.js (the GraphQL call) and
 * service-fetch.js (requests to the service).
 */
import { credentialsFor } from './service-fetch.js';
import { GraphQLRequestError, isUnauthorized, postGraphql } from './graphql-token-query.js';
import { isTransient, Pending, retryDelay } from './graphql-token-retry.js';
import {
  failureDetail,
  readTokenAnswer,
  TokenError,
  tokenKind,
  tokenRequest,
  unreachable,
} from './graphql-token-route.js';
import { HeldToken } from './graphql-token-held.js';
import { RefreshTimer } from './graphql-token-refresh.js';
import { TabShare } from './graphql-token-tabs.js';

export { GraphQLRequestError, isUnauthorized, TokenError };


const MIN_REFRESH_DELAY_MS = 5000;

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
  #backoff; // {maxAttempts, baseBackoffMs, maxBackoffMs, random}: see retryDelay()
  #clock; // {now, dateNow}: see HeldToken
  #pending;
  #tabs;
  #refresher;

  #held = null; // a HeldToken
  #organizationId;
  #rejectedToken = null;
  #inflight = null;
  #generation = 0;
  #started = false;
  #stopped = false;
  #signedOut = false;

  constructor(options = {}) {
    super();
    const base = String(options.baseUrl ?? '').replace(/\/+$/, '');
    const kind = tokenKind(options.kind, options.scopes);
    this.#tokenUrl = options.tokenUrl ?? `${base}${kind.path}`;
    this.#credentials = credentialsFor(base || null);
    this.#graphqlUrl = options.graphqlUrl ?? null;
    this.#marginMs = (options.marginSeconds ?? 30) * 1000;
    this.#refreshAheadMs = (options.refreshAheadSeconds ?? 5) * 1000;
    this.#backoff = {
      maxAttempts: options.maxAttempts ?? 4,
      baseBackoffMs: options.baseBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30000,
      random: options.random ?? Math.random,
    };
    this.#clock = {
      now: options.now ?? bound('now', globalThis.performance),
      dateNow: options.dateNow ?? Date.now,
    };
    const setTimeout = options.setTimeout ?? bound('setTimeout');
    const clearTimeout = options.clearTimeout ?? bound('clearTimeout');
    this.#pending = new Pending({
      fetch: options.fetch ?? bound('fetch'),
      setTimeout,
      clearTimeout,
      timeoutMs: options.requestTimeoutMs ?? 10000,
      stoppedError: () => this.#stoppedError(),
    });
    this.#organizationId = options.organizationId ?? null;
    this.#tabs = new TabShare({
      name: kind.shareName,
      channel: options.channel,
      locks: options.locks,
      ...this.#clock,
      setTimeout,
      deliver: (message) => this.#receive(message),
    });
    this.#refresher = new RefreshTimer({
      document: options.document,
      setTimeout,
      clearTimeout,
      refresh: () => this.#refreshNow(),
      active: () => this.#started && !this.#signedOut && !this.#stopped,
    });
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
    this.#tabs.post({ type: 'reset' });
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
    this.#refresher.cancel();
    this.#pending.cancel();
    this.#tabs.close();
    this.#refresher.close();
  }

  /** POST a query to the GraphQL API; on `Unauthorized`, fetch a fresh token once and retry once. */
  async graphql(query, variables = {}) {
    if (!this.#graphqlUrl) throw new TypeError('graphqlUrl is required for graphql()');
    const token = await this.getToken();
    const result = await this.#query(token, query, variables);
    if (!isUnauthorized(result)) return result;
    this.invalidate(token);
    const fresh = await this.getToken();
    // The server handed back the token just refused: the same request would be refused again.
    if (fresh === token) return result;
    return this.#query(fresh, query, variables);
  }

  #ensure(minRemainingMs) {
    if (this.#servable(minRemainingMs)) return Promise.resolve(this.#held.token);
    if (!this.#inflight) {
      const generation = this.#generation;
      const flight = this.#tabs.withLock(async () => {
        // Another tab may have fetched while this one waited for the lock.
        if (this.#servable(minRemainingMs)) return this.#held.token;
        if (this.#tabs.peerFetching()) {
          await this.#tabs.peerToken();
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

  #servable(minRemainingMs) {
    return this.#held?.servable(minRemainingMs) ?? false;
  }

  #remainingMs() {
    return this.#held?.remainingMs() ?? -Infinity;
  }

  async #fetchToken(generation) {
    this.#tabs.post({ type: 'fetching' });
    try {
      return await this.#fetchTokenOnce(generation);
    } catch (err) {
      this.#tabs.post({ type: 'fetch-failed' });
      throw err;
    }
  }

  async #fetchTokenOnce(generation) {
    for (let attempt = 1; ; attempt += 1) {
      if (this.#stopped) throw this.#stoppedError();
      let failure;
      try {
        const response = await this.#pending.request(this.#tokenUrl, tokenRequest(this.#credentials));
        const answer = await readTokenAnswer(response);
        if (!(answer instanceof TokenError)) {
          const { token, expiresIn, organizationId } = answer;
          if (generation === this.#generation) {
            if (token === this.#held?.token && this.#remainingMs() > this.#marginMs) {
              // Asked ahead of the margin and the server still serves the same token: it does
              // not rotate this early, so refreshing ahead would only cost a request per cycle.
              this.#refreshAheadMs = 0;
            }
            this.#accept(token, expiresIn * 1000, organizationId, 'fetch');
            this.#tabs.shareToken(token, expiresIn, organizationId);
          }
          return token;
        }
        failure = answer;
      } catch (err) {
        if (this.#stopped) throw this.#stoppedError();
        failure = unreachable(err);
      }
      const delay = retryDelay(failure, attempt, this.#backoff);
      if (delay === null) {
        this.#report(failure);
        throw failure;
      }
      // So a page can say when the next attempt goes out, rather than just that one failed.
      this.#emit('retry', { ...failureDetail(failure), attempt, delayMs: delay });
      await this.#pending.sleep(delay);
    }
  }

  #report(failure) {
    const { retryAfter, ...detail } = failureDetail(failure);
    if (failure.status === 401) {
      this.#signOut();
      this.#tabs.post({ type: 'signedout' });
      this.#emit('signedout', { ...detail, source: 'fetch' });
    } else {
      this.#emit('error', { ...detail, retryAfter });
    }
  }

  #query(token, query, variables) {
    const request = (url, init) => this.#pending.request(url, init);
    return postGraphql(request, this.#graphqlUrl, token, query, variables);
  }

  #accept(token, lifetimeMs, organizationId, source) {
    this.#held = new HeldToken(token, lifetimeMs, this.#clock);
    if (organizationId) this.#organizationId = organizationId;
    this.#signedOut = false;
    this.#scheduleRefresh();
    this.#emit('token', { expiresIn: Math.floor(lifetimeMs / 1000), organizationId, source });
  }

  #receive(message) {
    if (message.type === 'reset') {
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
      const { token, expiresIn, organizationId = null } = message;
      if (typeof token !== 'string' || !token || !Number.isFinite(expiresIn)) return;
      if (token === this.#rejectedToken) return;
      if (this.#held?.token === token) {
        this.#held.confirm(); // another tab just asked and got the same token
        return;
      }
      if (this.#organizationId && organizationId !== this.#organizationId) return;
      const lifetimeMs = this.#tabs.lifetimeOf(message);
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
    this.#refresher.cancel();
  }

  #signOut() {
    this.#held = null;
    this.#signedOut = true;
    this.#refresher.cancel();
  }

  #scheduleRefresh() {
    if (!this.#started || this.#signedOut || !this.#held) return;
    const due = this.#remainingMs() - (this.#marginMs + this.#refreshAheadMs);
    this.#refresher.arm(Math.max(MIN_REFRESH_DELAY_MS, due));
  }

  #refreshNow() {
    this.#ensure(this.#marginMs + this.#refreshAheadMs).then(
      // A timer that fired a little early found the token still good: arm it again.
      () => !this.#refresher.armed && this.#scheduleRefresh(),
      (err) => {
        const again = this.#started && !this.#signedOut && !this.#refresher.armed;
        if (again && isTransient(err?.status)) this.#refresher.arm(this.#backoff.maxBackoffMs);
      },
    );
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
