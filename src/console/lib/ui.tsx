/**
 * The console's building blocks. Everything shown goes through Preact's text nodes and attributes, which escape
 * it; nothing here sets HTML from data (values come from IdPs, and an IdP can send anything).
 */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from './api.ts';

export interface Async<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  reload(): void;
}

/**
 * Runs `load` whenever `deps` change (and on reload), keeping only the answer to the latest call. `loading` holds
 * from the render in which `deps` changed until their answer is in, so stale data is never taken for the new.
 */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): Async<T> {
  const [tick, setTick] = useState(0);
  const key = JSON.stringify([...deps, tick]);
  const [state, setState] = useState<{ key: string | null; data: T | undefined; error: unknown }>({ key: null, data: undefined, error: undefined });
  useEffect(() => {
    let current = true;
    load().then(
      (data) => current && setState({ key, data, error: undefined }),
      (error: unknown) => current && setState({ key, data: undefined, error }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.key !== key, reload };
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiFailure) return error.message;
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

/** A page: its heading takes focus after a navigation, so the new content is announced and reachable. */
export function Page({ title, actions, children }: { title: string; actions?: ComponentChildren; children?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => {
    document.title = `${title} · scimkit`;
    heading.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <section class="page">
      <div class="page-head">
        <h1 tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {actions && <div class="page-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="loading" role="status">
      {what}…
    </p>
  );
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="error" role="alert">
      <p>
        <strong>Could not load this.</strong> {messageOf(error)}
      </p>
      {retry && (
        <button type="button" class="secondary" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A form's failure, shown next to the form and announced. */
export function FormError({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return (
    <p class="form-error" role="alert">
      {messageOf(error)}
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** Shows the result of `state`: loading, an error with a retry, or `children(data)`. */
export function Loaded<T>({ state, children, what }: { state: Async<T>; children: (data: T) => ComponentChildren; what?: string }) {
  if (state.error !== undefined) return <ErrorBox error={state.error} retry={state.reload} />;
  if (state.data === undefined) return <Loading what={what} />;
  // The earlier answer stays on screen while the new one loads; a status says it is being replaced.
  return (
    <>
      {state.loading && (
        <p class="sr-only reloading" role="status">
          {what ?? 'Loading'}…
        </p>
      )}
      {children(state.data)}
    </>
  );
}

/** Copies a value to the clipboard, and says so in a live region. */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [done, setDone] = useState<'copied' | 'failed' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setDone('copied');
    } catch {
      setDone('failed');
    }
    setTimeout(() => setDone(null), 2500);
  };
  return (
    <span class="copy">
      <button type="button" class="secondary small" onClick={copy} aria-label={label}>
        Copy
      </button>
      <span class="copy-status" role="status">
        {done === 'copied' ? 'Copied' : done === 'failed' ? 'Copy failed: select the text and copy it' : ''}
      </span>
    </span>
  );
}

/** A value to copy: read-only text with a copy button. */
export function CopyField({ id, label, value }: { id: string; label: string; value: string }) {
  return (
    <div class="field copy-field">
      <label for={id}>{label}</label>
      <div class="copy-row">
        <input id={id} readOnly value={value} onFocus={(e) => e.currentTarget.select()} spellcheck={false} />
        <CopyButton value={value} label={`Copy the ${label}`} />
      </div>
    </div>
  );
}

/** A secret shown once, right after it was made. */
export function SecretOnce({ id, label, secret, children }: { id: string; label: string; secret: string; children?: ComponentChildren }) {
  return (
    <div class="secret" role="region" aria-label={label}>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> {children}
      </p>
      <CopyField id={id} label={label} value={secret} />
    </div>
  );
}

export function Time({ iso, empty = '—' }: { iso: string | null | undefined; empty?: string }) {
  if (!iso) return <span class="muted">{empty}</span>;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return <span>{iso}</span>;
  return (
    <time dateTime={iso} title={iso}>
      {date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })}
    </time>
  );
}

export function Field({ id, label, hint, children }: { id: string; label: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'muted'; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

export function statusTone(status: number): 'ok' | 'warn' | 'bad' {
  return status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok';
}

/** Cursor paging: keeps the cursors of the pages before, for Previous. */
export function usePager(resetKey: string): { cursor: string | undefined; page: number; next(cursor: string): void; previous(): void } {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  const [key, setKey] = useState(resetKey);
  if (key !== resetKey) {
    setKey(resetKey);
    setStack([undefined]);
  }
  return {
    cursor: stack[stack.length - 1],
    page: stack.length,
    next: (cursor) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}

export function Pager({ pager, nextCursor }: { pager: ReturnType<typeof usePager>; nextCursor: string | null }) {
  if (pager.page === 1 && nextCursor === null) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" disabled={pager.page === 1} onClick={pager.previous}>
        Previous
      </button>
      <span>Page {pager.page}</span>
      <button type="button" class="secondary" disabled={nextCursor === null} onClick={() => nextCursor && pager.next(nextCursor)}>
        Next
      </button>
    </nav>
  );
}

/** JSON as text, for the raw views. */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Text with **bold** and `code` marks as elements; the rest stays text. */
export function Marked({ text }: { text: string }) {
  const parts: JSX.Element[] = [];
  const pattern = /\*\*([^*]+)\*\*|`([^`]+)`/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = pattern.exec(text)) !== null) {
    if (m.index > last) parts.push(<>{text.slice(last, m.index)}</>);
    parts.push(m[1] !== undefined ? <strong>{m[1]}</strong> : <code>{m[2]}</code>);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(<>{text.slice(last)}</>);
  return <>{parts}</>;
}

/** A button that runs an action, disables itself meanwhile, and reports a failure next to it. */
export function ActionButton({
  onAction,
  children,
  class: className = 'secondary',
  confirm: confirmText,
  label,
}: {
  onAction: () => Promise<unknown>;
  children: ComponentChildren;
  class?: string;
  confirm?: string;
  label?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    setBusy(true);
    setError(undefined);
    try {
      await onAction();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={className} disabled={busy} onClick={run} aria-label={label}>
        {children}
      </button>
      {error !== undefined && (
        <span class="form-error" role="alert">
          {messageOf(error)}
        </span>
      )}
    </span>
  );
}
