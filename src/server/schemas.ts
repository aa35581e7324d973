/**
 * The schema set of each organization, resolved once and kept by a server instance: validation, filters, sorting,
 * PATCH, projection and discovery all read it. An entry stays while the organization's schema version and
 * unknown-attribute policy are those it was built for; both come with the organization, which authentication reads
 * anyway (and rereads whenever any process changed an organization), so a request never pays for the check.
 */
import { buildSchemaSet, builtInSchemaSet } from '../scim/schema/declare.ts';
import type { SchemaSet } from '../scim/schema/declare.ts';
import type { Organization, Store } from '../store/types.ts';

interface Entry {
  readonly version: number;
  readonly policy: Organization['settings']['unknownAttributes'];
  readonly set: SchemaSet;
}

export class SchemaSets {
  private readonly byOrg = new Map<string, Entry>();
  /** Organizations with declared schemas are few; the bound guards against churn all the same. */
  private static readonly MAX_ENTRIES = 10_000;

  constructor(private readonly store: Store) {}

  /** The organization's schema set: at once when it has none declared or it was resolved before, else from the store. */
  get(org: Organization): SchemaSet | Promise<SchemaSet> {
    const policy = org.settings.unknownAttributes;
    if (org.schemaVersion === 0) return builtInSchemaSet(policy);
    const known = this.byOrg.get(org.id);
    if (known !== undefined && known.version === org.schemaVersion && known.policy === policy) return known.set;
    return this.load(org);
  }

  private async load(org: Organization): Promise<SchemaSet> {
    const declared = await this.store.listSchemaExtensions(org.id);
    const set = buildSchemaSet(declared.map((d) => d.declaration), org.settings.unknownAttributes);
    if (this.byOrg.size >= SchemaSets.MAX_ENTRIES) this.byOrg.clear();
    // Built from what the store holds now, which is at least the version the organization showed.
    this.byOrg.set(org.id, { version: org.schemaVersion, policy: org.settings.unknownAttributes, set });
    return set;
  }
}
