/** The operator console: sign-in, then the organizations and everything in them, all through /api/v1. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiFailure, setCsrfToken, setSignedOutHandler } from './lib/api.ts';
import { Link, match, navigate, useLocation } from './lib/router.tsx';
import type { Session } from './lib/types.ts';
import { ErrorBox, Field, FormError, Loading } from './lib/ui.tsx';
import { OrganizationsPage, OrgLayout } from './pages/orgs.tsx';
import './style.css';

function LoginPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    document.title = 'Sign in · scimkit';
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await api<Session>('POST', '/session', { email, password });
      onSignedIn(session);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <form class="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">scimkit console</h1>
        <p class="muted">Sign in with your operator account (created with <code>scimkit admins create</code>).</p>
        <Field id="login-email" label="Email">
          {/* Not type="email": the browser refuses a non-ASCII name before the @ and sends a non-ASCII domain as
              punycode, so operators whose email `scimkit admins create` accepted could not sign in. */}
          <input
            id="login-email"
            type="text"
            inputMode="email"
            autocomplete="username"
            autoCapitalize="none"
            spellcheck={false}
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </Field>
        <Field id="login-password" label="Password">
          <input
            id="login-password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </Field>
        <FormError error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function Routes() {
  const { path } = useLocation();
  if (path === '/' || path === '/orgs') return <OrganizationsPage />;
  const org = match('/orgs/:org', path.split('/').slice(0, 3).join('/'));
  if (org) return <OrgLayout orgId={org.org} path={path.split('/').slice(3).join('/')} />;
  return (
    <section class="page">
      <h1>Not found</h1>
      <p>
        There is no console page at this address. <Link href="/">Back to the organizations</Link>
      </p>
    </section>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    setSignedOutHandler(() => {
      setCsrfToken(null);
      setSession(null);
    });
    api<Session>('GET', '/session').then(
      (s) => {
        setCsrfToken(s.csrf_token);
        setSession(s);
      },
      (err: unknown) => {
        if (err instanceof ApiFailure && err.status === 401) setSession(null);
        else setError(err);
      },
    );
  }, []);

  if (error !== undefined) return <ErrorBox error={error} retry={() => location.reload()} />;
  if (session === undefined) return <Loading />;
  if (session === null) {
    return (
      <LoginPage
        onSignedIn={(s) => {
          setCsrfToken(s.csrf_token);
          setSession(s);
        }}
      />
    );
  }
  const signOut = async () => {
    try {
      await api('DELETE', '/session');
    } finally {
      setCsrfToken(null);
      setSession(null);
      navigate('/', true);
    }
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          scimkit
        </Link>
        <nav aria-label="Account" class="account">
          <span class="muted">{session.admin.email}</span>
          <button type="button" class="secondary small" onClick={signOut}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main">
        <Routes />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
