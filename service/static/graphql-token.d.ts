/**
 * Types of the browser client for the GraphQL token service (`graphql-token.js`, beside this
 * file). docs/reference/browser-client.md documents the behaviour; these are its shapes.
 */

/** A BroadcastChannel, or anything with its message surface (tests pass a fake). */
export interface TokenChannel {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  close?(): void;
}

/** `document`, or anything with a `visibilityState` and `visibilitychange` events (tests). */
export interface TokenDocument {
  readonly visibilityState?: DocumentVisibilityState | string;
  addEventListener?(type: 'visibilitychange', listener: () => void): void;
  removeEventListener?(type: 'visibilitychange', listener: () => void): void;
}

/** `navigator.locks`, or anything with its `request(name, callback)` (tests pass a fake). */
export interface TokenLocks {
  request<T>(name: string, callback: (lock: Lock | null) => T): Promise<Awaited<T>>;
}

export interface TokenClientOptions {
  /** Where the service is: its origin and path prefix, e.g. `https://bff.example.com/bff`. On another origin than the page, requests carry the session cookie with `credentials: 'include'` (the service must list the page's origin in `CORS_ALLOWED_ORIGINS`). Default `''`: this page's origin. */
  baseUrl?: string;
  /**
   * Which token: `'graphql'`, a Client API token for the Widgets GraphQL API; `'widget'`, a
   * widget token for WorkOS's React widgets (`@workos-inc/widgets`). Default `'graphql'`.
   */
  kind?: 'graphql' | 'widget';
  /** With `kind: 'widget'`: the widget scopes to ask for, e.g. `['widgets:users-table:manage']`; none: a user-only token. Default `[]`. */
  scopes?: readonly string[];
  /** The service's token route (sent with the session cookie). Default `${baseUrl}/api/graphql-token`, or `${baseUrl}/api/widget-token?scopes=…` for `kind: 'widget'`. */
  tokenUrl?: string;
  /** The WorkOS Client GraphQL API, e.g. `https://api.workos.com/client/graphql`; needed by `graphql()`. Default `null`. */
  graphqlUrl?: string | null;
  /** Only tokens of this organization are taken from other tabs (set from the first token when unset). Default `null`. */
  organizationId?: string | null;
  /** A held token is served while more than this is left; below it, `getToken()` fetches. Default `30`. */
  marginSeconds?: number;
  /** After `start()`, the background refresh runs this much before the margin. Default `5`. */
  refreshAheadSeconds?: number;
  /** Attempts per token fetch, the first included; only network errors, timeouts, 429 and 503 are retried. Default `4`. */
  maxAttempts?: number;
  /** Exponential back-off base between attempts, in ms (with jitter). Default `500`. */
  baseBackoffMs?: number;
  /** Back-off cap in ms; a `Retry-After` longer than this is not waited for (the call fails). Default `30000`. */
  maxBackoffMs?: number;
  /** Each request (token route, GraphQL) is aborted after this many ms; `0` never. Default `10000`. */
  requestTimeoutMs?: number;
  /** Default `globalThis.fetch`. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Wall clock in ms. Default `Date.now`. */
  dateNow?: () => number;
  /** Default `globalThis.setTimeout`. */
  setTimeout?: (callback: () => void, ms: number) => any;
  /** Default `globalThis.clearTimeout`. */
  clearTimeout?: (handle: any) => void;
  /** Jitter source in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Shares tokens between tabs; `null` turns that off. Default `new BroadcastChannel('graphql-token')` where available. */
  channel?: TokenChannel | null;
  /** Lets one tab at a time fetch; `null` turns that off. Default `navigator.locks` where available. */
  locks?: TokenLocks | null;
  /**
   * Whose `visibilityState` pauses the proactive refresh while `'hidden'` (it runs when a
   * `visibilitychange` shows the page again). Default `document`; `null`: always refresh.
   */
  document?: TokenDocument | null;
}

/** `token` event: a token was taken in, from the token route or from another tab. */
export interface TokenEventDetail {
  /** Whole seconds of lifetime left when it was taken in. */
  expiresIn: number;
  organizationId: string | null;
  source: 'fetch' | 'channel';
}

/** `signedout` event: the token route answered 401 here (`fetch`) or in another tab (`channel`). */
export interface SignedOutEventDetail {
  status: number;
  code: string;
  message: string;
  /** Present for `source: 'fetch'`. */
  requestId?: string | null;
  source: 'fetch' | 'channel';
}

/** `error` event: a token fetch failed for good (after its retries), for any reason but 401. */
export interface TokenErrorEventDetail {
  status: number;
  code: string;
  message: string;
  requestId: string | null;
  /** Whole seconds from the answer's `Retry-After`, or `null`. */
  retryAfter: number | null;
}

