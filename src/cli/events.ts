/**
 * `scimkit keys ...`, `scimkit events ...`, `scimkit webhooks ...` and `scimkit deliver`: management keys, the event
 * stream, webhook endpoints and the delivery worker (docs/events.md). They open the store like the other commands.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Store, WebhookDelivery, WebhookEndpoint } from '../store/types.ts';
import { deliveryOptions, fail, logLevel, nonEmpty, openCommandStore, positiveInteger, print, requireDatabase, startBackgroundWork, storeOptions, withStore } from './server.ts';
import { optionsFromEnvironment } from './env.ts';
import { stopOnSignals } from './signals.ts';
import type { DeliveryFlags, StoreFlags } from './server.ts';

type Json = { json?: boolean };

function csv(value: string): string[] {
  const list = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (list.length === 0) throw new InvalidArgumentError('must name at least one event type');
  return list;
}

function cursor(value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new InvalidArgumentError('must be a cursor (a whole number, as next_cursor gives it)');
  return Number(value);
}

async function requireOrg(command: Command, store: Store, orgId: string): Promise<void> {
  if (!(await store.getOrganization(orgId))) fail(command, `error: organization ${orgId} not found`);
}

function endpointLine(e: WebhookEndpoint): string {
  const paused = e.pausedUntil !== null && Date.parse(e.pausedUntil) > Date.now();
  const state = !e.enabled
    ? `disabled (${e.disabledReason ?? 'no reason given'})`
    : paused
      ? `paused until ${e.pausedUntil} (the receiver's Retry-After)`
      : 'enabled';
  return `${e.id}\t${e.url}\t${e.eventTypes ? e.eventTypes.join(',') : 'all events'}\t${state}`;
}

function deliveryLine(d: WebhookDelivery): string {
  const last = d.lastStatus !== null ? `HTTP ${d.lastStatus}` : (d.lastError ?? '-');
  return `${d.id}\t${d.eventType ?? '(purged)'}\t${d.eventId ?? '-'}\t${d.status}\tattempts=${d.attempts}\t${last}${d.status === 'pending' && d.nextAttemptAt ? `\tnext ${d.nextAttemptAt}` : ''}`;
}

/** A one-line summary of an event for people: what happened to whom. */
function eventSummary(type: string, data: Record<string, unknown>): string {
  if (type.startsWith('group.member_')) {
    const group = data.group as { displayName?: string } | undefined;
    const member = data.member as { display?: string; value?: string } | undefined;
    return `${member?.display ?? member?.value ?? '?'} ${type.endsWith('added') ? '->' : '<-'} ${group?.displayName ?? '?'}`;
  }
  if (type === 'user.roles_changed') {
    const user = data.user as { id?: string; userName?: string } | undefined;
    return `${user?.userName ?? user?.id ?? '?'}: ${(data.roles as string[] | undefined)?.join(',') || '(no roles)'}`;
  }
  const name = data.userName ?? data.displayName ?? '';
  return `${String(data.id ?? '')} ${String(name)}`.trim();
}

