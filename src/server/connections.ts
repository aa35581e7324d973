/**
 * Connection limits of the listening server: how many connections it holds, how many one client address may hold,
 * and how long a request may take to arrive. Without them, a client holding thousands of half-sent requests runs the
 * process into its open-file limit, and every other client's connection is refused (issue 11 item 4).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { compile } from '@fastify/proxy-addr';

export interface ConnectionLimits {
  /** Open connections at most; one more is closed as soon as it is accepted. */
  readonly maxConnections: number;
  /** Open connections per client address at most (0: no cap); one more is closed as soon as it is accepted. */
  readonly maxConnectionsPerAddress: number;
  /** Milliseconds for a request's headers to arrive (408 and close past it). */
  readonly headersTimeoutMs: number;
  /** Milliseconds for a whole request, headers and body, to arrive (408 and close past it). */
  readonly requestTimeoutMs: number;
  /** Milliseconds a kept-alive connection may stay idle between requests. */
  readonly keepAliveTimeoutMs: number;
}

/** File descriptors kept free for everything but connections: the database and its journal, the PostgreSQL pool, Redis, logs. */
export const FILE_HEADROOM = 256;
/** More connections than a SCIM server needs (identity providers open a handful each) at some kilobytes each. */
const MAX_DEFAULT_CONNECTIONS = 10_000;

/** The process's soft limit on open files, from /proc (Linux); null where it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : null;
  } catch {
    return null;
  }
}

/** The default connection cap: FILE_HEADROOM below the open-file limit (half of a small one), and at most 10,000. */
export function defaultMaxConnections(fileLimit: number | null = openFileLimit()): number {
  if (fileLimit === null) return MAX_DEFAULT_CONNECTIONS;
  return Math.max(1, Math.min(MAX_DEFAULT_CONNECTIONS, Math.max(Math.floor(fileLimit / 2), fileLimit - FILE_HEADROOM)));
}

export function defaultConnectionLimits(): ConnectionLimits {
  return {
    maxConnections: defaultMaxConnections(),
    maxConnectionsPerAddress: 256,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    // Above the 60 s idle timeout of common load balancers, so that the balancer, not the server, closes idle
    // connections (a server closing one as the balancer reuses it fails that request).
    keepAliveTimeoutMs: 72_000,
  };
}

export function checkConnectionLimits(limits: ConnectionLimits): void {
  const whole = (name: keyof ConnectionLimits, min: number) => {
    if (!Number.isSafeInteger(limits[name]) || limits[name] < min) throw new RangeError(`${name} must be an integer of at least ${min}, got ${limits[name]}`);
  };
  whole('maxConnections', 1);
  whole('maxConnectionsPerAddress', 0);
  whole('headersTimeoutMs', 1);
  whole('requestTimeoutMs', 1);
  whole('keepAliveTimeoutMs', 1);
  // Node refuses a headers timeout longer than the request timeout: the request includes its headers.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new RangeError('the headers timeout must not exceed the request timeout, which includes the headers');
}

/** The fastify server options that carry the timeouts (Node enforces them; a late request gets 408 and a close). */
export function timeoutOptions(limits: ConnectionLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the timeouts on this interval (30 s by default), so a short timeout needs a short interval.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
  };
}

export interface ConnectionObserver {
  connectionOpened(): void;
  connectionClosed(): void;
  /** A connection closed as soon as it was accepted because `reason`'s cap was reached. */
  connectionRefused(reason: 'max_connections' | 'per_address'): void;
}

/**
 * Applies the connection caps to a server. Connections from trusted proxies (`trustProxy`, as fastify reads it) are
 * not capped per address: behind a proxy, that address carries every client's traffic.
 */
export function capConnections(
  server: Server,
  limits: ConnectionLimits,
  trustProxy: boolean | string | readonly string[],
  observer: ConnectionObserver,
): void {
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => observer.connectionRefused('max_connections'));
  const perAddress = limits.maxConnectionsPerAddress === 0 || trustProxy === true ? Number.POSITIVE_INFINITY : limits.maxConnectionsPerAddress;
  const trusted = trustProxy === false || trustProxy === true ? () => false : compile(typeof trustProxy === 'string' ? trustProxy.split(',').map((s) => s.trim()) : [...trustProxy]);
  const open = new Map<string, number>();
  // Prepended, so that a refused connection is destroyed before the HTTP parser reads from it.
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    const capped = address !== undefined && perAddress !== Number.POSITIVE_INFINITY && !trusted(address, 0);
    const count = capped ? (open.get(address) ?? 0) + 1 : 0;
    if (count > perAddress) {
      observer.connectionRefused('per_address');
      socket.destroy();
      return;
    }
    if (capped) open.set(address, count);
    observer.connectionOpened();
    socket.once('close', () => {
      observer.connectionClosed();
      if (!capped) return;
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
