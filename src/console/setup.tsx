/**
 * The setup page a customer's IT admin opens from a setup link. The link's secret is in the URL's fragment (after
 * #), which browsers never send to a server or in a Referer; the page sends it as a bearer credential to
 * /api/v1/setup, the only routes it opens. It shows this organization only.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { GUIDES, findGuide, valueText, type Guide, type IdpId } from './guides.ts';
import { api, ApiFailure } from './lib/api.ts';
import { CopyButton, CopyField, Marked, SecretOnce, Time, messageOf } from './lib/ui.tsx';
import './style.css';

interface SetupError {
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly scim_type: string | null;
  readonly detail: string | null;
  readonly explanation: string;
}

interface SetupState {
  readonly organization: { readonly id: string; readonly name: string };
  readonly scim_base_url: string;
  readonly expires_at: string;
  readonly token: { readonly id: string; readonly created_at: string; readonly revoked: boolean } | null;
  readonly connected: boolean;
  readonly first_request_at: string | null;
  readonly last_request_at: string | null;
  readonly recent_errors: readonly SetupError[];
}

const POLL_MS = 3000;
const TOKEN_PLACEHOLDER = 'the token from step "Create the token" above';

function linkSecret(): string {
  const hash = location.hash.replace(/^#/, '');
  return new URLSearchParams(hash).get('k') ?? hash;
}

function call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
  return api<T>(method, path, method === 'POST' ? {} : undefined, { authorization: `Bearer ${linkSecret()}` });
}

function GuideSteps({ guide, baseUrl, token }: { guide: Guide; baseUrl: string; token: string | null }) {
  return (
    <section aria-labelledby="guide-title" class="card guide">
      <h2 id="guide-title">3. Set up {guide.name}</h2>
      <p>
        <Marked text={guide.before} />
      </p>
      <ol class="steps">
        {guide.steps.map((step, i) => (
          <li key={i}>
            <p>
              <Marked text={step.text} />
            </p>
            {step.values && (
              <dl class="values">
                {step.values.map((value) => {
                  const text = valueText(value, baseUrl, value.kind === 'token' ? (token ?? TOKEN_PLACEHOLDER) : '');
                  const copyable = value.kind === 'base-url' || value.kind === 'text' || (value.kind === 'token' && token !== null);
                  return (
                    <div key={value.label}>
                      <dt>{value.label}</dt>
                      <dd>
                        <code class="break">{text}</code> {copyable && <CopyButton value={text} label={`Copy the ${value.label}`} />}
                      </dd>
                    </div>
                  );
                })}
              </dl>
            )}
          </li>
        ))}
      </ol>
      {guide.notes.length > 0 && (
        <>
          <h3>Good to know</h3>
          <ul>
            {guide.notes.map((note) => (
              <li key={note}>
                <Marked text={note} />
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** A link that expired, was revoked or was copied incompletely: it answers 401, 403 or 410, and stays that way. */
function linkIsDead(error: unknown): boolean {
  return error instanceof ApiFailure && (error.status === 401 || error.status === 403 || error.status === 410);
}

