/** Organizations: the list, creating one, an organization's overview and its settings; and the layout of its pages. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, type ListPage } from '../lib/api.ts';
import { Link, match, navigate, seg } from '../lib/router.tsx';
import type { Organization, SettingDescription } from '../lib/types.ts';
import { CopyField, Empty, Field, FormError, Loaded, Page, Time, useAsync } from '../lib/ui.tsx';
import { EventsPage } from './events.tsx';
import { RequestLogPage, UsagePage } from './requests.tsx';
import { SetupLinksPage } from './setup-links.tsx';
import { TokensPage } from './tokens.tsx';
import { WebhookPage, WebhooksPage } from './webhooks.tsx';
import { DirectoryRoutes } from './directory.tsx';

function CreateOrganization({ onCreated }: { onCreated: (org: Organization) => void }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const org = await api<Organization>('POST', '/organizations', { name });
      setName('');
      onCreated(org);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card inline-form" onSubmit={submit} aria-labelledby="create-org-title">
      <h2 id="create-org-title">New organization</h2>
      <Field id="org-name" label="Name" hint="The customer's name, as your team knows it. It can be changed later.">
        <input id="org-name" required maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} aria-describedby="org-name-hint" />
      </Field>
      <FormError error={error} />
      <button type="submit" disabled={busy}>
        Create organization
      </button>
    </form>
  );
}

export function OrganizationsPage() {
  const orgs = useAsync(() => api<ListPage<Organization>>('GET', '/organizations'), []);
  return (
    <Page title="Organizations">
      <Loaded state={orgs} what="Loading organizations">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No organizations yet. Create the first one below; each organization is one customer, with its own SCIM base URL and tokens.</p>
            </Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Organizations</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Rate limits (read / write per second)</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((org) => (
                    <tr key={org.id}>
                      <td>
                        <Link href={`/orgs/${seg(org.id)}`}>{org.name}</Link>
                        <div class="muted mono small">{org.id}</div>
                      </td>
                      <td>
                        {org.settings.read_limit} / {org.settings.write_limit}
                      </td>
                      <td>
                        <Time iso={org.created_at} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
      <CreateOrganization onCreated={(org) => navigate(`/orgs/${seg(org.id)}`)} />
    </Page>
  );
}

const SECTIONS: readonly { path: string; label: string }[] = [
  { path: '', label: 'Overview' },
  { path: 'users', label: 'Users' },
  { path: 'groups', label: 'Groups' },
  { path: 'roles', label: 'Roles' },
  { path: 'tokens', label: 'Tokens' },
  { path: 'requests', label: 'Request log' },
  { path: 'usage', label: 'Rate limits' },
  { path: 'events', label: 'Events' },
  { path: 'webhooks', label: 'Webhooks' },
  { path: 'setup-links', label: 'Setup links' },
  { path: 'settings', label: 'Settings' },
];

/** An organization's pages share its name, the way back and the section navigation. */
export function OrgLayout({ orgId, path }: { orgId: string; path: string }) {
  const org = useAsync(() => api<Organization>('GET', `/organizations/${seg(orgId)}`), [orgId]);
  const section = path.split('/')[0] ?? '';
  const base = `/orgs/${seg(orgId)}`;
  return (
    <div class="org">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <Link href="/">Organizations</Link> <span aria-hidden="true">/</span> <span>{org.data?.name ?? orgId}</span>
      </nav>
      <nav aria-label="Organization" class="tabs">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.path}>
              <Link href={s.path ? `${base}/${s.path}` : base} aria-current={s.path === section ? 'page' : undefined}>
                {s.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <Loaded state={org} what="Loading the organization">
        {(loaded) => <OrgSection org={loaded} path={path} reload={org.reload} />}
      </Loaded>
    </div>
  );
}

function OrgSection({ org, path, reload }: { org: Organization; path: string; reload: () => void }): ComponentChildren {
  const p = `/${path}`;
  if (p === '/') return <OverviewPage org={org} />;
  if (p === '/settings') return <SettingsPage org={org} onSaved={reload} />;
  if (p === '/tokens') return <TokensPage org={org} />;
  if (p === '/requests') return <RequestLogPage org={org} />;
  if (p === '/usage') return <UsagePage org={org} />;
  if (p === '/events') return <EventsPage org={org} />;
  if (p === '/webhooks') return <WebhooksPage org={org} />;
  const webhook = match('/webhooks/:id', p);
  if (webhook) return <WebhookPage org={org} webhookId={webhook.id} />;
  if (p === '/setup-links') return <SetupLinksPage org={org} />;
  const directory = DirectoryRoutes({ org, path: p });
  if (directory) return directory;
  return (
    <Page title="Not found">
      <p>There is no such page for this organization.</p>
    </Page>
  );
}

