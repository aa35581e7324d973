/**
 * `scimkit roles define|undefine|map|unmap|list`: an organization's role catalogue and its group-to-role rules
 * (docs/roles.md). Each change returns once every user's roles follow it.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { GroupSelector, RoleMapping, Store } from '../store/types.ts';
import { fail, print, storeOptions, withStore } from './server.ts';
import type { StoreFlags } from './server.ts';

type Json = { json?: boolean };

interface GroupFlags {
  group?: string;
  groupName?: string;
  externalId?: string;
}

function onOff(value: string): boolean {
  if (value !== 'on' && value !== 'off') throw new InvalidArgumentError('must be on or off');
  return value === 'on';
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function groupOptions(command: Command, verb: string): Command {
  return command
    .option('--group <idOrName>', `the group by its SCIM id, or by its displayName (case-insensitively), which the rule ${verb} by the group's id (renames keep it)`)
    .option('--group-name <displayName>', 'a rule naming the group by displayName, for a group the IdP has not sent yet (a rename in the IdP ends the match)')
    .option('--external-id <externalId>', "a rule naming the group by the IdP's externalId (Entra ID sends its object id), for a group not sent yet");
}

async function requireOrg(command: Command, store: Store, orgId: string): Promise<void> {
  if (!(await store.getOrganization(orgId))) fail(command, `error: organization ${orgId} not found`);
}

function selectorText(group: GroupSelector): string {
  return `${group.by} ${JSON.stringify(group.value)}`;
}

function mappingLine(m: RoleMapping): string {
  const matched = m.matchedGroups.length === 0 ? 'matches no group yet' : `matches ${m.matchedGroups.map((g) => `${g.displayName} (${g.id})`).join(', ')}`;
  return `${m.id}\t${selectorText(m.group)}\t${m.roles.join(',')}\t${matched}`;
}

/** The rule as the management API shows it (loaded with the action, like the server's other modules). */
async function mappingJson(m: RoleMapping): Promise<Record<string, unknown>> {
  return (await import('../server/api/roles.ts')).mappingJson(m);
}

/**
 * The selector a command means. `--group` takes an id or a displayName and resolves it to the group's id, the way
 * that survives renames; a name that matches no group is refused with the two options that can name it.
 */
async function selectorOf(command: Command, store: Store, orgId: string, flags: GroupFlags): Promise<GroupSelector> {
  const given = [flags.group, flags.groupName, flags.externalId].filter((v) => v !== undefined);
  if (given.length !== 1) command.error('error: name the group with exactly one of --group, --group-name or --external-id');
  if (flags.groupName !== undefined) return { by: 'displayName', value: flags.groupName };
  if (flags.externalId !== undefined) return { by: 'externalId', value: flags.externalId };
  const wanted = flags.group as string;
  if (await store.getDirectoryGroup(orgId, wanted)) return { by: 'id', value: wanted };
  const [named] = (await store.listDirectoryGroups(orgId, { name: wanted, limit: 1 })).groups;
  if (named) return { by: 'id', value: named.resource.id };
  return fail(command,
    `error: no group has the id or displayName ${JSON.stringify(wanted)}; for a group the IdP has not sent yet use --group-name ${JSON.stringify(wanted)} or --external-id ID`,
  );
}

