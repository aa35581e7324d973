/** Webhook endpoints: create, secret reveal and rotation, a test event, enable, disable, delete, deliveries with replay. */
import { useEffect, useState } from 'preact/hooks';
import { api, query, type ListPage } from '../lib/api.ts';
import { Link, navigate, seg } from '../lib/router.tsx';
import type { Delivery, Organization, Webhook } from '../lib/types.ts';
import { ActionButton, Badge, CopyField, Empty, Field, FormError, Loaded, Page, Pager, SecretOnce, Time, useAsync, usePager } from '../lib/ui.tsx';
import { EVENT_TYPES } from './events.tsx';

/**
 * Whether the endpoint takes deliveries: disabled (by an operator, or by a receiver's 410), paused until a time (a
 * receiver's 429 or 503 with Retry-After: nothing is sent to it before then), or enabled.
 */
function EndpointState({ hook }: { hook: Webhook }) {
  if (!hook.enabled) return <Badge tone="bad">disabled{hook.disabled_reason ? `: ${hook.disabled_reason}` : ''}</Badge>;
  if (isPaused(hook)) {
    return (
      <Badge tone="warn">
        paused until <Time iso={hook.paused_until} />
      </Badge>
    );
  }
  return <Badge tone="ok">enabled</Badge>;
}

function isPaused(hook: Webhook): boolean {
  return hook.enabled && hook.paused_until !== null && Date.parse(hook.paused_until) > Date.now();
}

