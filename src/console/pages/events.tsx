/** The events timeline of an organization (newest first), and the events of one resource for its page. */
import { useState } from 'preact/hooks';
import { api, query, type ListPage } from '../lib/api.ts';
import { seg } from '../lib/router.tsx';
import type { EventJson, Organization } from '../lib/types.ts';
import { Badge, Empty, Field, JsonView, Loaded, Page, Pager, Time, useAsync, usePager } from '../lib/ui.tsx';

export const EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deactivated',
  'user.reactivated',
  'user.deleted',
  'user.roles_changed',
  'group.created',
  'group.updated',
  'group.deleted',
  'group.member_added',
  'group.member_removed',
] as const;

function tone(type: string): 'ok' | 'warn' | 'bad' | 'muted' {
  if (type.endsWith('.deleted') || type === 'user.deactivated') return 'bad';
  if (type.endsWith('.created') || type === 'user.reactivated' || type === 'group.member_added') return 'ok';
  if (type === 'group.member_removed') return 'warn';
  return 'muted';
}

/** What the event is about, in one line: the resource's name where the data carries one. */
function subject(event: EventJson): string {
  const data = event.data as Record<string, unknown>;
  const group = data.group as { displayName?: unknown } | undefined;
  const member = data.member as { display?: unknown; value?: unknown } | undefined;
  if (group && member) return `${String(member.display ?? member.value ?? '')} in ${String(group.displayName ?? '')}`;
  if (event.type === 'user.roles_changed' && Array.isArray(data.roles)) return `roles: ${data.roles.length ? data.roles.join(', ') : 'none'}`;
  const name = data.userName ?? data.displayName ?? data.id ?? '';
  return String(name);
}

export function EventList({ events }: { events: readonly EventJson[] }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <ol class="timeline">
      {events.map((event) => (
        <li key={event.id}>
          <div class="timeline-head">
            <Badge tone={tone(event.type)}>{event.type}</Badge>
            <span class="break">{subject(event)}</span>
            <Time iso={event.occurred_at} />
            <span class="muted small">#{event.sequence}</span>
            <button type="button" class="secondary small" aria-expanded={open === event.id} onClick={() => setOpen(open === event.id ? null : event.id)}>
              {open === event.id ? 'Hide' : 'Details'}
            </button>
          </div>
          {open === event.id && <JsonView value={event} label={`Event ${event.id}`} />}
        </li>
      ))}
    </ol>
  );
}

export function EventsPage({ org }: { org: Organization }) {
  const [type, setType] = useState('');
  const pager = usePager(type);
  const events = useAsync(
    () => api<ListPage<EventJson>>('GET', `/organizations/${seg(org.id)}/events${query({ order: 'desc', types: type, before: pager.cursor, limit: 50 })}`),
    [org.id, type, pager.cursor],
  );
  return (
    <Page
      title="Events"
      actions={
        <button type="button" class="secondary" onClick={events.reload}>
          Refresh
        </button>
      }
    >
      <div class="filters">
        <Field id="event-type" label="Type">
          <select id="event-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">All types</option>
            {EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Loaded state={events} what="Loading events">
        {(page) => (
          <>
            {page.data.length === 0 ? (
              <Empty>
                <p>No events{type ? ' of this type' : ''} yet. Every SCIM write that changes something adds one.</p>
              </Empty>
            ) : (
              <EventList events={page.data} />
            )}
            <Pager pager={pager} nextCursor={page.next_cursor} />
          </>
        )}
      </Loaded>
    </Page>
  );
}
