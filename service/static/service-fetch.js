/**
 * How the browser code calls the service's JSON API: the headers, credentials and cache mode
 * every such call carries, written once for the token client and the app page.
 */

/** The credentials mode for the service at `base`: its own origin, or another with 'include'. */
export function credentialsFor(base) {
  // The session cookie goes along on a page of the service's own origin as usual; to a service on
  // another origin (a baseUrl) only with credentials: 'include'.
  if (!base || (base.startsWith('/') && !base.startsWith('//'))) return 'same-origin';
  try {
    const here = globalThis.location?.origin;
    return new URL(base, globalThis.location?.href).origin === here ? 'same-origin' : 'include';
  } catch {
    return 'include';
  }
}

/** fetch() options for the service: the X-CSRF header its CSRF check asks for, JSON, no cache. */
export function serviceRequest({ method = 'GET', body, credentials = 'same-origin' } = {}) {
  const init = {
    method,
    headers: { 'X-CSRF': '1', Accept: 'application/json' },
    credentials,
    cache: 'no-store',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return init;
}

/** The JSON body of `response`, or null when it has none (an HTML error page, a cut stream). */
export async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}