export function WebhooksPage({ org }: { org: Organization }) {
  const hooks = useAsync(() => api<ListPage<Webhook>>('GET', `/organizations/${seg(org.id)}/webhooks`), [org.id]);
  const [url, setUrl] = useState('');
  const [types, setTypes] = useState<string[]>([]);
  const [created, setCreated] = useState<(Webhook & { secret: string }) | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setCreated(await api<Webhook & { secret: string }>('POST', `/organizations/${seg(org.id)}/webhooks`, { url, events: types.length ? types : null }));
      setUrl('');
      setTypes([]);
      hooks.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page title="Webhooks">
      <p class="lead">Signed event deliveries (Standard Webhooks) to the app's endpoints, retried until they succeed; events about one resource arrive in order.</p>
      <form class="card" onSubmit={create} aria-labelledby="new-webhook-title">
        <h2 id="new-webhook-title">New endpoint</h2>
        <Field id="webhook-url" label="URL" hint="https:// (plain http only when the server runs with --allow-http-webhooks).">
          <input id="webhook-url" type="url" required value={url} onInput={(e) => setUrl(e.currentTarget.value)} aria-describedby="webhook-url-hint" />
        </Field>
        <fieldset class="event-types">
          <legend>Events (none checked: all of them)</legend>
          {EVENT_TYPES.map((t) => (
            <div class="check" key={t}>
              <input
                id={`webhook-type-${t}`}
                type="checkbox"
                checked={types.includes(t)}
                onChange={(e) => setTypes((current) => (e.currentTarget.checked ? [...current, t] : current.filter((x) => x !== t)))}
              />
              <label for={`webhook-type-${t}`}>{t}</label>
            </div>
          ))}
        </fieldset>
        <FormError error={error} />
        <button type="submit" disabled={busy}>
          Add endpoint
        </button>
      </form>
      {created && (
        <SecretOnce id="new-webhook-secret" label="Signing secret" secret={created.secret}>
          The receiver verifies signatures with it. It can be revealed again on the endpoint's page.
        </SecretOnce>
      )}
      <Loaded state={hooks} what="Loading endpoints">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No webhook endpoints. Events are still kept and can be read from the events API.</p>
            </Empty>
          ) : (
            <ul class="cards">
              {page.data.map((hook) => (
                <li key={hook.id} class="card">
                  <Link href={`/orgs/${seg(org.id)}/webhooks/${seg(hook.id)}`} class="break">
                    {hook.url}
                  </Link>
                  <div>
                    <EndpointState hook={hook} />{' '}
                    <span class="muted small">{hook.events ? hook.events.join(', ') : 'all events'}</span>
                  </div>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
    </Page>
  );
}

interface TestResult {
  readonly delivered: boolean;
  readonly status: number | null;
  readonly error: string | null;
  readonly duration_ms: number;
}

export function WebhookPage({ org, webhookId }: { org: Organization; webhookId: string }) {
  const base = `/organizations/${seg(org.id)}/webhooks/${seg(webhookId)}`;
  const hook = useAsync(() => api<Webhook>('GET', base), [base]);
  const [status, setStatus] = useState('');
  const pager = usePager(status);
  // Newest first: the deliveries of the last minutes, the ones an operator looks for, are on the first page.
  const deliveries = useAsync(
    () => api<ListPage<Delivery>>('GET', `${base}/deliveries${query({ status, order: 'desc', before: pager.cursor, limit: 50 })}`),
    [base, status, pager.cursor],
  );
  // While a delivery is pending (a replay just asked for, or one being retried), look again every 2 seconds.
  const pending = deliveries.data?.data.some((d) => d.status === 'pending') ?? false;
  useEffect(() => {
    if (!pending || deliveries.loading) return;
    const timer = setTimeout(deliveries.reload, 2000);
    return () => clearTimeout(timer);
  }, [pending, deliveries.loading, deliveries.reload]);
  const [secret, setSecret] = useState<{ value: string; rotated: boolean } | null>(null);
  const [test, setTest] = useState<TestResult | null>(null);
  return (
    <Loaded state={hook} what="Loading the endpoint">
      {(h) => (
        <Page title="Webhook endpoint">
          <div class="card">
            <p class="break">
              <strong>{h.url}</strong>
            </p>
            <p>
              <EndpointState hook={h} />{' '}
              <span class="muted small">{h.events ? h.events.join(', ') : 'all events'}</span>
            </p>
            {isPaused(h) && (
              <p class="hint">The receiver asked to wait (a 429 or 503 with Retry-After): nothing is sent to it before then, and the deliveries wait.</p>
            )}
            {h.previous_secret_valid_until && (
              <p class="hint">
                The previous secret still signs until <Time iso={h.previous_secret_valid_until} />.
              </p>
            )}
            <div class="button-row">
              <ActionButton onAction={async () => setSecret({ value: (await api<{ secret: string }>('GET', `${base}/secret`)).secret, rotated: false })}>Reveal secret</ActionButton>
              <ActionButton
                confirm="Rotate the signing secret? The old one keeps signing for 24 hours, so the receiver has time to switch."
                onAction={async () => {
                  const rotated = await api<{ secret: string }>('POST', `${base}/rotate-secret`, {});
                  setSecret({ value: rotated.secret, rotated: true });
                  hook.reload();
                }}
              >
                Rotate secret
              </ActionButton>
              <ActionButton onAction={async () => setTest(await api<TestResult>('POST', `${base}/test`, {}))}>Send test event</ActionButton>
              <ActionButton
                onAction={async () => {
                  await api('PATCH', base, { enabled: !h.enabled });
                  hook.reload();
                }}
              >
                {h.enabled ? 'Disable' : 'Enable'}
              </ActionButton>
              <ActionButton
                class="danger"
                confirm="Delete this endpoint? Its deliveries go with it, and nothing more is sent to it."
                onAction={async () => {
                  await api('DELETE', base);
                  navigate(`/orgs/${seg(org.id)}/webhooks`);
                }}
              >
                Delete
              </ActionButton>
            </div>
            {secret && <CopyField id="webhook-secret" label={secret.rotated ? 'New signing secret' : 'Signing secret'} value={secret.value} />}
            {test && (
              <p role="status" class={test.delivered ? 'ok-text' : 'form-error'}>
                {test.delivered
                  ? `The test event was delivered: the endpoint answered ${test.status} in ${test.duration_ms} ms.`
                  : `The test event was not accepted: ${test.status !== null ? `the endpoint answered ${test.status}` : (test.error ?? 'no answer')}.`}
              </p>
            )}
          </div>
          <h2>Deliveries</h2>
          <div class="filters">
            <Field id="delivery-status" label="Status">
              <select id="delivery-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
                <option value="">All</option>
                <option value="pending">pending</option>
                <option value="succeeded">succeeded</option>
                <option value="failed">failed</option>
              </select>
            </Field>
            <button type="button" class="secondary" onClick={deliveries.reload}>
              Refresh
            </button>
          </div>
          <Loaded state={deliveries} what="Loading deliveries">
            {(page) => (
              <>
                {page.data.length === 0 ? (
                  <Empty>
                    <p>No deliveries{status ? ` that are ${status}` : ''} yet.</p>
                  </Empty>
                ) : (
                  <div class="table-wrap">
                    <table>
                      <caption class="sr-only">Deliveries</caption>
                      <thead>
                        <tr>
                          <th scope="col">Event</th>
                          <th scope="col">Status</th>
                          <th scope="col">Attempts</th>
                          <th scope="col">Response</th>
                          <th scope="col">Last attempt</th>
                          <th scope="col">
                            <span class="sr-only">Actions</span>
                          </th>
                        </tr>
                      </thead>
                      <tbody>
                        {page.data.map((d) => (
                          <tr key={d.id}>
                            <td>
                              {d.event_type} <span class="muted small">#{d.sequence}</span>
                            </td>
                            <td>
                              <Badge tone={d.status === 'succeeded' ? 'ok' : d.status === 'failed' ? 'bad' : 'warn'}>{d.status}</Badge>
                            </td>
                            <td>{d.attempts}</td>
                            <td class="break">
                              {d.last_status ?? ''} {d.last_error && <span class="muted">{d.last_error}</span>}
                            </td>
                            <td>
                              <Time iso={d.last_attempt_at} empty="not yet" />
                            </td>
                            <td>
                              <ActionButton
                                class="secondary small"
                                label={`Replay delivery ${d.id}`}
                                onAction={async () => {
                                  await api('POST', `${base}/deliveries/${seg(d.id)}/replay`, {});
                                  deliveries.reload();
                                }}
                              >
                                Replay
                              </ActionButton>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                )}
                <Pager pager={pager} nextCursor={page.next_cursor} />
              </>
            )}
          </Loaded>
        </Page>
      )}
    </Loaded>
  );
}
