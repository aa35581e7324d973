/** Users, groups, roles and mapping rules of an organization, on the directory and roles API (issue 14). */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, query, type ListPage } from '../lib/api.ts';
import { Link, match, seg } from '../lib/router.tsx';
import type { EventJson, Organization } from '../lib/types.ts';
import { ActionButton, Badge, Empty, Field, FormError, JsonView, Loaded, Page, Pager, Time, useAsync, usePager } from '../lib/ui.tsx';
import { EventList } from './events.tsx';

interface GroupRef {
  readonly id: string;
  readonly name: string;
}

interface DirectoryUser {
  readonly id: string;
  readonly user_name: string;
  readonly email: string | null;
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly display_name: string | null;
  readonly active: boolean;
  readonly roles: string[];
  readonly groups: GroupRef[];
  readonly employee_number: string | null;
  readonly cost_center: string | null;
  readonly organization: string | null;
  readonly division: string | null;
  readonly department: string | null;
  readonly manager: { readonly id: string | null; readonly display_name: string | null } | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly raw: Record<string, unknown>;
}

interface DirectoryGroup {
  readonly id: string;
  readonly name: string;
  readonly external_id: string | null;
  readonly roles: string[];
  readonly created_at: string;
  readonly updated_at: string;
  readonly raw: Record<string, unknown>;
}

type Member =
  | { readonly type: 'user'; readonly id: string; readonly user_name: string; readonly email: string | null; readonly display_name: string | null; readonly active: boolean }
  | { readonly type: 'group'; readonly id: string; readonly name: string };

interface Role {
  readonly key: string;
  readonly description: string | null;
  readonly created_at: string;
}

interface Catalogue extends ListPage<Role> {
  readonly default_role: string | null;
  readonly accept_idp_roles: boolean;
  readonly recomputing: boolean;
}

interface Mapping {
  readonly id: string;
  readonly group: { readonly id?: string; readonly external_id?: string; readonly display_name?: string };
  readonly roles: string[];
  readonly matched_groups: GroupRef[];
  readonly created_at: string;
}

function Roles({ roles }: { roles: readonly string[] }) {
  if (roles.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="chips" aria-label="Roles">
      {roles.map((r) => (
        <li key={r}>
          <Badge tone="ok">{r}</Badge>
        </li>
      ))}
    </ul>
  );
}

function base(org: Organization): string {
  return `/organizations/${seg(org.id)}`;
}