export function registerEventCommands(program: Command): void {
  // ------------------------------------------------------------------------------------------------ keys
  const keys = program.command('keys').description('Manage management API keys (for /api/v1; not SCIM tokens)');
  storeOptions(
    keys
      .command('create')
      .description('Create a management key and print it once')
      .option('--org <orgId>', 'bind the key to one organization (default: valid for every organization)')
      .option('--name <name>', 'a name to recognize the key by', nonEmpty)
      .option('--json', 'print {"id": ..., "key": ...}'),
  ).action(async (flags: StoreFlags & Json & { org?: string; name?: string }, command: Command) => {
    await withStore(command, flags, async (store) => {
      const { key, secret } = await store.createManagementKey({ orgId: flags.org ?? null, name: flags.name ?? null });
      if (flags.json) print(JSON.stringify({ id: key.id, key: secret, organization_id: key.orgId }));
      else {
        print(`Management key ${key.id} for ${key.orgId === null ? 'every organization' : `organization ${key.orgId}`}`);
        print(`Key (shown once, store it now): ${secret}`);
      }
      // A key for every organization can create them (/api/v1/organizations): a deployment may start from it.
    }, { createsDatabase: flags.org === undefined });
  });
  storeOptions(keys.command('list').description('List management keys (never the keys themselves)').option('--json', 'print a JSON array')).action(
    async (flags: StoreFlags & Json, command: Command) => {
      await withStore(command, flags, async (store) => {
        const list = await store.listManagementKeys();
        if (flags.json) print(JSON.stringify(list));
        else for (const k of list) print(`${k.id}\t${k.orgId ?? 'all organizations'}\t${k.name ?? '-'}\t${k.revoked ? `revoked ${k.revoked}` : 'live'}`);
      });
    },
  );
  storeOptions(keys.command('revoke <keyId>').description('Revoke a management key at once')).action(async (keyId: string, flags: StoreFlags, command: Command) => {
    await withStore(command, flags, async (store) => {
      if (!(await store.revokeManagementKey(keyId))) fail(command, `error: key ${keyId} not found or already revoked`);
      print(`Revoked key ${keyId}`);
    });
  });

  // ---------------------------------------------------------------------------------------------- events
  storeOptions(
    program
      .command('events <orgId>')
      .description("Print an organization's provisioning events; --follow keeps printing them as they happen")
      .option('--after <cursor>', 'start after this cursor (an event sequence)', cursor)
      .option('--follow', 'keep waiting for new events (without --after: only those that happen from now on)')
      .option('--types <t1,t2>', 'only these event types', csv)
      .option('--json', 'print each event envelope as one JSON line'),
  ).action(async (orgId: string, flags: StoreFlags & Json & { after?: number; follow?: boolean; types?: string[] }, command: Command) => {
    const { EVENT_TYPES, eventJson } = await import('../store/events.ts');
    const unknown = flags.types?.find((t) => !EVENT_TYPES.includes(t));
    if (unknown !== undefined) command.error(`error: unknown event type "${unknown}"; known: ${EVENT_TYPES.join(', ')}`);
    requireDatabase(flags, command);
    const store = await openCommandStore(command, flags);
    let stopped = false;
    const stop = () => {
      stopped = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await requireOrg(command, store, orgId);
      let after = flags.after;
      if (after === undefined && flags.follow) after = (await store.readEvents(orgId, { limit: 0 })).position;
      for (;;) {
        const page = await store.readEvents(orgId, { after, limit: 500, types: flags.types });
        if (after !== undefined && after < page.purgedThrough) fail(command, `error: events after ${after} are past retention; start without --after`);
        if (after !== undefined && after > page.end) {
          fail(command, `error: --after ${after} is ahead of this organization's events (they end at ${page.end}): the cursor does not come from this organization`);
        }
        for (const event of page.events) {
          const text = eventJson(event);
          if (flags.json) print(text);
          else print(`${event.sequence}\t${event.occurredAt}\t${event.type}\t${eventSummary(event.type, JSON.parse(event.data) as Record<string, unknown>)}`);
        }
        after = page.position;
        if (page.events.length === 500) continue;
        if (!flags.follow || stopped) break;
        await new Promise((resolve) => setTimeout(resolve, 300));
        if (stopped) break;
      }
    } finally {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      await store.close();
    }
  });

  // -------------------------------------------------------------------------------------------- webhooks
  const webhooks = program.command('webhooks').description("Manage an organization's webhook endpoints and deliveries");
  storeOptions(
    webhooks
      .command('create <orgId>')
      .description('Add a webhook endpoint and print its signing secret once')
      .requiredOption('--url <url>', 'where to POST events (https)')
      .option('--events <t1,t2>', 'only these event types (default: all)', csv)
      .option('--allow-http', 'accept a plain http URL (development; serve must run with --allow-http-webhooks)')
      .option('--json', 'print {"id": ..., "secret": "whsec_..."}'),
  ).action(async (orgId: string, flags: StoreFlags & Json & { url: string; events?: string[]; allowHttp?: boolean }, command: Command) => {
    const { checkWebhookUrl } = await import('../store/webhooks.ts');
    await withStore(command, flags, async (store) => {
      await requireOrg(command, store, orgId);
      const { endpoint, secret } = await store.createWebhook(orgId, { url: checkWebhookUrl(flags.url, flags.allowHttp ?? false), eventTypes: flags.events ?? null });
      if (flags.json) print(JSON.stringify({ id: endpoint.id, secret, url: endpoint.url, events: endpoint.eventTypes }));
      else {
        print(`Webhook ${endpoint.id} -> ${endpoint.url}`);
        print(`Signing secret (shown once; \`webhooks reveal-secret\` shows it again): ${secret}`);
      }
    });
  });
  storeOptions(webhooks.command('list <orgId>').description("List an organization's endpoints").option('--json', 'print a JSON array')).action(
    async (orgId: string, flags: StoreFlags & Json, command: Command) => {
      await withStore(command, flags, async (store) => {
        await requireOrg(command, store, orgId);
        const list = await store.listWebhooks(orgId);
        if (flags.json) print(JSON.stringify(list));
        else for (const e of list) print(endpointLine(e));
      });
    },
  );
  storeOptions(
    webhooks
      .command('update <orgId> <webhookId>')
      .description('Change an endpoint: URL, event types, or enable it again (after a 410) or disable it')
      .option('--url <url>', 'new URL')
      .addOption(new Option('--events <t1,t2>', 'only these event types').argParser(csv).conflicts('allEvents'))
      .option('--all-events', 'every event type')
      .addOption(new Option('--enable', 'deliver to it again').conflicts('disable'))
      .option('--disable', 'stop delivering to it (events queue up)')
      .option('--allow-http', 'accept a plain http URL')
      .option('--json', 'print the endpoint as JSON'),
  ).action(
    async (
      orgId: string,
      webhookId: string,
      flags: StoreFlags & Json & { url?: string; events?: string[]; allEvents?: boolean; enable?: boolean; disable?: boolean; allowHttp?: boolean },
      command: Command,
    ) => {
      const { checkWebhookUrl } = await import('../store/webhooks.ts');
      await withStore(command, flags, async (store) => {
        const updated = await store.updateWebhook(orgId, webhookId, {
          ...(flags.url !== undefined ? { url: checkWebhookUrl(flags.url, flags.allowHttp ?? false) } : {}),
          ...(flags.events !== undefined ? { eventTypes: flags.events } : flags.allEvents ? { eventTypes: null } : {}),
          ...(flags.enable ? { enabled: true } : flags.disable ? { enabled: false } : {}),
        });
        print(flags.json ? JSON.stringify(updated) : endpointLine(updated));
      });
    },
  );
  storeOptions(webhooks.command('delete <orgId> <webhookId>').description('Delete an endpoint and its deliveries')).action(
    async (orgId: string, webhookId: string, flags: StoreFlags, command: Command) => {
      await withStore(command, flags, async (store) => {
        if (!(await store.deleteWebhook(orgId, webhookId))) fail(command, `error: webhook ${webhookId} not found in organization ${orgId}`);
        print(`Deleted webhook ${webhookId}`);
      });
    },
  );
  storeOptions(
    webhooks
      .command('rotate-secret <orgId> <webhookId>')
      .description('Give an endpoint a new signing secret; the old one keeps signing too during the grace period')
      .option('--grace-hours <hours>', 'how long the old secret keeps signing (0 to 168: at most 7 days, as the API)', (v) => (v === '0' ? 0 : positiveInteger(v)), 24)
      .option('--json', 'print {"id": ..., "secret": ...}'),
  ).action(async (orgId: string, webhookId: string, flags: StoreFlags & Json & { graceHours: number }, command: Command) => {
    const { MAX_ROTATION_GRACE_SECONDS } = await import('../store/webhooks.ts');
    // A rotation is often for a leaked secret: the old one must stop signing within days, not years.
    if (flags.graceHours * 3600 > MAX_ROTATION_GRACE_SECONDS) command.error(`error: --grace-hours must be at most ${MAX_ROTATION_GRACE_SECONDS / 3600} (7 days)`);
    await withStore(command, flags, async (store) => {
      const until = new Date(Date.now() + flags.graceHours * 3_600_000).toISOString();
      const { endpoint, secret } = await store.rotateWebhookSecret(orgId, webhookId, until);
      if (flags.json) print(JSON.stringify({ id: endpoint.id, secret, previous_secret_valid_until: endpoint.previousSecretUntil }));
      else {
        print(`New signing secret for ${endpoint.id} (the old one also signs until ${until}):`);
        print(secret);
      }
    });
  });
  storeOptions(webhooks.command('reveal-secret <orgId> <webhookId>').description("Print an endpoint's current signing secret")).action(
    async (orgId: string, webhookId: string, flags: StoreFlags, command: Command) => {
      await withStore(command, flags, async (store) => print(await store.revealWebhookSecret(orgId, webhookId)));
    },
  );
  storeOptions(
    webhooks
      .command('deliveries <orgId> <webhookId>')
      .description("List an endpoint's deliveries, oldest first")
      .addOption(new Option('--failed', 'only those that finally failed').conflicts('pending'))
      .option('--pending', 'only those still pending')
      .option('--limit <n>', 'at most this many', positiveInteger, 100)
      .option('--json', 'print a JSON array'),
  ).action(async (orgId: string, webhookId: string, flags: StoreFlags & Json & { failed?: boolean; pending?: boolean; limit: number }, command: Command) => {
    await withStore(command, flags, async (store) => {
      if (!(await store.getWebhook(orgId, webhookId))) fail(command, `error: webhook ${webhookId} not found in organization ${orgId}`);
      const status = flags.failed ? 'failed' : flags.pending ? 'pending' : undefined;
      const list = await store.listDeliveries(orgId, { endpointId: webhookId, ...(status ? { status } : {}), limit: flags.limit });
      if (flags.json) print(JSON.stringify(list));
      else for (const d of list) print(deliveryLine(d));
    });
  });
  storeOptions(
    webhooks
      .command('replay <orgId> <webhookId>')
      .description('Send one delivery again (--delivery), or every event since a time (--since)')
      .option('--delivery <deliveryId>', 'the delivery to send again')
      .option('--since <time>', 'send every retained event since this ISO 8601 time again')
      .option('--json', 'print the result as JSON'),
  ).action(async (orgId: string, webhookId: string, flags: StoreFlags & Json & { delivery?: string; since?: string }, command: Command) => {
    if ((flags.delivery === undefined) === (flags.since === undefined)) command.error('error: give exactly one of --delivery and --since');
    if (flags.since !== undefined && Number.isNaN(Date.parse(flags.since))) command.error('error: --since must be an ISO 8601 time');
    await withStore(command, flags, async (store) => {
      if (!(await store.getWebhook(orgId, webhookId))) fail(command, `error: webhook ${webhookId} not found in organization ${orgId}`);
      if (flags.delivery !== undefined) {
        const original = await store.getDelivery(orgId, flags.delivery);
        if (!original || original.endpointId !== webhookId) fail(command, `error: delivery ${flags.delivery} not found for webhook ${webhookId}`);
        const replayed = await store.replayDelivery(orgId, flags.delivery);
        print(flags.json ? JSON.stringify(replayed) : `Queued delivery ${replayed.id} (event ${replayed.eventId})`);
      } else {
        const n = await store.replaySince(orgId, webhookId, new Date(flags.since as string).toISOString());
        print(flags.json ? JSON.stringify({ replayed: n }) : `Queued ${n} deliveries`);
      }
    });
  });

  // ---------------------------------------------------------------------------------------------- deliver
  optionsFromEnvironment(
    deliveryOptions(
      storeOptions(
        program
          .command('deliver')
          .description('Deliver webhooks (and purge expired events) without serving HTTP; run beside `serve --no-deliver`')
          .addOption(new Option('--log-level <level>', 'pino log level (logs go to stderr)').argParser(logLevel).default('info')),
      ),
    ),
  ).action(async (flags: StoreFlags & DeliveryFlags & { logLevel: string }, command: Command) => {
    requireDatabase(flags, command);
    const [{ pino }, { EventMetrics }] = await Promise.all([import('pino'), import('../server/event-metrics.ts')]);
    const logger = pino({ level: flags.logLevel }, pino.destination(2));
    const store = await openCommandStore(command, flags);
    const metrics = new EventMetrics();
    const stop = await startBackgroundWork(store, flags, logger, metrics, 'here');
    const shutdown = () => {
      stop()
        .then(() => store.close())
        .then(
          () => process.exit(0),
          () => process.exit(1),
        );
    };
    stopOnSignals(shutdown);
    // After the handlers, as serve's "listening on": whoever waits for this line may signal at once.
    print('delivering webhooks');
  });
}
