// The token service, seen from this page on another origin: its browser client for tokens, and
// two JSON routes (who is signed in, switch organization). Every call sends the session cookie
// (credentials: 'include') and X-CSRF: 1; the service lists this origin in CORS_ALLOWED_ORIGINS.
import { createTokenClient } from '@gts/graphql-token';
import { SERVICE_URL } from './config';

/** The scope UsersManagement needs; WorkOS narrows it to the user's permissions there. */
export const USERS_TABLE_SCOPE = 'widgets:users-table:manage';

/**
 * One client per scope set. `users`: a widget token with the users-table scope, for
 * UsersManagement. `user`: a widget token without scopes, for the widgets that act on the
 * signed-in user only (UserProfile, UserSessions, UserSecurity, OrganizationSwitcher).
 * Both keep their token fresh while the page is open (start()).
 */
export const tokens = {
  users: createTokenClient({ baseUrl: SERVICE_URL, kind: 'widget', scopes: [USERS_TABLE_SCOPE] }).start(),
  user: createTokenClient({ baseUrl: SERVICE_URL, kind: 'widget', scopes: [] }).start(),
};

export interface Organization {
  id: string;
  name: string;
}

/** `GET /api/session`: who is signed in, and `session_id`, the WorkOS session of this sign-in. */
export interface Session {
  user: { id: string; email: string; first_name: string | null; last_name: string | null };
  organization: Organization | null;
  organizations: Organization[];
  session_id: string | null;
  expires_in: number;
}

/** A JSON route of the service answered with an error (its body is {error, message}). */
export class ServiceError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(SERVICE_URL + path, {
    ...init,
    credentials: 'include',
    headers: { 'X-CSRF': '1', ...(init.body ? { 'Content-Type': 'application/json' } : {}) },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && typeof body === 'object' ? body : {};
    throw new ServiceError(
      error.message || `${path} answered ${response.status}`,
      response.status,
      error.error || `http_${response.status}`,
    );
  }
  return body as T;
}

/** The signed-in session, or null when the service answers 401 (not signed in, or ended). */
export async function getSession(): Promise<Session | null> {
  try {
    return await call<Session>('/api/session');
  } catch (error) {
    if (error instanceof ServiceError && error.status === 401) return null;
    throw error;
  }
}

/**
 * OrganizationSwitcher's `switchToOrganization`: the service switches the session, then both
 * clients forget their tokens (here and in other tabs), so the next ones are the new
 * organization's.
 */
export async function switchToOrganization({ organizationId }: { organizationId: string }) {
  await call('/api/organization', {
    method: 'POST',
    body: JSON.stringify({ organization_id: organizationId }),
  });
  tokens.users.reset();
  tokens.user.reset();
}

/** Where to sign in: the service's own sign-in flow (it ends on the service's app page). */
export const SIGN_IN_URL = `${SERVICE_URL}/login`;
