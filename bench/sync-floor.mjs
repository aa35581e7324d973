// The least a full sync of the connector's SQLite tables can cost on this stack (node, node:http, better-sqlite3),
// for `npm run bench:sync -- --only=speed`: what the CPU target is measured against. It does only the work the tables
// require, with nothing a real sync needs to be safe: every page of users and groups is read in turn and parsed whole,
// each resource mapped to its row (the same columns, `raw` and the content hash), and each page inserted in one
// transaction with a state row. No capability probe, change detection, delete detection, memory bound (a groups page
// is parsed whole: its RSS is not a floor), retries, read-ahead, derived display names or member counts, lock or log.
//
// With --users-only it reads the users alone: the floor of a sync's peak RSS, which `scimkit sync` reaches while it
// reads users (the groups stream of this program, parsed whole, is not a floor). The bench runs it with the young
// generation `scimkit sync` caps itself at (16 MiB), from the start.
//
// usage: node sync-floor.mjs CONFIG.json TEMPLATE.db OUT.db [--users-only]   (TEMPLATE: a destination `scimkit sync`
// wrote, whose table definitions are copied, so that both write the same tables). Prints {"records": N} on stdout.
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Database from 'better-sqlite3';

const [configPath, templatePath, outPath, only] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const base = new URL(config.base_url);
const agent = new http.Agent({ keepAlive: true });
const PAGE = config.max_records_per_page ?? 1000;
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function get(path) {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${config.bearer_token}`, accept: 'application/scim+json' };
    http.get({ host: base.hostname, port: base.port, path: `${base.pathname}${path}`, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) : reject(new Error(`${path}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const template = new Database(templatePath, { readonly: true });
const ddl = template.prepare(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL
  AND (name IN ('users', 'groups', 'group_members', '_scimkit_state') OR tbl_name = 'group_members' AND type = 'index') ORDER BY type DESC`).pluck().all();
template.close();

// The destination's settings (src/connector/destination/sqlite.ts).
const db = new Database(outPath);
db.pragma('page_size = 16384');
db.pragma('cache_size = -2048');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('mmap_size = 0');
for (const statement of ddl) db.exec(statement);

const source = config.base_url;
const text = (v) => (typeof v === 'string' ? v : null);
const list = (v) => (Array.isArray(v) ? JSON.stringify(v) : null);
const contentHash = (s) => `2:${hash('sha1', s, 'base64')}`;
const marks = (n) => Array(n).fill('?').join(', ');
const insertUser = db.prepare(`INSERT INTO users (id, user_name, external_id, email, emails, first_name, last_name, display_name, active, title,
  user_type, employee_number, department, division, cost_center, organization, manager_id, created, last_modified, raw, phone_numbers, addresses,
  roles, entitlements, _hash, _synced_at, _deleted, _deleted_at, source) VALUES (${marks(29)})`);
const insertGroup = db.prepare(`INSERT INTO groups (id, display_name, external_id, member_count, created, last_modified, raw, _hash, _synced_at,
  _deleted, _deleted_at, source) VALUES (${marks(12)})`);
const insertMember = db.prepare(`INSERT INTO group_members (group_id, member_id, member_type, display, raw, _hash, _synced_at, _deleted,
  _deleted_at, source) VALUES (${marks(10)})`);
const saveState = db.prepare(`INSERT INTO _scimkit_state (stream, strategy, cursor, phase, detail, updated_at) VALUES (?, 'full', NULL, 'full', ?, ?)
  ON CONFLICT (stream) DO UPDATE SET detail = excluded.detail, updated_at = excluded.updated_at`);

const writeUsers = db.transaction((resources, at, next) => {
  for (const r of resources) {
    const name = r.name ?? {};
    const ent = r[ENTERPRISE] ?? {};
    const emails = Array.isArray(r.emails) ? r.emails : [];
    const raw = JSON.stringify(r);
    insertUser.run([
      r.id, text(r.userName), text(r.externalId), text((emails.find((e) => e.primary) ?? emails[0])?.value), list(r.emails),
      text(name.givenName), text(name.familyName), text(r.displayName), r.active === false ? 0 : 1, text(r.title), text(r.userType),
      text(ent.employeeNumber), text(ent.department), text(ent.division), text(ent.costCenter), text(ent.organization), text(ent.manager?.value),
      text(r.meta?.created), text(r.meta?.lastModified), raw, list(r.phoneNumbers), list(r.addresses), list(r.roles), list(r.entitlements),
      contentHash(raw), at, 0, null, source,
    ]);
  }
  saveState.run('users', String(next), at);
});

const writeGroups = db.transaction((resources, at, next) => {
  for (const g of resources) {
    const members = Array.isArray(g.members) ? g.members : [];
    const { members: _, ...rest } = g;
    const raw = JSON.stringify(rest);
    insertGroup.run([g.id, text(g.displayName), text(g.externalId), members.length, text(g.meta?.created), text(g.meta?.lastModified), raw, contentHash(raw), at, 0, null, source]);
    for (const m of members) {
      const memberRaw = JSON.stringify(m);
      insertMember.run([g.id, m.value, text(m.type), text(m.display), memberRaw, contentHash(memberRaw), at, 0, null, source]);
    }
  }
  saveState.run('groups', String(next), at);
});

let records = 0;
const streams = [['/Users', writeUsers, '&excludedAttributes=groups'], ['/Groups', writeGroups, '']];
for (const [endpoint, write, query] of only === '--users-only' ? streams.slice(0, 1) : streams) {
  // The next page starts after what this one held, which may be fewer than asked for (a server's page budget).
  for (let start = 1; ; ) {
    const page = await get(`${endpoint}?startIndex=${start}&count=${PAGE}${query}`);
    const resources = page.Resources ?? [];
    if (resources.length > 0) write(resources, new Date().toISOString(), start + resources.length);
    records += resources.length;
    if (resources.length === 0 || start + resources.length > page.totalResults) break;
    start += resources.length;
  }
}
db.close();
agent.destroy();
process.stdout.write(`${JSON.stringify({ records })}\n`);
