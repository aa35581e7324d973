/**
 * The check both platforms' tests end with: a warehouse's tables hold exactly what a real scimkit server holds now
 * (read over HTTP: the live users with their resources as `raw`, the groups, the memberships), and equal the tables
 * `scimkit sync` writes from the same server.
 */
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/connector/config.ts';
import { HttpClient } from '../../../src/connector/http.ts';
import { silentLogger } from '../../../src/connector/log.ts';
import type { TableName } from '../../../src/connector/tables.ts';
import { DestinationFactory, sync, withDestination } from '../helpers.ts';
import { liveRows, rowKey, type Json } from './airbyte-harness.ts';

const ALL: TableName[] = ['users', 'groups', 'group_members'];

export interface ServerAccess {
  readonly base: string;
  readonly token: string;
}

export function serverApi(server: ServerAccess): HttpClient {
  return new HttpClient({ baseUrl: server.base, token: server.token, timeoutMs: 10_000, retryAttempts: 2, logger: silentLogger, redact: (s) => s });
}

/** What `scimkit sync` writes from the server, now. */
async function cliRows(server: ServerAccess, factory: DestinationFactory): Promise<Map<TableName, Map<string, Json>>> {
  const url = await factory.create('sqlite');
  await sync(parseConfig({ bearer_token: server.token, provider: 'scim', base_url: server.base, destination: `sqlite:${url.kind === 'sqlite' ? url.path : ''}` }));
  return withDestination(url, async (d) => new Map(await Promise.all(ALL.map(async (t) => [t, await liveRows(d, t)] as const))));
}

/** `rows(table)` (a warehouse's live rows by primary key) equals the server's data and scimkit sync's tables. */
export async function assertWarehouseEqualsServer(server: ServerAccess, factory: DestinationFactory, rows: (table: TableName) => Map<string, Json>): Promise<void> {
  const http = serverApi(server);
  try {
    const all = async (endpoint: string, view: Record<string, string> = {}) => {
      const out: Json[] = [];
      for (let start = 1; ; start += 100) {
        const page = ((await http.get(endpoint, { ...view, startIndex: start, count: 100 })).body as { Resources?: Json[] }).Resources ?? [];
        if (page.length === 0) return out;
        out.push(...page);
      }
    };
    // As the connector reads them: without `groups` (whose digest a user's meta.version would otherwise carry).
    const users = await all('/Users', { excludedAttributes: 'groups' });
    const groups = await all('/Groups');
    const userRows = rows('users');
    assert.deepEqual([...userRows.values()].map((u) => u.id).sort(), users.map((u) => u.id).sort(), 'the live users are the source\'s');
    for (const u of users) {
      const { groups: _relation, ...resource } = u;
      assert.deepEqual((userRows.get(rowKey('users', u)) as Json).raw, resource, `users.raw of ${String(u.id)} is the source's resource`);
    }
    assert.deepEqual([...rows('groups').values()].map((g) => g.id).sort(), groups.map((g) => g.id).sort(), 'the live groups are the source\'s');
    const memberships = groups.flatMap((g) => ((g.members as Json[]) ?? []).map((m) => `${String(g.id)}/${String(m.value)}`)).sort();
    assert.deepEqual([...rows('group_members').values()].map((m) => `${String(m.group_id)}/${String(m.member_id)}`).sort(), memberships, 'the live memberships are the source\'s');
  } finally {
    await http.close();
  }
  const cli = await cliRows(server, factory);
  for (const t of ALL) assert.deepEqual(rows(t), cli.get(t), `${t} in the warehouse equals ${t} from scimkit sync`);
}
