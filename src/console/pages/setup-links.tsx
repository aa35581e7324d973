/** Setup links: an expiring, revocable link that lets a customer's IT admin set up their IdP for this organization. */
import { useState } from 'preact/hooks';
import { api, type ListPage } from '../lib/api.ts';
import { seg } from '../lib/router.tsx';
import type { Organization, SetupLink } from '../lib/types.ts';
import { ActionButton, Badge, Empty, Field, FormError, Loaded, Page, SecretOnce, Time, useAsync } from '../lib/ui.tsx';

function linkState(link: SetupLink, now: number): { tone: 'ok' | 'muted' | 'warn'; text: string } {
  if (link.revoked_at) return { tone: 'muted', text: 'revoked' };
  if (Date.parse(link.expires_at) <= now) return { tone: 'muted', text: 'expired' };
  if (link.first_request_at) return { tone: 'ok', text: 'connected' };
  return { tone: 'warn', text: 'waiting' };
}

export function SetupLinksPage({ org }: { org: Organization }) {
  const links = useAsync(() => api<ListPage<SetupLink>>('GET', `/organizations/${seg(org.id)}/setup-links`), [org.id]);
  const [hours, setHours] = useState(72);
  const [created, setCreated] = useState<SetupLink | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setCreated(await api<SetupLink>('POST', `/organizations/${seg(org.id)}/setup-links`, { expires_in_hours: hours }));
      links.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const now = Date.now();
  return (
    <Page title="Setup links">
      <p class="lead">
        Send a setup link to the customer's IT admin. It opens a page for this organization only, with a guide for their identity provider, a button that creates the
        SCIM token, and a status that turns green when the first request arrives. It needs no account, grants nothing else, and stops working when it expires or is
        revoked.
      </p>
      <form class="card inline-form" onSubmit={create} aria-labelledby="new-link-title">
        <h2 id="new-link-title">New setup link</h2>
        <Field id="link-hours" label="Valid for (hours)" hint="From 1 hour to 30 days (720 hours).">
          <input id="link-hours" type="number" min={1} max={720} required value={String(hours)} onInput={(e) => setHours(Number(e.currentTarget.value))} aria-describedby="link-hours-hint" />
        </Field>
        <FormError error={error} />
        <button type="submit" disabled={busy}>
          Create setup link
        </button>
      </form>
      {created?.url && (
        <SecretOnce id="new-setup-link" label="Setup link" secret={created.url}>
          Send it to the customer's IT admin. Anyone with the link can create this organization's SCIM token until it expires (<Time iso={created.expires_at} />).
        </SecretOnce>
      )}
      <Loaded state={links} what="Loading setup links">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No setup links yet.</p>
            </Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Setup links</caption>
                <thead>
                  <tr>
                    <th scope="col">Link</th>
                    <th scope="col">Created</th>
                    <th scope="col">Expires</th>
                    <th scope="col">State</th>
                    <th scope="col">First request</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((link) => {
                    const state = linkState(link, now);
                    return (
                      <tr key={link.id}>
                        <td class="mono small">{link.id}</td>
                        <td>
                          <Time iso={link.created_at} />
                        </td>
                        <td>
                          <Time iso={link.expires_at} />
                        </td>
                        <td>
                          <Badge tone={state.tone}>{state.text}</Badge>
                        </td>
                        <td>
                          <Time iso={link.first_request_at} empty="none yet" />
                        </td>
                        <td>
                          {!link.revoked_at && Date.parse(link.expires_at) > now && (
                            <ActionButton
                              class="danger small"
                              confirm="Revoke this setup link? It stops working at once; a token already made through it keeps working (revoke it on the Tokens page)."
                              label={`Revoke setup link ${link.id}`}
                              onAction={async () => {
                                await api('DELETE', `/organizations/${seg(org.id)}/setup-links/${seg(link.id)}`);
                                links.reload();
                              }}
                            >
                              Revoke
                            </ActionButton>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </Page>
  );
}
