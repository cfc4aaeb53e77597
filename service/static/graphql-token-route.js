/**
 * The token route as the token client sees it: the request it sends to `GET /api/graphql-token`
 * and what each answer amounts to (a token, or a TokenError with the service's code).
 */
import { readJson, serviceRequest } from './service-fetch.js';
import { parseRetryAfter } from './graphql-token-retry.js';

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

/** The route and the tab-sharing name of a client's kind of token (`kind`, `scopes`). */
export function tokenKind(kind = 'graphql', scopes = []) {
  if (kind === 'graphql') return { path: '/api/graphql-token', shareName: 'graphql-token' };
  if (kind !== 'widget') throw new TypeError(`kind must be 'graphql' or 'widget', not ${kind}`);
  // Sorted and de-duplicated: the same scopes in any order are one token, here and in a tab.
  const asked = [...new Set(scopes)].sort().join(',');
  return {
    path: asked ? `/api/widget-token?scopes=${encodeURIComponent(asked)}` : '/api/widget-token',
    shareName: `graphql-token:widget:${asked}`,
  };
}

/** fetch() options for the token route, with the session cookie sent as `credentials` says. */
export function tokenRequest(credentials) {
  return serviceRequest({ credentials });
}

/** `{token, expiresIn, organizationId}` from the token route's answer, or the TokenError it is. */
export async function readTokenAnswer(response) {
  if (!response.ok) return failureOf(response);
  const body = await readJson(response);
  const token = body?.token;
  const expiresIn = body?.expires_in;
  if (typeof token === 'string' && token && Number.isFinite(expiresIn) && expiresIn > 0) {
    return { token, expiresIn, organizationId: body.organization_id ?? null };
  }
  return new TokenError('The token route answered without a usable token', {
    status: response.status,
    code: 'invalid_response',
  });
}

/** The TokenError for a token route that could not be reached, or did not answer in time. */
export function unreachable(err) {
  return new TokenError(`Could not reach the token route: ${err?.message ?? err}`, {
    status: 0,
    code: err?.name === 'AbortError' ? 'timeout' : 'network_error',
  });
}

/** What the client's events say about a failure (never the token). */
export function failureDetail(failure) {
  return {
    status: failure.status,
    code: failure.code,
    message: failure.message,
    requestId: failure.requestId,
    retryAfter: failure.retryAfter,
  };
}

async function failureOf(response) {
  const body = await readJson(response);
  return new TokenError(body?.message ?? `The token route answered HTTP ${response.status}`, {
    status: response.status,
    code: body?.error ?? `http_${response.status}`,
    requestId: body?.request_id ?? response.headers?.get?.('X-Request-Id') ?? null,
    retryAfter: parseRetryAfter(response.headers?.get?.('Retry-After')),
  });
}
