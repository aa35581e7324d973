/**
 * Operator sessions of the admin console: the cookie, the CSRF token, and the sign-in limiter.
 *
 * - The session id is a random secret in a cookie that is HttpOnly (scripts cannot read it), SameSite=Strict (other
 *   sites' pages do not send it), Path=/ and, under https, Secure with the `__Host-` name prefix (no Domain, so no
 *   sibling host can set or shadow it). The store keeps only its SHA-256 hash.
 * - State-changing requests carry the session's CSRF token in `X-CSRF-Token`: an HMAC of the session secret, which
 *   the console reads from `GET /api/v1/session` and a page on another origin cannot. Same-site pages (another port
 *   of the same host) do get the cookie sent, which is why the token is required, not only SameSite. An `Origin`
 *   header, when a browser sends one, must also be this server's.
 * - Sign-in attempts are limited per client address and per account (LoginLimiter).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const SESSION_COOKIE = 'scimkit_session';
/** Under https: the __Host- prefix binds the cookie to this exact origin. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
export const CSRF_HEADER = 'x-csrf-token';
/** How long a session lasts from sign-in (no sliding renewal: an operator signs in again each working day). */
export const SESSION_LIFETIME_MS = 12 * 60 * 60 * 1000;

function isHttps(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/** The cookies of a request, by name (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (cookies.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies.set(name, value);
  }
  return cookies;
}

/** The session secret a request carries, if any (the secure cookie only counts under https). */
export function sessionSecret(request: FastifyRequest): string | null {
  const cookies = parseCookies(request.headers.cookie);
  if (isHttps(request)) return cookies.get(SECURE_SESSION_COOKIE) ?? null;
  return cookies.get(SESSION_COOKIE) ?? null;
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, secret: string, maxAgeMs: number): void {
  const secure = isHttps(request);
  const name = secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  const attributes = [`${name}=${secret}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.floor(maxAgeMs / 1000)}`];
  if (secure) attributes.push('Secure');
  reply.header('set-cookie', attributes.join('; '));
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  const secure = isHttps(request);
  const name = secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  reply.header('set-cookie', `${name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`);
}

/** The CSRF token of a session: derived from its secret, so nothing more is stored. */
export function csrfToken(sessionSecretValue: string): string {
  return createHmac('sha256', sessionSecretValue).update('scimkit console csrf v1').digest('base64url');
}

export function csrfMatches(sessionSecretValue: string, sent: unknown): boolean {
  if (typeof sent !== 'string' || sent.length === 0) return false;
  const expected = Buffer.from(csrfToken(sessionSecretValue));
  const given = Buffer.from(sent);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether a request changes state (and so needs the CSRF token). */
export function isStateChanging(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/**
 * Whether the request's Origin (sent by browsers on cross-origin requests and on same-origin POSTs) names this
 * server. No Origin at all is allowed: scripts and old browsers send none, and the CSRF token still applies.
 */
export function originAllowed(request: FastifyRequest, publicUrl: string | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (publicUrl) {
    try {
      if (new URL(publicUrl).origin === origin) return true;
    } catch {
      // An invalid public URL matches nothing.
    }
  }
  return origin === `${request.protocol}://${request.host}`;
}

export interface LoginLimits {
  /** Failed sign-ins per client address per window. */
  readonly perAddress: number;
  /** Failed sign-ins per account per window, from all addresses together. */
  readonly perAccount: number;
  readonly windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAddress: 10, perAccount: 50, windowMs: 15 * 60 * 1000 };

/**
 * Failed sign-ins, counted in memory per server instance: per client address (one guesser) and per account (many
 * addresses guessing one password). Past either count the next attempt is refused (429) until the window of its
 * oldest counted failure ends, before any password is checked, so refused guesses cost no scrypt. A success clears
 * the address's count. The per-account count is high enough that locking an operator out takes a sustained effort;
 * an operator can always be given a new password with `scimkit admins password`.
 */
export class LoginLimiter {
  readonly #limits: LoginLimits;
  readonly #now: () => number;
  readonly #failures = new Map<string, number[]>();
  static readonly MAX_KEYS = 10_000;

  constructor(limits: Partial<LoginLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
    this.#now = now;
  }

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((at) => at > now - this.#limits.windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Milliseconds until an attempt from `address` for `account` may be made; 0 when it may now. */
  retryAfterMs(address: string, account: string): number {
    const now = this.#now();
    let wait = 0;
    for (const [key, limit] of [[`a:${address}`, this.#limits.perAddress], [`u:${account}`, this.#limits.perAccount]] as const) {
      const list = this.#recent(key, now);
      if (list.length >= limit) wait = Math.max(wait, list[list.length - limit] + this.#limits.windowMs - now);
    }
    return wait;
  }

  failed(address: string, account: string): void {
    const now = this.#now();
    for (const key of [`a:${address}`, `u:${account}`]) {
      const list = [...this.#recent(key, now), now];
      // Set anew, so that the Map's order is the order of each key's latest failure.
      this.#failures.delete(key);
      this.#failures.set(key, list);
    }
    if (this.#failures.size > LoginLimiter.MAX_KEYS) this.#makeRoom(now);
  }

  /**
   * Forgets keys until a tenth of the room is free: first those with no failure left in the window, then those with
   * the fewest failures, the least recently failed first. Forgetting by age alone let a flood of failures for other
   * accounts (one each, from many addresses) wipe the count of the account attacked first; a key at its limit now
   * goes only after every key with fewer failures, which takes MAX_KEYS keys failed as often as it was.
   */
  #makeRoom(now: number): void {
    for (const key of [...this.#failures.keys()]) this.#recent(key, now);
    const keep = Math.floor(LoginLimiter.MAX_KEYS * 0.9);
    if (this.#failures.size <= keep) return;
    // A stable sort: among equal counts, Map order (least recent failure first) decides.
    const fewestFirst = [...this.#failures].sort((a, b) => a[1].length - b[1].length);
    for (const [key] of fewestFirst.slice(0, this.#failures.size - keep)) this.#failures.delete(key);
  }

  succeeded(address: string): void {
    this.#failures.delete(`a:${address}`);
  }
}
