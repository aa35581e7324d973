/**
 * The console's only way to the server: JSON over /api/v1, the same management API a script uses with a key. The
 * console authenticates with its session cookie (HttpOnly, so never visible here) and sends the session's CSRF
 * token on every request that changes something.
 */

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

export interface ListPage<T> {
  readonly data: T[];
  readonly next_cursor: string | null;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Where the session's CSRF token lives: set after login or after reading /session. */
let csrfToken: string | null = null;
/** Called when the server says the session is gone, so the app can show the login page. */
let onSignedOut: () => void = () => {};

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function setSignedOutHandler(handler: () => void): void {
  onSignedOut = handler;
}

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export async function api<T>(method: Method, path: string, body?: unknown, options: { authorization?: string } = {}): Promise<T> {
  try {
    return await send<T>(method, path, body, options);
  } catch (err) {
    // Signing out and in again in another tab replaces the session cookie this page shares, so the CSRF token it
    // holds is the old session's. The server refused before doing anything: read the current token, send once more.
    if (err instanceof ApiFailure && err.code === 'csrf_failed' && csrfToken !== null && !options.authorization) {
      const current = (await send<{ csrf_token: string }>('GET', '/session', undefined, {})).csrf_token;
      if (current !== csrfToken) {
        csrfToken = current;
        return send<T>(method, path, body, options);
      }
    }
    throw err;
  }
}

async function send<T>(method: Method, path: string, body: unknown, options: { authorization?: string }): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  if (options.authorization) headers.authorization = options.authorization;
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiFailure(0, 'network_error', 'The server could not be reached. Check your connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  let parsed: unknown = null;
  const text = await response.text();
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    const failure = new ApiFailure(response.status, error?.code ?? 'http_error', error?.message ?? `The server answered ${response.status}.`);
    if (response.status === 401 && !options.authorization && path !== '/session') onSignedOut();
    throw failure;
  }
  return parsed as T;
}