function Status({ state, unreachable }: { state: SetupState; unreachable: boolean }) {
  return (
    <section aria-labelledby="status-title" class={`card status ${state.connected ? 'connected' : 'waiting'}`}>
      <h2 id="status-title">4. Connection status</h2>
      {unreachable && <p class="hint">The status could not be checked just now (the server did not answer); this page keeps trying.</p>}
      <p role="status" aria-live="polite" class="status-line">
        <span class="dot" aria-hidden="true" />
        {state.connected ? (
          <span>
            Connected: the first request from your identity provider arrived <Time iso={state.first_request_at} />.
          </span>
        ) : state.token ? (
          <span>Waiting for the first request from your identity provider…</span>
        ) : (
          <span>Not connected yet: create the token first.</span>
        )}
      </p>
      {state.recent_errors.length > 0 && (
        <>
          <h3>Recent errors</h3>
          <ul class="setup-errors">
            {state.recent_errors.map((e, i) => (
              <li key={i}>
                <p>
                  <strong>{e.explanation}</strong>
                </p>
                <p class="muted small">
                  <Time iso={e.at} /> · {e.method} <span class="mono break">{e.path}</span> · {e.status}
                  {e.scim_type ? ` ${e.scim_type}` : ''}
                  {e.detail ? ` · ${e.detail}` : ''}
                </p>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function SetupPage() {
  const [state, setState] = useState<SetupState | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [idp, setIdp] = useState<IdpId | null>(null);
  const [token, setToken] = useState<string | null>(null);
  const [tokenError, setTokenError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    document.title = 'Set up SCIM provisioning';
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const next = await call<SetupState>('GET', '/setup');
        if (stopped) return;
        setState(next);
        setError(undefined);
        timer = setTimeout(poll, POLL_MS);
      } catch (err) {
        if (stopped) return;
        setError(err);
        // A dead link stays dead; anything else (the network, a server restarting, a 429) is tried again.
        if (!linkIsDead(err)) timer = setTimeout(poll, POLL_MS);
      }
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [token]);

  if (linkIsDead(error)) {
    return (
      <main id="main" class="setup">
        <div class="card">
          <h1>This setup link does not work</h1>
          <p>It has expired, was revoked, or was copied incompletely. Ask the person who sent it for a new one.</p>
        </div>
      </main>
    );
  }
  if (state === null) {
    return (
      <main id="main" class="setup">
        {error !== undefined ? (
          <p class="error" role="alert">
            {messageOf(error)}
          </p>
        ) : (
          <p role="status">Loading…</p>
        )}
      </main>
    );
  }

  const createToken = async () => {
    if (state.token && !window.confirm('Create a new token? The token made earlier through this link stops working at once.')) return;
    setBusy(true);
    setTokenError(undefined);
    try {
      const made = await call<{ token: string }>('POST', '/setup/token');
      setToken(made.token);
    } catch (err) {
      setTokenError(err);
    } finally {
      setBusy(false);
    }
  };
  const guide = idp ? findGuide(idp) : undefined;
  return (
    <main id="main" class="setup">
      <header>
        <h1>Set up SCIM provisioning for {state.organization.name}</h1>
        <p class="muted">
          This page is only for setting up provisioning for {state.organization.name}. The link works until <Time iso={state.expires_at} />.
        </p>
      </header>
      <section class="card" aria-labelledby="idp-title">
        <h2 id="idp-title">1. Choose your identity provider</h2>
        <div class="idp-choice" role="radiogroup" aria-labelledby="idp-title">
          {GUIDES.map((g) => (
            <label key={g.id} class={`idp ${idp === g.id ? 'chosen' : ''}`}>
              <input type="radio" name="idp" value={g.id} checked={idp === g.id} onChange={() => setIdp(g.id)} />
              {g.name}
            </label>
          ))}
        </div>
      </section>
      <section class="card" aria-labelledby="values-title">
        <h2 id="values-title">2. Create the token</h2>
        <CopyField id="setup-base-url" label="SCIM base URL" value={state.scim_base_url} />
        {token ? (
          <SecretOnce id="setup-token" label="SCIM token" secret={token}>
            Paste it into your identity provider now; this page will not show it again.
          </SecretOnce>
        ) : (
          <>
            {state.token && <p class="hint">A token was already created through this link (<Time iso={state.token.created_at} />). Creating a new one replaces it.</p>}
            <button type="button" onClick={createToken} disabled={busy}>
              {state.token ? 'Create a new token' : 'Create the SCIM token'}
            </button>
          </>
        )}
        {tokenError !== undefined && (
          <p class="form-error" role="alert">
            {messageOf(tokenError)}
          </p>
        )}
      </section>
      {guide ? (
        <GuideSteps guide={guide} baseUrl={state.scim_base_url} token={token} />
      ) : (
        <p class="hint">Choose your identity provider above to see its step-by-step guide.</p>
      )}
      <Status state={state} unreachable={error !== undefined} />
    </main>
  );
}

render(<SetupPage />, document.getElementById('app') as HTMLElement);
