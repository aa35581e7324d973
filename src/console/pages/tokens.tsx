/** An organization's SCIM bearer tokens: create (the secret shown once), revoke, and when each was last used. */
import { useState } from 'preact/hooks';
import { api, type ListPage } from '../lib/api.ts';
import { seg } from '../lib/router.tsx';
import type { Organization, Token } from '../lib/types.ts';
import { ActionButton, Badge, Empty, Field, FormError, Loaded, Page, SecretOnce, Time, useAsync } from '../lib/ui.tsx';

/** A token made to expire, or rotated (the old one expires after its grace), stops working at expires_at. */
function expired(token: Token, now: number): boolean {
  return token.expires_at !== null && Date.parse(token.expires_at) <= now;
}

/** Revoked, expired, or live (with its end, if it has one). */
function TokenState({ token, now }: { token: Token; now: number }) {
  if (token.revoked_at) return <Badge tone="muted">revoked</Badge>;
  if (expired(token, now)) return <Badge tone="muted">expired</Badge>;
  if (token.expires_at === null) return <Badge tone="ok">live</Badge>;
  return (
    <>
      <Badge tone="ok">live</Badge>
      <div class="muted small">
        until <Time iso={token.expires_at} />
      </div>
    </>
  );
}

export function TokensPage({ org }: { org: Organization }) {
  const tokens = useAsync(() => api<ListPage<Token>>('GET', `/organizations/${seg(org.id)}/tokens`), [org.id]);
  const [scope, setScope] = useState<'read-write' | 'read'>('read-write');
  const [created, setCreated] = useState<(Token & { token: string }) | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setCreated(await api<Token & { token: string }>('POST', `/organizations/${seg(org.id)}/tokens`, { scope }));
      tokens.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const now = Date.now();
  return (
    <Page title="Tokens">
      <p class="lead">Bearer tokens for the customer's identity provider. The server keeps only a hash of each, so a lost token cannot be shown again: create a new one and revoke the old.</p>
      <form class="card inline-form" onSubmit={create} aria-labelledby="new-token-title">
        <h2 id="new-token-title">New token</h2>
        <Field id="token-scope" label="Scope" hint="Read-write for an identity provider; read for a tool that only looks.">
          <select id="token-scope" value={scope} onChange={(e) => setScope(e.currentTarget.value as 'read' | 'read-write')} aria-describedby="token-scope-hint">
            <option value="read-write">read-write</option>
            <option value="read">read</option>
          </select>
        </Field>
        <FormError error={error} />
        <button type="submit" disabled={busy}>
          Create token
        </button>
      </form>
      {created && (
        <SecretOnce id="new-token-secret" label="Bearer token" secret={created.token}>
          Paste it into the identity provider with the SCIM base URL.
        </SecretOnce>
      )}
      <Loaded state={tokens} what="Loading tokens">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No tokens yet. Without one, no identity provider can reach this organization.</p>
            </Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Tokens</caption>
                <thead>
                  <tr>
                    <th scope="col">Token</th>
                    <th scope="col">Scope</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col">State</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((token) => (
                    <tr key={token.id}>
                      <td class="mono small">
                        {token.id}
                        {token.setup_link_id && <div class="muted">made through a setup link</div>}
                        {token.user_id && <div class="muted">bound to user {token.user_id}</div>}
                      </td>
                      <td>{token.scope}</td>
                      <td>
                        <Time iso={token.created_at} />
                      </td>
                      <td>
                        <Time iso={token.last_used_at} empty="never" />
                      </td>
                      <td>
                        <TokenState token={token} now={now} />
                      </td>
                      <td>
                        {!token.revoked_at && !expired(token, now) && (
                          <ActionButton
                            class="danger small"
                            confirm="Revoke this token? Requests that use it fail at once."
                            label={`Revoke token ${token.id}`}
                            onAction={async () => {
                              await api('DELETE', `/organizations/${seg(org.id)}/tokens/${seg(token.id)}`);
                              tokens.reload();
                            }}
                          >
                            Revoke
                          </ActionButton>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </Page>
  );
}