function OverviewPage({ org }: { org: Organization }) {
  const counts = org.counts;
  return (
    <Page title={org.name}>
      <div class="card">
        <CopyField id="scim-base-url" label="SCIM base URL" value={org.scim_base_url} />
        <p class="hint">Give this URL to the customer's identity provider with a token from the Tokens page, or send them a setup link.</p>
      </div>
      <dl class="stats" aria-label="Counts">
        <div>
          <dt>Users</dt>
          <dd>{counts?.users ?? '—'}</dd>
        </div>
        <div>
          <dt>Groups</dt>
          <dd>{counts?.groups ?? '—'}</dd>
        </div>
        <div>
          <dt>Events</dt>
          <dd>{counts?.events ?? '—'}</dd>
        </div>
      </dl>
      <p class="muted small">
        Organization id <span class="mono">{org.id}</span>, created <Time iso={org.created_at} />.
      </p>
    </Page>
  );
}

/** The settings form, generated from the server's descriptions, so every switch comes with its explanation. */
function SettingsPage({ org, onSaved }: { org: Organization; onSaved: () => void }) {
  const catalog = useAsync(() => api<ListPage<SettingDescription>>('GET', '/settings'), []);
  return (
    <Page title="Settings">
      <Loaded state={catalog} what="Loading the settings">
        {(page) => <SettingsForm org={org} settings={page.data} onSaved={onSaved} />}
      </Loaded>
    </Page>
  );
}

type Values = Record<string, number | boolean | string>;

function currentValues(org: Organization, settings: readonly SettingDescription[]): Values {
  const values: Values = {};
  for (const s of settings) {
    if (s.key.startsWith('compat.')) values[s.key] = org.settings.compat[s.key.slice('compat.'.length)] ?? (s.default as boolean);
    else values[s.key] = (org.settings as unknown as Record<string, number | boolean | string>)[s.key] ?? s.default;
  }
  return values;
}

function SettingsForm({ org, settings, onSaved }: { org: Organization; settings: readonly SettingDescription[]; onSaved: () => void }) {
  const [name, setName] = useState(org.name);
  const [values, setValues] = useState<Values>(() => currentValues(org, settings));
  // What the server had when the form was filled (or last saved): only what differs from it is sent.
  const [baseline, setBaseline] = useState<{ name: string; values: Values }>(() => ({ name: org.name, values: currentValues(org, settings) }));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState(false);
  const set = (key: string, value: number | boolean | string) => {
    setSaved(false);
    setValues((v) => ({ ...v, [key]: value }));
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    // Only the changes made here: sending every value would undo a change made meanwhile elsewhere (another
    // operator, the CLI) and pin every compatibility switch to today's default.
    const compat: Record<string, boolean> = {};
    const body: Record<string, unknown> = {};
    if (name !== baseline.name) body.name = name;
    for (const s of settings) {
      if (values[s.key] === baseline.values[s.key]) continue;
      if (s.key.startsWith('compat.')) compat[s.key.slice('compat.'.length)] = values[s.key] as boolean;
      else body[s.key] = values[s.key];
    }
    if (Object.keys(compat).length > 0) body.compat = compat;
    try {
      await api('PATCH', `/organizations/${seg(org.id)}`, body);
      setBaseline({ name, values });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const plain = settings.filter((s) => !s.key.startsWith('compat.'));
  const compat = settings.filter((s) => s.key.startsWith('compat.'));
  const control = (s: SettingDescription) => {
    const id = `setting-${s.key.replace(/[^a-z0-9]+/gi, '-')}`;
    if (s.kind === 'boolean') {
      return (
        <div class="check" key={s.key}>
          <input id={id} type="checkbox" checked={values[s.key] as boolean} onChange={(e) => set(s.key, e.currentTarget.checked)} aria-describedby={`${id}-hint`} />
          <label for={id}>{s.label}</label>
          <p class="hint" id={`${id}-hint`}>
            {s.description}
          </p>
          {s.details && (
            <details class="more hint">
              <summary>What exactly it accepts</summary>
              <p>{s.details}</p>
            </details>
          )}
        </div>
      );
    }
    if (s.kind === 'choice') {
      return (
        <Field id={id} label={s.label} hint={s.description} key={s.key}>
          <select id={id} value={values[s.key] as string} onChange={(e) => set(s.key, e.currentTarget.value)} aria-describedby={`${id}-hint`}>
            {(s.choices ?? []).map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </Field>
      );
    }
    return (
      <Field id={id} label={s.label} hint={s.description} key={s.key}>
        <input
          id={id}
          type="number"
          inputMode="numeric"
          min={s.min}
          max={s.max}
          required
          value={String(values[s.key])}
          onInput={(e) => set(s.key, Number(e.currentTarget.value))}
          aria-describedby={`${id}-hint`}
        />
      </Field>
    );
  };
  return (
    <form onSubmit={submit} class="settings">
      <fieldset class="card">
        <legend>Organization</legend>
        <Field id="setting-name" label="Name">
          <input id="setting-name" required maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        {plain.map(control)}
      </fieldset>
      <fieldset class="card">
        <legend>IdP compatibility switches</legend>
        <p class="hint">Each one accepts a known deviation from RFC 7644 that an identity provider sends. Switch one off to get the strict answer instead.</p>
        {compat.map(control)}
      </fieldset>
      <FormError error={error} />
      <div class="form-actions">
        <button type="submit" disabled={busy}>
          Save settings
        </button>
        <span role="status">{saved ? 'Saved. The new settings apply from the next request.' : ''}</span>
      </div>
    </form>
  );
}
