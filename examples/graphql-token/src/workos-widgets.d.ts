// The part of @workos-inc/widgets these examples use, copied from what its 1.18.0 declares
// (dist/esm/api/api-provider.d.ts, users-management.client.d.ts, workos-widgets.client.d.ts).
// The real package also needs Radix Themes and TanStack Query: a front end that renders
// Widgets has them; this type check does not need them to check the `authToken` prop.
declare module '@workos-inc/widgets' {
  import type * as React from 'react';

  /** A token, or a function Widgets call for one (again when the API refuses the last one). */
  export type AuthToken = string | (() => Promise<string>);

  export interface WorkOsWidgetsProps {
    children: React.ReactNode;
    className?: string;
    apiHostname?: string;
    port?: number | null;
    https?: boolean;
  }
  export const WorkOsWidgets: React.FC<WorkOsWidgetsProps>;

  export interface UsersManagementProps {
    authToken: AuthToken;
  }
  export const UsersManagement: React.FC<UsersManagementProps>;
}