function UsersPage({ org }: { org: Organization }) {
  const [search, setSearch] = useState('');
  const [searchBy, setSearchBy] = useState<'user_name' | 'email'>('user_name');
  // The search applied: the directory API matches a userName or an email exactly (case-insensitively).
  const [applied, setApplied] = useState<{ by: 'user_name' | 'email'; value: string }>({ by: 'user_name', value: '' });
  const [active, setActive] = useState('');
  const [role, setRole] = useState('');
  const catalogue = useAsync(() => api<Catalogue>('GET', `${base(org)}/roles`), [org.id]);
  const filters = { [applied.by]: applied.value, active, role };
  const pager = usePager(JSON.stringify(filters));
  const users = useAsync(() => api<ListPage<DirectoryUser>>('GET', `${base(org)}/users${query({ ...filters, after: pager.cursor, limit: 50 })}`), [org.id, JSON.stringify(filters), pager.cursor]);
  return (
    <Page title="Users">
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ by: searchBy, value: search.trim() });
        }}
      >
        <Field id="user-search-by" label="Find by">
          <select id="user-search-by" value={searchBy} onChange={(e) => setSearchBy(e.currentTarget.value as 'user_name' | 'email')}>
            <option value="user_name">userName</option>
            <option value="email">email</option>
          </select>
        </Field>
        <Field id="user-search" label="Search" hint="The whole value; case does not matter.">
          <input id="user-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-describedby="user-search-hint" />
        </Field>
        <Field id="user-active" label="Active">
          <select id="user-active" value={active} onChange={(e) => setActive(e.currentTarget.value)}>
            <option value="">All</option>
            <option value="true">Active</option>
            <option value="false">Deactivated</option>
          </select>
        </Field>
        <Field id="user-role" label="Role">
          <select id="user-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="">Any role</option>
            {(catalogue.data?.data ?? []).map((r) => (
              <option key={r.key} value={r.key}>
                {r.key}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" class="secondary">
          Search
        </button>
      </form>
      <Loaded state={users} what="Loading users">
        {(page) => (
          <>
            {page.data.length === 0 ? (
              <Empty>
                <p>{applied.value || active || role ? 'No user matches these filters.' : 'No users yet. They appear here once the identity provider sends them.'}</p>
              </Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Users</caption>
                  <thead>
                    <tr>
                      <th scope="col">User</th>
                      <th scope="col">Email</th>
                      <th scope="col">Status</th>
                      <th scope="col">Roles</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((u) => (
                      <tr key={u.id}>
                        <td class="break">
                          <Link href={`/orgs/${seg(org.id)}/users/${seg(u.id)}`}>{u.user_name}</Link>
                          {u.display_name && <div class="muted small">{u.display_name}</div>}
                        </td>
                        <td class="break">{u.email ?? <span class="muted">—</span>}</td>
                        <td>{u.active ? <Badge tone="ok">active</Badge> : <Badge tone="bad">deactivated</Badge>}</td>
                        <td>
                          <Roles roles={u.roles} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <Pager pager={pager} nextCursor={page.next_cursor} />
          </>
        )}
      </Loaded>
    </Page>
  );
}

function Attribute({ name, value }: { name: string; value: ComponentChildren }) {
  return (
    <div>
      <dt>{name}</dt>
      <dd>{value ?? <span class="muted">—</span>}</dd>
    </div>
  );
}

function UserPage({ org, userId }: { org: Organization; userId: string }) {
  const user = useAsync(() => api<DirectoryUser>('GET', `${base(org)}/users/${seg(userId)}`), [org.id, userId]);
  const eventPager = usePager(userId);
  const events = useAsync(
    () => api<ListPage<EventJson>>('GET', `${base(org)}/events${query({ order: 'desc', resource_id: userId, before: eventPager.cursor, limit: 20 })}`),
    [org.id, userId, eventPager.cursor],
  );
  return (
    <Loaded state={user} what="Loading the user">
      {(u) => (
        <Page title={u.display_name ?? u.user_name}>
          <div class="card">
            <dl class="kv">
              <Attribute name="userName" value={u.user_name} />
              <Attribute name="Email" value={u.email} />
              <Attribute name="Name" value={[u.first_name, u.last_name].filter(Boolean).join(' ') || null} />
              <Attribute name="Status" value={u.active ? <Badge tone="ok">active</Badge> : <Badge tone="bad">deactivated</Badge>} />
              <Attribute name="Employee number" value={u.employee_number} />
              <Attribute name="Department" value={u.department} />
              <Attribute name="Division" value={u.division} />
              <Attribute name="Cost center" value={u.cost_center} />
              <Attribute name="Manager" value={u.manager ? (u.manager.display_name ?? u.manager.id) : null} />
              <Attribute name="Created" value={<Time iso={u.created_at} />} />
              <Attribute name="Updated" value={<Time iso={u.updated_at} />} />
              <Attribute name="id" value={<span class="mono small">{u.id}</span>} />
            </dl>
          </div>
          <h2>Effective roles</h2>
          <div class="card">
            <Roles roles={u.roles} />
          </div>
          <h2>Groups</h2>
          {u.groups.length === 0 ? (
            <Empty>
              <p>Not a direct member of any group.</p>
            </Empty>
          ) : (
            <ul class="card list">
              {u.groups.map((g) => (
                <li key={g.id}>
                  <Link href={`/orgs/${seg(org.id)}/groups/${seg(g.id)}`}>{g.name}</Link>
                </li>
              ))}
            </ul>
          )}
          <h2>Events</h2>
          <Loaded state={events} what="Loading events">
            {(page) => (
              <>
                {page.data.length === 0 ? (
                  <Empty>
                    <p>No events about this user are kept.</p>
                  </Empty>
                ) : (
                  <EventList events={page.data} />
                )}
                <Pager pager={eventPager} nextCursor={page.next_cursor} />
              </>
            )}
          </Loaded>
          <h2>SCIM resource</h2>
          <JsonView value={u.raw} label="The user as SCIM JSON" />
        </Page>
      )}
    </Loaded>
  );
}

function GroupsPage({ org }: { org: Organization }) {
  const [name, setName] = useState('');
  const [applied, setApplied] = useState('');
  const pager = usePager(applied);
  const groups = useAsync(() => api<ListPage<DirectoryGroup>>('GET', `${base(org)}/groups${query({ name: applied, after: pager.cursor, limit: 50 })}`), [org.id, applied, pager.cursor]);
  return (
    <Page title="Groups">
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(name.trim());
        }}
      >
        <Field id="group-name" label="Name">
          <input id="group-name" type="search" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <button type="submit" class="secondary">
          Find
        </button>
      </form>
      <Loaded state={groups} what="Loading groups">
        {(page) => (
          <>
            {page.data.length === 0 ? (
              <Empty>
                <p>{applied ? 'No group has this name.' : 'No groups yet. They appear once the identity provider pushes them.'}</p>
              </Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Groups</caption>
                  <thead>
                    <tr>
                      <th scope="col">Group</th>
                      <th scope="col">External id</th>
                      <th scope="col">Mapped roles</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((g) => (
                      <tr key={g.id}>
                        <td class="break">
                          <Link href={`/orgs/${seg(org.id)}/groups/${seg(g.id)}`}>{g.name}</Link>
                        </td>
                        <td class="mono small break">{g.external_id ?? <span class="muted">—</span>}</td>
                        <td>
                          <Roles roles={g.roles} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <Pager pager={pager} nextCursor={page.next_cursor} />
          </>
        )}
      </Loaded>
    </Page>
  );
}

function GroupPage({ org, groupId }: { org: Organization; groupId: string }) {
  const group = useAsync(() => api<DirectoryGroup>('GET', `${base(org)}/groups/${seg(groupId)}`), [org.id, groupId]);
  const pager = usePager(groupId);
  const members = useAsync(() => api<ListPage<Member>>('GET', `${base(org)}/groups/${seg(groupId)}/members${query({ after: pager.cursor, limit: 50 })}`), [org.id, groupId, pager.cursor]);
  return (
    <Loaded state={group} what="Loading the group">
      {(g) => (
        <Page title={g.name}>
          <div class="card">
            <dl class="kv">
              <Attribute name="External id" value={g.external_id} />
              <Attribute name="Mapped roles" value={<Roles roles={g.roles} />} />
              <Attribute name="Updated" value={<Time iso={g.updated_at} />} />
              <Attribute name="id" value={<span class="mono small">{g.id}</span>} />
            </dl>
          </div>
          <h2>Members</h2>
          <Loaded state={members} what="Loading members">
            {(page) => (
              <>
                {page.data.length === 0 ? (
                  <Empty>
                    <p>This group has no members.</p>
                  </Empty>
                ) : (
                  <div class="table-wrap">
                    <table>
                      <caption class="sr-only">Members</caption>
                      <thead>
                        <tr>
                          <th scope="col">Member</th>
                          <th scope="col">Kind</th>
                          <th scope="col">Status</th>
                        </tr>
                      </thead>
                      <tbody>
                        {page.data.map((m) =>
                          m.type === 'user' ? (
                            <tr key={m.id}>
                              <td class="break">
                                <Link href={`/orgs/${seg(org.id)}/users/${seg(m.id)}`}>{m.user_name}</Link>
                                {m.display_name && <div class="muted small">{m.display_name}</div>}
                              </td>
                              <td>user</td>
                              <td>{m.active ? <Badge tone="ok">active</Badge> : <Badge tone="bad">deactivated</Badge>}</td>
                            </tr>
                          ) : (
                            <tr key={m.id}>
                              <td class="break">
                                <Link href={`/orgs/${seg(org.id)}/groups/${seg(m.id)}`}>{m.name}</Link>
                              </td>
                              <td>group</td>
                              <td />
                            </tr>
                          ),
                        )}
                      </tbody>
                    </table>
                  </div>
                )}
                <Pager pager={pager} nextCursor={page.next_cursor} />
              </>
            )}
          </Loaded>
          <h2>SCIM resource</h2>
          <JsonView value={g.raw} label="The group as SCIM JSON" />
        </Page>
      )}
    </Loaded>
  );
}

function describeSelector(group: Mapping['group']): string {
  if (group.display_name !== undefined) return `named "${group.display_name}"`;
  if (group.external_id !== undefined) return `with externalId ${group.external_id}`;
  return `with id ${group.id ?? ''}`;
}

function RoleChecks({ idPrefix, roles, chosen, onChange }: { idPrefix: string; roles: readonly Role[]; chosen: readonly string[]; onChange: (next: string[]) => void }) {
  return (
    <>
      {roles.map((r) => (
        <div class="check" key={r.key}>
          <input
            id={`${idPrefix}-${r.key}`}
            type="checkbox"
            checked={chosen.includes(r.key)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...chosen, r.key] : chosen.filter((k) => k !== r.key))}
          />
          <label for={`${idPrefix}-${r.key}`}>{r.key}</label>
        </div>
      ))}
    </>
  );
}

function RolesPage({ org }: { org: Organization }) {
  const catalogue = useAsync(() => api<Catalogue>('GET', `${base(org)}/roles`), [org.id]);
  const rulePager = usePager(org.id);
  const mappings = useAsync(() => api<ListPage<Mapping>>('GET', `${base(org)}/role-mappings${query({ after: rulePager.cursor, limit: 50 })}`), [org.id, rulePager.cursor]);
  const [key, setKey] = useState('');
  const [description, setDescription] = useState('');
  const [roleError, setRoleError] = useState<unknown>(undefined);
  const [by, setBy] = useState<'display_name' | 'external_id' | 'id'>('display_name');
  const [value, setValue] = useState('');
  const [ruleRoles, setRuleRoles] = useState<string[]>([]);
  const [ruleError, setRuleError] = useState<unknown>(undefined);
  const [editing, setEditing] = useState<{ id: string; roles: string[] } | null>(null);
  const [editError, setEditError] = useState<unknown>(undefined);

  const addRole = async (e: Event) => {
    e.preventDefault();
    setRoleError(undefined);
    try {
      await api('POST', `${base(org)}/roles`, { key, ...(description ? { description } : {}) });
      setKey('');
      setDescription('');
      catalogue.reload();
    } catch (err) {
      setRoleError(err);
    }
  };
  const addRule = async (e: Event) => {
    e.preventDefault();
    setRuleError(undefined);
    try {
      await api('POST', `${base(org)}/role-mappings`, { group: { [by]: value }, roles: ruleRoles });
      setValue('');
      setRuleRoles([]);
      mappings.reload();
    } catch (err) {
      setRuleError(err);
    }
  };

  return (
    <Page title="Roles and mapping rules">
      <Loaded state={catalogue} what="Loading roles">
        {(cat) => (
          <>
            {cat.recomputing && (
              <p class="secret" role="status">
                Roles are being recomputed after a change; some users still show their earlier roles.
              </p>
            )}
            <h2>Roles</h2>
            {cat.data.length === 0 ? (
              <Empty>
                <p>No roles yet. Define the app's roles (for example admin, editor, viewer), then map IdP groups to them.</p>
              </Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Roles</caption>
                  <thead>
                    <tr>
                      <th scope="col">Role</th>
                      <th scope="col">Description</th>
                      <th scope="col">
                        <span class="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {cat.data.map((r) => (
                      <tr key={r.key}>
                        <td class="mono">{r.key}</td>
                        <td>{r.description ?? <span class="muted">—</span>}</td>
                        <td>
                          <ActionButton
                            class="danger small"
                            label={`Remove role ${r.key}`}
                            confirm={`Remove the role ${r.key}?`}
                            onAction={async () => {
                              await api('DELETE', `${base(org)}/roles/${seg(r.key)}`);
                              catalogue.reload();
                            }}
                          >
                            Remove
                          </ActionButton>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <form class="card inline-form" onSubmit={addRole} aria-labelledby="new-role-title">
              <h3 id="new-role-title">New role</h3>
              <Field id="role-key" label="Key" hint="What the app checks, such as editor.">
                <input id="role-key" required value={key} onInput={(e) => setKey(e.currentTarget.value)} aria-describedby="role-key-hint" />
              </Field>
              <Field id="role-description" label="Description (optional)">
                <input id="role-description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
              </Field>
              <FormError error={roleError} />
              <button type="submit">Add role</button>
            </form>
            <RoleSettings org={org} catalogue={cat} onSaved={catalogue.reload} />

            <h2>Mapping rules</h2>
            <p class="lead">A rule gives its roles to every member of the IdP group it names (members of nested groups too).</p>
            <Loaded state={mappings} what="Loading rules">
              {(page) =>
                page.data.length === 0 && rulePager.page === 1 ? (
                  <Empty>
                    <p>No rules yet: nobody gets a role from a group.</p>
                  </Empty>
                ) : (
                  <>
                    <ul class="cards" aria-label="Mapping rules">
                      {page.data.map((m) => (
                        <li key={m.id} class="card">
                          <div>
                            Members of the group <strong class="break">{describeSelector(m.group)}</strong> get <Roles roles={m.roles} />
                          </div>
                          <p class="muted small">
                            {m.matched_groups.length === 0 ? 'It matches no group yet.' : `Matches: ${m.matched_groups.map((g) => g.name).join(', ')}`}
                          </p>
                          {editing?.id === m.id ? (
                            <form
                              class="inline-form"
                              onSubmit={async (e) => {
                                e.preventDefault();
                                setEditError(undefined);
                                try {
                                  await api('PATCH', `${base(org)}/role-mappings/${seg(m.id)}`, { roles: editing.roles });
                                  setEditing(null);
                                  mappings.reload();
                                } catch (err) {
                                  setEditError(err);
                                }
                              }}
                            >
                              <fieldset>
                                <legend>Roles</legend>
                                <RoleChecks idPrefix={`edit-${m.id}`} roles={cat.data} chosen={editing.roles} onChange={(roles) => setEditing({ id: m.id, roles })} />
                              </fieldset>
                              <FormError error={editError} />
                              <div class="button-row">
                                <button type="submit">Save roles</button>
                                <button type="button" class="secondary" onClick={() => setEditing(null)}>
                                  Cancel
                                </button>
                              </div>
                            </form>
                          ) : (
                            <div class="button-row">
                              <button
                                type="button"
                                class="secondary small"
                                onClick={() => {
                                  setEditError(undefined);
                                  setEditing({ id: m.id, roles: [...m.roles] });
                                }}
                              >
                                Edit roles
                              </button>
                              <ActionButton
                                class="danger small"
                                label={`Delete the rule for the group ${describeSelector(m.group)}`}
                                confirm="Delete this rule? Its members lose the roles it gave them."
                                onAction={async () => {
                                  await api('DELETE', `${base(org)}/role-mappings/${seg(m.id)}`);
                                  mappings.reload();
                                }}
                              >
                                Delete
                              </ActionButton>
                            </div>
                          )}
                        </li>
                      ))}
                    </ul>
                    <Pager pager={rulePager} nextCursor={page.next_cursor} />
                  </>
                )
              }
            </Loaded>
            <form class="card" onSubmit={addRule} aria-labelledby="new-rule-title">
              <h3 id="new-rule-title">New rule</h3>
              <Field id="rule-by" label="Name the group by" hint="Its id or externalId survives a rename in the IdP; a name is easiest to read.">
                <select id="rule-by" value={by} onChange={(e) => setBy(e.currentTarget.value as typeof by)} aria-describedby="rule-by-hint">
                  <option value="display_name">displayName</option>
                  <option value="external_id">externalId</option>
                  <option value="id">id</option>
                </select>
              </Field>
              <Field id="rule-group" label="Group">
                <input id="rule-group" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
              </Field>
              <fieldset>
                <legend>Roles</legend>
                {cat.data.length === 0 ? <p class="hint">Define a role first.</p> : <RoleChecks idPrefix="rule-role" roles={cat.data} chosen={ruleRoles} onChange={setRuleRoles} />}
              </fieldset>
              <FormError error={ruleError} />
              <button type="submit">Add rule</button>
            </form>
          </>
        )}
      </Loaded>
    </Page>
  );
}

function RoleSettings({ org, catalogue, onSaved }: { org: Organization; catalogue: Catalogue; onSaved: () => void }) {
  const [defaultRole, setDefaultRole] = useState(catalogue.default_role ?? '');
  const [accept, setAccept] = useState(catalogue.accept_idp_roles);
  // What the server had when the form was filled (or last saved): only what differs from it is sent.
  const [baseline, setBaseline] = useState({ defaultRole: catalogue.default_role ?? '', accept: catalogue.accept_idp_roles });
  const [error, setError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      // Only the changes made here, so a setting changed meanwhile elsewhere (the CLI, another operator) stays.
      await api('PATCH', `${base(org)}/roles`, {
        ...(defaultRole !== baseline.defaultRole && { default_role: defaultRole === '' ? null : defaultRole }),
        ...(accept !== baseline.accept && { accept_idp_roles: accept }),
      });
      setBaseline({ defaultRole, accept });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card" onSubmit={save} aria-labelledby="role-settings-title">
      <h3 id="role-settings-title">Role settings</h3>
      <Field id="default-role" label="Default role" hint="For active users whom nothing else gives a role; deactivated users have none.">
        <select id="default-role" value={defaultRole} onChange={(e) => setDefaultRole(e.currentTarget.value)} aria-describedby="default-role-hint">
          <option value="">none</option>
          {catalogue.data.map((r) => (
            <option key={r.key} value={r.key}>
              {r.key}
            </option>
          ))}
        </select>
      </Field>
      <div class="check">
        <input id="accept-idp-roles" type="checkbox" checked={accept} onChange={(e) => setAccept(e.currentTarget.checked)} aria-describedby="accept-idp-roles-hint" />
        <label for="accept-idp-roles">Accept roles the IdP sends</label>
        <p class="hint" id="accept-idp-roles-hint">
          Roles in a user's SCIM roles attribute (Entra ID app roles) count too, when they are in the catalogue.
        </p>
      </div>
      <FormError error={error} />
      <div class="form-actions">
        <button type="submit">Save role settings</button>
        <span role="status">{saved ? 'Saved.' : ''}</span>
      </div>
    </form>
  );
}

/** The directory's pages, or null when the path is not one of them. */
export function DirectoryRoutes({ org, path }: { org: Organization; path: string }): ComponentChildren | null {
  if (path === '/users') return <UsersPage org={org} />;
  const user = match('/users/:id', path);
  if (user) return <UserPage org={org} userId={user.id} />;
  if (path === '/groups') return <GroupsPage org={org} />;
  const group = match('/groups/:id', path);
  if (group) return <GroupPage org={org} groupId={group.id} />;
  if (path === '/roles') return <RolesPage org={org} />;
  return null;
}
