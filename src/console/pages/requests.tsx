/** The SCIM request log of an organization, and its rate-limit usage. */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, query, type ListPage } from '../lib/api.ts';
import { seg } from '../lib/router.tsx';
import type { Organization, RateLimitUsage, RequestLogEntry } from '../lib/types.ts';
import { Badge, Empty, Field, JsonView, Loaded, Page, Pager, Time, statusTone, useAsync, usePager } from '../lib/ui.tsx';

const STATUS_FILTERS: readonly { value: string; label: string }[] = [
  { value: '', label: 'All' },
  { value: 'errors', label: 'Errors (4xx and 5xx)' },
  { value: '4xx', label: '4xx' },
  { value: '5xx', label: '5xx' },
  { value: '400', label: '400' },
  { value: '401', label: '401' },
  { value: '403', label: '403' },
  { value: '404', label: '404' },
  { value: '409', label: '409' },
  { value: '429', label: '429' },
];

/** The path below the organization's base URL (`/Users?filter=...`): the part that differs between requests. */
function shortPath(path: string): string {
  const m = /^\/scim\/v2(?:\.0)?\/organizations\/[^/?]+(.*)$/.exec(path);
  return m ? m[1] || '/' : path;
}

export function RequestTable({ entries, caption }: { entries: readonly RequestLogEntry[]; caption: string }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <div class="table-wrap">
      <table class="requests">
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Request</th>
            <th scope="col">Status</th>
            <th scope="col">Latency</th>
            <th scope="col">Error</th>
            <th scope="col">
              <span class="sr-only">Body</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {entries.map((entry) => (
            <Fragment key={entry.id}>
              <tr>
                <td>
                  <Time iso={entry.at} />
                </td>
                <td class="mono small break" title={entry.path}>
                  <strong>{entry.method}</strong> {shortPath(entry.path)}
                  {entry.user_agent && <div class="muted">{entry.user_agent}</div>}
                </td>
                <td>
                  <Badge tone={statusTone(entry.status)}>{entry.status}</Badge>
                </td>
                <td class="nowrap">{entry.latency_ms < 10 ? entry.latency_ms.toFixed(1) : Math.round(entry.latency_ms)} ms</td>
                <td class="break">
                  {entry.scim_type && <code>{entry.scim_type}</code>} {entry.detail}
                </td>
                <td>
                  {entry.request_body !== null && (
                    <button
                      type="button"
                      class="secondary small"
                      aria-expanded={open === entry.id}
                      aria-controls={`body-${entry.id}`}
                      onClick={() => setOpen(open === entry.id ? null : entry.id)}
                    >
                      {open === entry.id ? 'Hide body' : 'Body'}
                    </button>
                  )}
                </td>
              </tr>
              {open === entry.id && (
                <tr id={`body-${entry.id}`}>
                  <td colSpan={6}>
                    <JsonView value={entry.request_body} label={`Request body of ${entry.method} ${entry.path}`} />
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function RequestLogPage({ org }: { org: Organization }) {
  const [status, setStatus] = useState('');
  const pager = usePager(status);
  const log = useAsync(
    () => api<ListPage<RequestLogEntry>>('GET', `/organizations/${seg(org.id)}/request-log${query({ status, after: pager.cursor, limit: 50 })}`),
    [org.id, status, pager.cursor],
  );
  return (
    <Page
      title="Request log"
      actions={
        <button type="button" class="secondary" onClick={log.reload}>
          Refresh
        </button>
      }
    >
      <p class="lead">The latest SCIM requests to this organization, newest first, as the server received and answered them. Passwords and tokens are removed from the bodies.</p>
      <div class="filters">
        <Field id="log-status" label="Status">
          <select id="log-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            {STATUS_FILTERS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Loaded state={log} what="Loading requests">
        {(page) => (
          <>
            {page.data.length === 0 ? (
              <Empty>
                <p>{status ? 'No requests with this status in the log.' : 'No SCIM requests yet. They appear here within a second or two of arriving.'}</p>
              </Empty>
            ) : (
              <RequestTable entries={page.data} caption="SCIM requests" />
            )}
            <Pager pager={pager} nextCursor={page.next_cursor} />
          </>
        )}
      </Loaded>
    </Page>
  );
}

function Meter({ label, used, limit }: { label: string; used: number; limit: number }) {
  return (
    <div class="meter-row">
      <span>{label}</span>
      <meter min={0} max={limit} value={used} aria-label={`${label}: ${used} of ${limit} per second`} />
      <span>
        {used} / {limit} per second
      </span>
    </div>
  );
}

export function UsagePage({ org }: { org: Organization }) {
  const usage = useAsync(() => api<RateLimitUsage>('GET', `/organizations/${seg(org.id)}/rate-limits`), [org.id]);
  return (
    <Page
      title="Rate limits"
      actions={
        <button type="button" class="secondary" onClick={usage.reload}>
          Refresh
        </button>
      }
    >
      <Loaded state={usage} what="Loading the counters">
        {(u) => (
          <>
            <div class="card">
              <h2>This second</h2>
              <Meter label="Reads" used={u.read.used} limit={u.read.limit} />
              <Meter label="Writes" used={u.write.used} limit={u.write.limit} />
              <p class="hint">Counts reset at the start of every {u.window_seconds}-second window. The limits are changed on the Settings page.</p>
            </div>
            <h2>Recent 429s</h2>
            {u.recent_429s.length === 0 ? (
              <Empty>
                <p>No request was refused for the rate limit recently.</p>
              </Empty>
            ) : (
              <RequestTable entries={u.recent_429s} caption="Recent requests refused with 429" />
            )}
          </>
        )}
      </Loaded>
    </Page>
  );
}