/** `retry` event: a token fetch attempt failed with a retryable status; another follows after `delayMs`. */
export interface RetryEventDetail extends TokenErrorEventDetail {
  /** The attempt that failed, counting from 1. */
  attempt: number;
  /** Milliseconds until the next attempt (Retry-After or back-off, with jitter). */
  delayMs: number;
}

/** `reset` event: `reset()` was called here (`local`) or in another tab (`channel`). */
export interface ResetEventDetail {
  source: 'local' | 'channel';
}

export interface TokenClientEventMap {
  token: CustomEvent<TokenEventDetail>;
  signedout: CustomEvent<SignedOutEventDetail>;
  error: CustomEvent<TokenErrorEventDetail>;
  retry: CustomEvent<RetryEventDetail>;
  reset: CustomEvent<ResetEventDetail>;
}

/** One entry of a GraphQL `errors` array. */
export interface GraphQLErrorEntry {
  message: string;
  path?: ReadonlyArray<string | number>;
  locations?: ReadonlyArray<{ line: number; column: number }>;
  extensions?: Record<string, unknown>;
}

/** What `graphql()` resolves to: the GraphQL body and the HTTP status it came with. */
export interface GraphQLResult<TData = Record<string, unknown>> {
  data: TData | null;
  /** Empty when the API reported none. WorkOS reports a refused token here, with HTTP 200. */
  errors: GraphQLErrorEntry[];
  status: number;
}

/**
 * Error codes a TokenError carries: the service's own (`unauthenticated`, `csrf_required`,
 * `no_organization`, `not_a_member`, `rate_limited`, `upstream_error`,
 * `upstream_misconfigured`, `upstream_unavailable`, ...), `http_<status>` for an error answer
 * without a JSON body, and the client's own below.
 */
export type TokenErrorCode =
  | 'network_error'
  | 'timeout'
  | 'invalid_response'
  | 'stopped'
  | 'unknown'
  | (string & {});

/** Failure of the token route: `status` is the HTTP status (0: no response), `code` its error code. */
export class TokenError extends Error {
  constructor(
    message: string,
    options?: {
      status?: number;
      code?: TokenErrorCode;
      requestId?: string | null;
      retryAfter?: number | null;
    },
  );
  name: 'TokenError';
  status: number;
  code: TokenErrorCode;
  /** The service's `request_id` (or `X-Request-Id` header), for its logs. */
  requestId: string | null;
  /** Whole seconds from `Retry-After`, when the answer had one. */
  retryAfter: number | null;
}

export type GraphQLRequestErrorCode =
  | 'network_error'
  | 'timeout'
  | 'invalid_response'
  | 'graphql_request_failed'
  | (string & {});

/** Failure to get a GraphQL answer at all (network, or an HTTP error without a GraphQL body). */
export class GraphQLRequestError extends Error {
  constructor(message: string, options?: { status?: number; code?: GraphQLRequestErrorCode });
  name: 'GraphQLRequestError';
  status: number;
  code: GraphQLRequestErrorCode;
}

/** True when a GraphQL result says the token was refused (expired, bad, or not scoped). */
export function isUnauthorized(
  result:
    | { status?: number; errors?: ReadonlyArray<Partial<GraphQLErrorEntry> | null> | null }
    | null
    | undefined,
): boolean;

export class TokenClient extends EventTarget {
  constructor(options?: TokenClientOptions);

  /** The current token: the held one while more than the margin is left, else a fresh fetch. */
  getToken(): Promise<string>;

  /** Ask the server now, even if the held token is still good ("fetch now"). */
  refresh(): Promise<string>;

  /** Drop `token` if it is the one held (it was refused), so the next call fetches another; no argument drops any. */
  invalidate(token?: string): void;

  /** Forget the token and the organization here and in other tabs (after switching organization). */
  reset(): void;

  /** Keep the token fresh while the page is open. Throws a TokenError (`stopped`) after `stop()`. */
  start(): this;

  /** Dispose: clear every timer, abort requests, close the channel. The client is unusable after. */
  stop(): void;

  /** POST a query to the GraphQL API; on `Unauthorized`, fetch a fresh token once and retry once. */
  graphql<TData = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphQLResult<TData>>;

  addEventListener<K extends keyof TokenClientEventMap>(
    type: K,
    listener: (this: TokenClient, event: TokenClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof TokenClientEventMap>(
    type: K,
    listener: (this: TokenClient, event: TokenClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Create a token client; see TokenClient for the options and their defaults. */
export function createTokenClient(options?: TokenClientOptions): TokenClient;
