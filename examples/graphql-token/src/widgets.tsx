// WorkOS Widgets in a React front end served by (or proxied to) the token service: the
// widget asks for a token whenever it needs one, and the client answers from memory.
import { createTokenClient } from '@gts/graphql-token';
import { UsersManagement, WorkOsWidgets } from '@workos-inc/widgets';

// UsersManagement needs a widget token with the users-table scope (the full React example, with
// every widget, is examples/widgets/).
const client = createTokenClient({ kind: 'widget', scopes: ['widgets:users-table:manage'] }).start();

export function TeamPage() {
  return (
    <WorkOsWidgets>
      <UsersManagement authToken={() => client.getToken()} />
    </WorkOsWidgets>
  );
}

// Signing out (or switching organization) elsewhere on the page: forget the token here and in
// the other tabs, so the widget's next call fetches one for the new session.
export function onOrganizationSwitched(): void {
  client.reset();
}