export function registerRoleCommands(program: Command): void {
  const roles = program.command('roles').description("Manage an organization's roles and the rules that map IdP groups to them (docs/roles.md)");

  storeOptions(
    roles
      .command('define <orgId> [roles...]')
      .description('Add roles to the catalogue (existing ones stay), and set the default role or the IdP-sent roles switch')
      .option('--description <text>', 'a description for the roles given')
      .option('--default <role>', 'the role of active users whom nothing else gives one')
      .option('--no-default', 'no default role: such users have no roles')
      .addOption(new Option('--accept-idp-roles <on|off>', "count the roles the IdP sends in a User's roles (Entra ID app roles) that name a catalogue role").argParser(onOff))
      .option('--json', 'print the catalogue as JSON'),
  ).action(async (orgId: string, keys: string[], flags: StoreFlags & Json & { description?: string; default?: string | false; acceptIdpRoles?: boolean }, command: Command) => {
    if (keys.length === 0 && flags.default === undefined && flags.acceptIdpRoles === undefined) {
      command.error('error: give roles to define, --default ROLE, --no-default or --accept-idp-roles on|off');
    }
    await withStore(command, flags, async (store) => {
      await requireOrg(command, store, orgId);
      const catalogue = await store.updateRoleCatalogue(orgId, {
        define: keys.map((key) => ({ key, ...(flags.description !== undefined && { description: flags.description }) })),
        ...(flags.default !== undefined && { defaultRole: flags.default === false ? null : flags.default }),
        ...(flags.acceptIdpRoles !== undefined && { acceptIdpRoles: flags.acceptIdpRoles }),
      });
      if (flags.json) print(JSON.stringify((await import('../server/api/roles.ts')).catalogueJson(catalogue)));
      else print(`Roles: ${catalogue.roles.map((r) => r.key).join(', ') || '(none)'}; default: ${catalogue.defaultRole ?? 'none'}; IdP-sent roles: ${catalogue.acceptIdpRoles ? 'on' : 'off'}`);
    });
  });

  storeOptions(roles.command('undefine <orgId> <roles...>').description('Remove roles from the catalogue (refused while a rule or the default uses one)')).action(
    async (orgId: string, keys: string[], flags: StoreFlags, command: Command) => {
      await withStore(command, flags, async (store) => {
        await requireOrg(command, store, orgId);
        const catalogue = await store.updateRoleCatalogue(orgId, { remove: keys });
        print(`Roles: ${catalogue.roles.map((r) => r.key).join(', ') || '(none)'}`);
      });
    },
  );

  storeOptions(
    groupOptions(roles.command('map <orgId>').description("Map a group to roles: creates the group's rule, or adds the roles to it"), 'names')
      .requiredOption('--role <role>', 'a role to give the group\'s members (repeatable)', collect)
      .option('--json', 'print the rule as JSON'),
  ).action(async (orgId: string, flags: StoreFlags & Json & GroupFlags & { role: string[] }, command: Command) => {
    await withStore(command, flags, async (store) => {
      await requireOrg(command, store, orgId);
      const group = await selectorOf(command, store, orgId, flags);
      const existing = await store.findRoleMapping(orgId, group);
      let mapping: RoleMapping;
      if (existing) {
        const already = flags.role.filter((r) => existing.roles.includes(r));
        if (already.length > 0) fail(command, `error: duplicate rule: rule ${existing.id} already maps the group with ${selectorText(group)} to ${already.join(', ')}`);
        mapping = await store.updateRoleMapping(orgId, existing.id, { roles: [...existing.roles, ...flags.role] });
      } else {
        mapping = await store.createRoleMapping(orgId, { group, roles: flags.role });
      }
      if (flags.json) print(JSON.stringify(await mappingJson(mapping)));
      else print(mappingLine(mapping));
    });
  });

  storeOptions(
    groupOptions(roles.command('unmap <orgId> [ruleId]').description('Remove a rule (by id or by its group), or only some of its roles with --role'), 'finds')
      .option('--role <role>', 'remove only this role from the rule (repeatable); the rule goes with its last role', collect)
      .option('--json', 'print what is left of the rule as JSON (null when it was removed)'),
  ).action(async (orgId: string, ruleId: string | undefined, flags: StoreFlags & Json & GroupFlags & { role?: string[] }, command: Command) => {
    await withStore(command, flags, async (store) => {
      await requireOrg(command, store, orgId);
      let rule: RoleMapping | null;
      if (ruleId !== undefined) {
        if (flags.group !== undefined || flags.groupName !== undefined || flags.externalId !== undefined) command.error('error: give a rule id or a group, not both');
        rule = await store.getRoleMapping(orgId, ruleId);
      } else {
        rule = await store.findRoleMapping(orgId, await selectorOf(command, store, orgId, flags));
      }
      if (!rule) return fail(command, 'error: no such rule (roles list shows the rules)');
      const removing = flags.role ?? rule.roles;
      const missing = removing.find((r) => !rule.roles.includes(r));
      if (missing !== undefined) fail(command, `error: rule ${rule.id} does not map to ${missing} (it maps to ${rule.roles.join(', ')})`);
      const left = rule.roles.filter((r) => !removing.includes(r));
      const result = left.length === 0 ? (await store.deleteRoleMapping(orgId, rule.id), null) : await store.updateRoleMapping(orgId, rule.id, { roles: left });
      if (flags.json) print(JSON.stringify(result && (await mappingJson(result))));
      else print(result ? mappingLine(result) : `Removed rule ${rule.id}`);
    });
  });

  storeOptions(roles.command('list <orgId>').description("Print the organization's roles, settings and rules").option('--json', 'print one JSON object')).action(
    async (orgId: string, flags: StoreFlags & Json, command: Command) => {
      await withStore(command, flags, async (store) => {
        await requireOrg(command, store, orgId);
        const catalogue = await store.getRoleCatalogue(orgId);
        const mappings: RoleMapping[] = [];
        for (let after: string | undefined; ; ) {
          const page = await store.listRoleMappings(orgId, { limit: 1000, ...(after !== undefined && { after }) });
          mappings.push(...page.mappings);
          if (page.next === null) break;
          after = page.next;
        }
        if (flags.json) {
          const { roleJson } = await import('../server/api/roles.ts');
          print(
            JSON.stringify({
              roles: catalogue.roles.map(roleJson),
              default_role: catalogue.defaultRole,
              accept_idp_roles: catalogue.acceptIdpRoles,
              recomputing: catalogue.recomputing,
              mappings: await Promise.all(mappings.map(mappingJson)),
            }),
          );
          return;
        }
        print(`Roles (default: ${catalogue.defaultRole ?? 'none'}; IdP-sent roles: ${catalogue.acceptIdpRoles ? 'on' : 'off'}${catalogue.recomputing ? '; recomputing' : ''}):`);
        for (const r of catalogue.roles) print(`  ${r.key}${r.description ? `\t${r.description}` : ''}`);
        print(`Rules:${mappings.length === 0 ? ' (none)' : ''}`);
        for (const m of mappings) print(`  ${mappingLine(m)}`);
      });
    },
  );
}
