import type { TokenClient } from '@gts/graphql-token';
import {
  OrganizationSwitcher,
  UserProfile,
  UserSecurity,
  UserSessions,
  UsersManagement,
  WorkOsWidgets,
} from '@workos-inc/widgets';
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { WORKOS_API } from './config';
import {
  getSession,
  SIGN_IN_URL,
  switchToOrganization,
  tokens,
  USERS_TABLE_SCOPE,
  type Session,
} from './service';

type State =
  | { kind: 'loading' }
  | { kind: 'signed-out' }
  | { kind: 'failed'; message: string }
  | { kind: 'ready'; session: Session };

export function App() {
  const [state, setState] = useState<State>({ kind: 'loading' });

  const load = useCallback(async () => {
    try {
      const session = await getSession();
      setState(session ? { kind: 'ready', session } : { kind: 'signed-out' });
    } catch (error) {
      setState({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
  }, []);

  useEffect(() => {
    void load();
    // A token fetch answered 401 (signed out, or the session ended at WorkOS): stop showing
    // the widgets, offer to sign in again.
    const signedOut = () => setState({ kind: 'signed-out' });
    tokens.user.addEventListener('signedout', signedOut);
    tokens.users.addEventListener('signedout', signedOut);
    return () => {
      tokens.user.removeEventListener('signedout', signedOut);
      tokens.users.removeEventListener('signedout', signedOut);
    };
  }, [load]);

  // The service switches the session and the clients drop their tokens; reading the session
  // again gives the new organization, whose id keys <WorkOsWidgets> below: it mounts afresh,
  // with a new query cache, so every widget asks for a token (the new organization's) again.
  const onSwitch = useCallback(
    async (choice: { organizationId: string }) => {
      await switchToOrganization(choice);
      await load();
    },
    [load],
  );

  if (state.kind === 'loading') return <p data-testid="loading">Loading…</p>;
  if (state.kind === 'failed') return <p data-testid="failed">The service did not answer: {state.message}</p>;
  if (state.kind === 'signed-out') {
    return (
      <main className="page">
        <p data-testid="signed-out">
          You are not signed in. <a href={SIGN_IN_URL} data-testid="sign-in-link">Sign in at the token service</a>,
          then come back to this page.
        </p>
      </main>
    );
  }
  const { session } = state;
  const organization = session.organization;
  return (
    <WorkOsWidgets {...WORKOS_API} key={organization?.id ?? 'no-organization'}>
      <main className="page">
        <header className="top">
          <span data-testid="user-email">{session.user.email}</span>
          <span data-testid="organization-name">{organization ? organization.name : 'no organization'}</span>
          {session.organizations.length > 0 && (
            <span data-testid="widget-organization-switcher">
              <OrganizationSwitcher authToken={() => tokens.user.getToken()} switchToOrganization={onSwitch} />
            </span>
          )}
        </header>
        {organization ? (
          <Section title="Members" testId="widget-users-management">
            <Members organization={organization.name} />
          </Section>
        ) : (
          <p data-testid="no-organization">Members: you are not acting for any organization.</p>
        )}
        <Section title="Profile" testId="widget-user-profile">
          <UserProfile authToken={() => tokens.user.getToken()} />
        </Section>
        <Section title="Sessions" testId="widget-user-sessions">
          <CurrentUserSessions sessionId={session.session_id} />
        </Section>
        <Section title="Security" testId="widget-user-security">
          <UserSecurity authToken={() => tokens.user.getToken()} />
        </Section>
      </main>
    </WorkOsWidgets>
  );
}

function Section({ title, testId, children }: { title: string; testId: string; children: ReactNode }) {
  return (
    <section className="widget" data-testid={testId}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

/**
 * UsersManagement, for a user whose role grants the users-table permission. WorkOS narrows the
 * scope asked for to the role's permissions; without it the widget would only show its error.
 */
function Members({ organization }: { organization: string }) {
  const token = useToken(tokens.users);
  if (!token) return <p>Loading…</p>;
  if (!permissionsOf(token).includes(USERS_TABLE_SCOPE)) {
    return (
      <p data-testid="no-manage-permission">
        Your role in {organization} does not let you manage its members ({USERS_TABLE_SCOPE}).
      </p>
    );
  }
  return <UsersManagement authToken={() => tokens.users.getToken()} />;
}

/** The token's `permissions` claim (read, not verified: the widgets read it the same way). */
function permissionsOf(token: string): string[] {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const permissions: unknown = JSON.parse(json).permissions;
    return Array.isArray(permissions) ? permissions.filter((p) => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * UserSessions marks the session whose id it is given as the current one, but its types take
 * `currentSessionId` only with a string token. So the token is kept in state (the first one,
 * then each one the client takes in) and a new token mounts a new UserSessions.
 */
function CurrentUserSessions({ sessionId }: { sessionId: string | null }) {
  const token = useToken(tokens.user);
  if (!sessionId) return <UserSessions authToken={() => tokens.user.getToken()} />; // the sid claim
  if (!token) return <p>Loading…</p>;
  return <UserSessions authToken={token} currentSessionId={sessionId} key={token} />;
}

/** The client's current token as React state: getToken() first, then at each `token` event. */
function useToken(client: TokenClient): string | null {
  const [token, setToken] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const take = () => {
      client.getToken().then(
        (value) => live && setToken(value),
        () => undefined, // a 401 is the `signedout` event's (App); other failures its `error`
      );
    };
    take();
    client.addEventListener('token', take);
    return () => {
      live = false;
      client.removeEventListener('token', take);
    };
  }, [client]);
  return token;
}
