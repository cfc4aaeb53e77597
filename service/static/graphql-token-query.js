/**
 * One GraphQL request to the WorkOS Client GraphQL API with a token, and how to read its answer:
 * WorkOS reports an expired or bad token as HTTP 200 with `errors: [{message: "Unauthorized"}]`.
 */
import { readJson } from './service-fetch.js';
import { TokenError } from './graphql-token-route.js';

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

/** POST `query` with `token` through `request` (a fetch); resolves to `{data, errors, status}`. */
export async function postGraphql(request, url, token, query, variables) {
  let response;
  try {
    response = await request(url, {
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
    if (err instanceof TokenError) throw err; // `stopped`: the client ended it, not the network
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
