/** Users, groups and roles of an organization, on the directory API (issue 14). */
import type { ComponentChildren } from 'preact';
import type { Organization } from '../lib/types.ts';
import { Page } from '../lib/ui.tsx';

export function DirectoryRoutes({ org, path }: { org: Organization; path: string }): ComponentChildren | null {
  if (path === '/users' || path === '/groups' || path === '/roles' || path.startsWith('/users/') || path.startsWith('/groups/')) {
    return (
      <Page title="Directory">
        <p>The directory of {org.name} is not available yet.</p>
      </Page>
    );
  }
  return null;
}
