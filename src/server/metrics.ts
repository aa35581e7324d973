/**
 * A small Prometheus registry (text exposition format 0.0.4), one per server instance: request counts by
 * method, route and status, a latency histogram by route, and rate-limit rejections by class.
 */
import type { RateLimiter } from './ratelimit/types.ts';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observes one value into a histogram's cumulative buckets. */
export function observe(h: Histogram, value: number, buckets: readonly number[] = LATENCY_BUCKETS): void {
  for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]) h.counts[i]++;
  h.sum += value;
  h.count++;
}

export function newHistogram(buckets: readonly number[] = LATENCY_BUCKETS): Histogram {
  return { counts: buckets.map(() => 0), sum: 0, count: 0 };
}

/** The text lines of one histogram series. */
export function histogramLines(name: string, pairs: Record<string, string>, h: Histogram, buckets: readonly number[] = LATENCY_BUCKETS): string[] {
  const out: string[] = [];
  buckets.forEach((le, i) => out.push(`${name}_bucket${labels({ ...pairs, le: formatNumber(le) })} ${h.counts[i]}`));
  out.push(`${name}_bucket${labels({ ...pairs, le: '+Inf' })} ${h.count}`);
  out.push(`${name}_sum${labels(pairs)} ${formatNumber(h.sum)}`);
  out.push(`${name}_count${labels(pairs)} ${h.count}`);
  return out;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function labels(pairs: Record<string, string>): string {
  const inner = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
  return inner ? `{${inner}}` : '';
}

export function formatNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

/** Organizations that get their own `org` label before the rest share OTHER_ORGANIZATIONS. */
export const DEFAULT_MAX_ORGANIZATION_LABELS = 1000;
/** The `org` label of the organizations past the bound. */
export const OTHER_ORGANIZATIONS = '_other';

interface OrganizationCounts {
  requests: number;
  clientErrors: number;
  rateLimited: number;
}

export interface ServerMetricsOptions {
  /** Reports its fallback decisions while Redis is down (see ratelimit/redis.ts). */
  readonly rateLimiter?: RateLimiter;
  /** Organizations counted under their own id; later ones share the label `_other` (default 1,000). */
  readonly maxOrganizationLabels?: number;
}

export class ServerMetrics {
  private ready: boolean | null = null;
  private readonly rateLimiter: RateLimiter | undefined;
  private readonly maxOrganizationLabels: number;
  /** By organization id: the first maxOrganizationLabels organizations seen, then OTHER_ORGANIZATIONS. */
  private readonly organizations = new Map<string, OrganizationCounts>();

  constructor(options: ServerMetricsOptions = {}) {
    this.rateLimiter = options.rateLimiter;
    this.maxOrganizationLabels = options.maxOrganizationLabels ?? DEFAULT_MAX_ORGANIZATION_LABELS;
  }

  /** Counts a SCIM request authenticated for `orgId` (by a token of that organization). */
  recordOrganizationRequest(orgId: string, status: number): void {
    let counts = this.organizations.get(orgId);
    if (counts === undefined) {
      // One entry for every organization past the bound, so the label set stays at most maxOrganizationLabels + 1.
      const key = this.organizations.size < this.maxOrganizationLabels ? orgId : OTHER_ORGANIZATIONS;
      counts = this.organizations.get(key);
      if (counts === undefined) this.organizations.set(key, (counts = { requests: 0, clientErrors: 0, rateLimited: 0 }));
    }
    counts.requests++;
    if (status >= 400 && status < 500) {
      counts.clientErrors++;
      if (status === 429) counts.rateLimited++;
    }
  }

  /** The outcome of the latest `/readyz` probe. */
  setReady(ready: boolean): void {
    this.ready = ready;
  }

  // Keys are label tuples we build ourselves (route patterns, not raw URLs), so cardinality stays bounded.
  private readonly requests = new Map<string, { method: string; route: string; status: string; value: number }>();
  private readonly latency = new Map<string, { route: string; histogram: Histogram }>();
  private readonly rateLimited = new Map<string, number>();
  private openConnections = 0;
  private readonly refusedConnections = new Map<string, number>();

  recordRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method}\u0000${route}\u0000${status}`;
    const entry = this.requests.get(key);
    if (entry) entry.value++;
    else this.requests.set(key, { method, route, status: String(status), value: 1 });

    let lat = this.latency.get(route);
    if (!lat) {
      lat = { route, histogram: newHistogram() };
      this.latency.set(route, lat);
    }
    observe(lat.histogram, seconds);
  }

  /** `limitClass` is `read`, `write` or `auth` (failed authentications per client address). */
  recordRateLimited(limitClass: string): void {
    this.rateLimited.set(limitClass, (this.rateLimited.get(limitClass) ?? 0) + 1);
  }

  connectionOpened(): void {
    this.openConnections++;
  }

  connectionClosed(): void {
    this.openConnections--;
  }

  /** `reason` is `max_connections` or `per_address` (see connections.ts). */
  connectionRefused(reason: string): void {
    this.refusedConnections.set(reason, (this.refusedConnections.get(reason) ?? 0) + 1);
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP scimkit_http_requests_total HTTP requests by method, route and status.');
    out.push('# TYPE scimkit_http_requests_total counter');
    for (const r of this.requests.values()) {
      out.push(`scimkit_http_requests_total${labels({ method: r.method, route: r.route, status: r.status })} ${r.value}`);
    }
    out.push('# HELP scimkit_http_request_duration_seconds HTTP request latency by route.');
    out.push('# TYPE scimkit_http_request_duration_seconds histogram');
    for (const { route, histogram } of this.latency.values()) out.push(...histogramLines('scimkit_http_request_duration_seconds', { route }, histogram));
    const perOrganization: [string, string, keyof OrganizationCounts][] = [
      ['scimkit_organization_requests_total', 'SCIM requests authenticated by a token of the organization.', 'requests'],
      ['scimkit_organization_client_errors_total', 'Those answered 4xx (429 included).', 'clientErrors'],
      ['scimkit_organization_rate_limited_total', 'Those answered 429.', 'rateLimited'],
    ];
    for (const [name, help, field] of perOrganization) {
      out.push(`# HELP ${name} ${help} The first ${this.maxOrganizationLabels} organizations have their id as label; later ones share org="${OTHER_ORGANIZATIONS}".`);
      out.push(`# TYPE ${name} counter`);
      for (const [org, counts] of this.organizations) out.push(`${name}${labels({ org })} ${counts[field]}`);
    }
    out.push('# HELP scimkit_rate_limited_total Requests refused with 429, by limit class (read, write, auth).');
    out.push('# TYPE scimkit_rate_limited_total counter');
    for (const [limitClass, value] of this.rateLimited) out.push(`scimkit_rate_limited_total${labels({ class: limitClass })} ${value}`);
    const limiter = this.rateLimiter;
    if (limiter?.fallbackDecisions !== undefined) {
      out.push('# HELP scimkit_rate_limiter_fallback_total Rate-limit decisions made in this process because Redis could not be reached.');
      out.push('# TYPE scimkit_rate_limiter_fallback_total counter');
      out.push(`scimkit_rate_limiter_fallback_total ${limiter.fallbackDecisions}`);
      out.push('# HELP scimkit_rate_limiter_degraded 1 while rate limits are counted in this process because Redis is down.');
      out.push('# TYPE scimkit_rate_limiter_degraded gauge');
      out.push(`scimkit_rate_limiter_degraded ${limiter.degraded ? 1 : 0}`);
    }
    if (this.ready !== null) {
      out.push('# HELP scimkit_ready Outcome of the latest /readyz probe (1 ready, 0 a dependency cannot be reached).');
      out.push('# TYPE scimkit_ready gauge');
      out.push(`scimkit_ready ${this.ready ? 1 : 0}`);
    }
    out.push('# HELP scimkit_open_connections Connections the server holds open.');
    out.push('# TYPE scimkit_open_connections gauge');
    out.push(`scimkit_open_connections ${this.openConnections}`);
    out.push('# HELP scimkit_connections_refused_total Connections closed as soon as they were accepted, by cap (max_connections, per_address).');
    out.push('# TYPE scimkit_connections_refused_total counter');
    for (const [reason, value] of this.refusedConnections) out.push(`scimkit_connections_refused_total${labels({ reason })} ${value}`);
    return out.join('\n') + '\n';
  }
}
