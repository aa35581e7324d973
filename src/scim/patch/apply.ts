/**
 * Applies typed PATCH operations (RFC 7644 sections 3.5.2.1 to 3.5.2.3) to a resource document, all or nothing:
 * the input document is never mutated, and an error in any operation leaves nothing applied. The result still has to
 * pass validateResource (mode 'patch'), which checks value types, immutability and required attributes.
 */
import { ScimError } from '../errors.ts';
import type { Filter, PatchPath } from '../filter/ast.ts';
import { compileFilter, printPatchPath } from '../filter/index.ts';
import { canonicalJson, deepEqual, isPlainObject } from '../json.ts';
import { GROUP_SCHEMA } from '../schema/core.ts';
import { findAttribute, findExtension, isForbiddenKey } from '../schema/registry.ts';
import type { ResourceSchema } from '../schema/registry.ts';
import type { AttributeDefinition } from '../schema/types.ts';
import { prefixScimError, resolvePatchTarget, resolveValueKey } from './parse.ts';
import type { Json, PatchTarget } from './parse.ts';
import type { MemberChange, MemberRef, PatchApplyOptions, PatchOperation } from './types.ts';

export interface ApplyPatchOptions extends PatchApplyOptions {
  /**
   * For the Group schema only: turn every operation on `members` into `memberChanges` (in order) and leave `members`
   * out of the returned document, so the store can apply deltas without loading the membership.
   */
  readonly membersAsChanges?: boolean;
}

export interface PatchResult {
  readonly document: Record<string, unknown>;
  readonly memberChanges: MemberChange[];
}

type WriteOp = 'add' | 'replace';

/** Renames the keys of `obj` in place to their canonical spelling; input may spell attribute names in any case. */
function renameKeys(obj: Json, canonical: (key: string) => string | undefined, where: string): void {
  for (const key of Object.keys(obj)) {
    if (isForbiddenKey(key)) throw ScimError.invalidValue(`Attribute name "${where}${key}" is not allowed`);
    const name = canonical(key) ?? key;
    if (name === key) continue;
    if (Object.hasOwn(obj, name)) throw ScimError.invalidValue(`Attribute "${where}${name}" is given more than once (names are case-insensitive)`);
    obj[name] = obj[key];
    delete obj[key];
  }
}

function canonicalizeValue(def: AttributeDefinition, value: unknown, where: string): void {
  if (def.type !== 'complex') return;
  for (const item of Array.isArray(value) ? value : [value]) {
    if (isPlainObject(item)) renameKeys(item, (k) => findAttribute(def.subAttributes, k)?.name, `${where}.`);
  }
}

/** Canonicalises a resource document, or a path-less operation value (a partial resource), in place. */
function canonicalizeResource(rs: ResourceSchema, doc: Json): void {
  renameKeys(
    doc,
    (k) => {
      const named = resolveValueKey(rs, k);
      return named?.kind === 'schemas' ? 'schemas' : named?.kind === 'extension' ? named.schema.id : named?.attribute.name;
    },
    '',
  );
  for (const key of Object.keys(doc)) {
    const named = resolveValueKey(rs, key);
    const value = doc[key];
    if (named?.kind === 'attribute') canonicalizeValue(named.attribute, value, key);
    if (named?.kind === 'extension' && isPlainObject(value)) {
      const ext = named.schema;
      renameKeys(value, (k) => findAttribute(ext.attributes, k)?.name, `${ext.id}:`);
      for (const k of Object.keys(value)) {
        const attribute = findAttribute(ext.attributes, k);
        if (attribute) canonicalizeValue(attribute, value[k], `${ext.id}:${k}`);
      }
    }
  }
}

/** Whether `value` identifies the values of `def` (Group members): then two values with one `value` are the same. */
function hasIdentity(def: AttributeDefinition): boolean {
  return def.subAttributes?.some((s) => s.name === 'value' && s.mutability === 'immutable') ?? false;
}

function assertImmutableKept(def: AttributeDefinition, before: Json, after: Json, label: string): void {
  for (const sub of def.subAttributes ?? []) {
    if (sub.mutability !== 'immutable') continue;
    const old = before[sub.name];
    if (old !== undefined && old !== null && !deepEqual(old, after[sub.name])) {
      throw ScimError.mutability(`Sub-attribute "${sub.name}" of "${label}" is immutable and cannot be changed`);
    }
  }
}

/** The element an Entra-style filtered write creates: the `eq` constraints of a pure conjunction, else undefined. */
function elementFromFilter(filter: Filter, def: AttributeDefinition): Json | undefined {
  if (filter.kind === 'compare') {
    if (filter.op !== 'eq' || filter.value === null || filter.path.urn !== null || filter.path.sub !== null) return undefined;
    const sub = findAttribute(def.subAttributes, filter.path.name);
    return sub ? { [sub.name]: filter.value } : undefined;
  }
  if (filter.kind === 'and') {
    const left = elementFromFilter(filter.left, def);
    const right = elementFromFilter(filter.right, def);
    if (!left || !right) return undefined;
    for (const k of Object.keys(right)) if (Object.hasOwn(left, k) && left[k] !== right[k]) return undefined;
    return { ...left, ...right };
  }
  return undefined;
}

/** Member ids selected by `value eq "id"` or an `or` of those; undefined for any other filter. */
function memberIdsOf(filter: Filter): string[] | undefined {
  if (filter.kind === 'compare') {
    const p = filter.path;
    const isValue = p.urn === null && p.sub === null && p.name.toLowerCase() === 'value';
    return isValue && filter.op === 'eq' && typeof filter.value === 'string' ? [filter.value] : undefined;
  }
  if (filter.kind === 'or') {
    const left = memberIdsOf(filter.left);
    const right = memberIdsOf(filter.right);
    return left && right ? [...left, ...right] : undefined;
  }
  return undefined;
}

function memberRefs(def: AttributeDefinition, value: unknown, label: string): MemberRef[] {
  if (!Array.isArray(value)) throw ScimError.invalidValue(`"${label}" is multi-valued; "value" must be an array of members`);
  const refs: MemberRef[] = [];
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const where = `${label}[${i}]`;
    if (!isPlainObject(item)) throw ScimError.invalidValue(`"${where}" must be an object such as {"value": "<id>"}`);
    for (const key of Object.keys(item)) {
      if (!findAttribute(def.subAttributes, key)) throw ScimError.invalidValue(`Unknown attribute "${where}.${key}"`);
    }
    const id = item.value;
    if (typeof id !== 'string' || id === '') throw ScimError.invalidValue(`"${where}.value" must be the member's id`);
    const ref: { value: string; type?: 'User' | 'Group'; display?: string } = { value: id };
    if (item.type !== undefined && item.type !== null) {
      const type = typeof item.type === 'string' ? item.type.toLowerCase() : '';
      if (type !== 'user' && type !== 'group') throw ScimError.invalidValue(`"${where}.type" must be "User" or "Group"`);
      ref.type = type === 'user' ? 'User' : 'Group';
    }
    if (item.display !== undefined && item.display !== null) {
      if (typeof item.display !== 'string') throw ScimError.invalidValue(`"${where}.display" must be a string`);
      ref.display = item.display;
    }
    if (item.$ref !== undefined && item.$ref !== null && typeof item.$ref !== 'string') {
      throw ScimError.invalidValue(`"${where}.$ref" must be a string`);
    }
    if (!seen.has(id)) refs.push(ref);
    seen.add(id);
  });
  return refs;
}

/** A member change that later changes of the same kind merge into; its ids are kept in a Set for O(1) merging. */
type OpenChange = { readonly kind: 'add'; readonly members: MemberRef[] } | { readonly kind: 'remove'; readonly ids: string[] };

class Applier {
  readonly memberChanges: MemberChange[] = [];
  /** The last entry of memberChanges while it is an add or a remove by id, and the member ids it holds. */
  private open: OpenChange | null = null;
  private openIds = new Set<string>();
  /**
   * Keys of multi-valued elements (see keyOf), kept across operations so that each `add` costs a lookup per existing
   * value; edit() forgets the key of an element changed in place.
   */
  private readonly keys = new WeakMap<object, string>();

  constructor(
    private readonly rs: ResourceSchema,
    private readonly doc: Json,
    private readonly options: ApplyPatchOptions,
    /** Set when Group members are reported as changes instead of edited in the document. */
    private readonly membersDef: AttributeDefinition | undefined,
  ) {}

  apply(op: PatchOperation): void {
    if (op.path === null) {
      if (op.op === 'remove') throw ScimError.noTarget('"remove" needs a "path" naming what to remove');
      const value = structuredClone(op.value);
      if (!isPlainObject(value)) throw ScimError.invalidValue('An operation without "path" needs an object "value" holding the attributes to set');
      canonicalizeResource(this.rs, value);
      this.applyPathless(op.op, value);
    } else {
      this.applyPath(op.op, op.path, structuredClone(op.value));
    }
  }

  finish(): void {
    const present: string[] = [];
    for (const ext of this.rs.extensions) {
      const value = this.doc[ext.id];
      if (isPlainObject(value) && Object.keys(value).length === 0) delete this.doc[ext.id];
      else if (value !== undefined) present.push(ext.id);
    }
    if (Array.isArray(this.doc.schemas) || present.length > 0) this.doc.schemas = [this.rs.core.id, ...present];
  }

  /**
   * Values with one key are the same value (RFC 7644 3.5.2.1): equal, or, for attributes with an identity, with the
   * same `value`.
   */
  private keyOf(identity: boolean, element: unknown): string {
    if (identity && isPlainObject(element) && typeof element.value === 'string') return `id:${element.value}`;
    if (typeof element !== 'object' || element === null) return `json:${canonicalJson(element)}`;
    let key = this.keys.get(element);
    if (key === undefined) {
      key = `json:${canonicalJson(element)}`;
      this.keys.set(element, key);
    }
    return key;
  }

  /** Sets (or, with undefined, removes) a sub-attribute of a multi-valued element in place. */
  private edit(element: Json, name: string, value: unknown): void {
    this.keys.delete(element);
    if (value === undefined) delete element[name];
    else element[name] = value;
  }

  /** RFC 7643 section 2.4: "primary": true appears at most once, so a value written as primary demotes the others. */
  private demoteOtherPrimaries(def: AttributeDefinition, list: unknown[], written: readonly unknown[]): void {
    if (!findAttribute(def.subAttributes, 'primary')) return;
    if (!written.some((el) => isPlainObject(el) && el.primary === true)) return;
    const kept = new Set(written);
    for (const el of list) if (isPlainObject(el) && el.primary === true && !kept.has(el)) this.edit(el, 'primary', undefined);
  }

  private holder(extension: string | null, create: boolean): Json | undefined {
    if (extension === null) return this.doc;
    const current = this.doc[extension];
    if (isPlainObject(current)) return current;
    if (!create) return undefined;
    const fresh: Json = {};
    this.doc[extension] = fresh;
    return fresh;
  }

  /** Whether attributes no schema defines are written as they are (`unknownAttributes: keep`). */
  private get keepsUnknown(): boolean {
    return this.rs.unknownAttributes === 'keep';
  }

  /** Writes (or removes) an attribute no schema defines, as it was sent. */
  private writeUnknown(op: PatchOperation['op'], holder: Json, name: string, value: unknown): void {
    if (isForbiddenKey(name)) throw ScimError.invalidValue(`Attribute name "${name}" is not allowed`);
    if (op === 'remove' || value === null || value === undefined) delete holder[name];
    else holder[name] = value;
  }

  private applyPathless(op: WriteOp, value: Json): void {
    for (const key of Object.keys(value)) {
      const named = resolveValueKey(this.rs, key);
      if (!named) {
        if (!this.keepsUnknown) throw ScimError.invalidValue(`Unknown attribute "${key}" for resource type ${this.rs.resourceType.name}`);
        this.writeUnknown(op, this.doc, key, value[key]);
        continue;
      }
      const v = value[key];
      if (named.kind === 'schemas') continue; // recomputed from the extensions present, in finish()
      if (named.kind === 'attribute') {
        if (this.membersDef && named.attribute === this.membersDef) this.memberOp(op, null, v, named.attribute.name);
        else this.writeAttribute(op, this.doc, named.attribute, v, named.attribute.name);
        continue;
      }
      const ext = named.schema;
      if (v === null) {
        if (op === 'replace') delete this.doc[ext.id];
        continue;
      }
      if (!isPlainObject(v)) throw ScimError.invalidValue(`Extension "${ext.id}" must be an object`);
      for (const k of Object.keys(v)) {
        const attribute = findAttribute(ext.attributes, k);
        if (!attribute) {
          if (!this.keepsUnknown) throw ScimError.invalidValue(`Unknown attribute "${ext.id}:${k}"`);
          this.writeUnknown(op, this.holder(ext.id, true)!, k, v[k]);
          continue;
        }
        this.writeAttribute(op, this.holder(ext.id, true)!, attribute, v[k], `${ext.id}:${attribute.name}`);
      }
    }
  }

  private applyPath(op: PatchOperation['op'], path: PatchPath, value: unknown): void {
    const label = printPatchPath(path);
    let target: PatchTarget;
    try {
      target = resolvePatchTarget(this.rs, path);
    } catch (err) {
      if (!this.keepsUnknown || path.filter !== null || !(err instanceof ScimError) || err.scimType !== 'invalidPath') throw err;
      this.applyUnknownPath(op, path, value);
      return;
    }
    if (this.membersDef && target.extension === null && target.attribute === this.membersDef) {
      this.memberOp(op, target, value, label);
      return;
    }
    if (target.filter !== null) {
      this.applyFiltered(op, target, target.filter, value, label);
      return;
    }
    const holder = this.holder(target.extension, op !== 'remove');
    if (!holder) return; // removing from an absent extension: nothing to do
    const { attribute, sub } = target;
    if (sub === null) {
      if (op === 'remove') delete holder[attribute.name];
      else this.writeAttribute(op, holder, attribute, value, label);
      return;
    }
    if (attribute.multiValued) {
      // `emails.display` without a filter addresses that sub-attribute of every value.
      const list = Array.isArray(holder[attribute.name]) ? (holder[attribute.name] as unknown[]) : [];
      const elements = list.filter(isPlainObject);
      if (op === 'remove') {
        for (const el of elements) this.edit(el, sub.name, undefined);
        this.store(holder, attribute, list.filter((el) => !isPlainObject(el) || Object.keys(el).length > 0));
        return;
      }
      if (elements.length === 0) throw ScimError.noTarget(`"${label}": "${attribute.name}" has no values to set "${sub.name}" on`);
      for (const el of elements) this.edit(el, sub.name, value);
      this.demoteOtherPrimaries(attribute, list, elements);
      return;
    }
    const current = isPlainObject(holder[attribute.name]) ? (holder[attribute.name] as Json) : {};
    if (op === 'remove') delete current[sub.name];
    else current[sub.name] = value;
    this.store(holder, attribute, current);
  }

  /**
   * A path no schema defines, kept as sent: `name` and `name.sub` at the top level, or `urn:...:name[.sub]`, read as
   * the attribute `name` of the schema URN before the last colon (how Entra ID sends custom attributes).
   */
  private applyUnknownPath(op: PatchOperation['op'], path: PatchPath, value: unknown): void {
    const { urn, name, sub } = path.attribute;
    let holder: Json | undefined = this.doc;
    if (urn !== null) {
      const key = findExtension(this.rs, urn)?.id ?? Object.keys(this.doc).find((k) => k.toLowerCase() === urn.toLowerCase()) ?? urn;
      if (!isPlainObject(this.doc[key])) {
        if (op === 'remove') return;
        this.doc[key] = {};
      }
      holder = this.doc[key] as Json;
    }
    if (sub === null) {
      this.writeUnknown(op, holder, name, value);
      return;
    }
    if (!isPlainObject(holder[name])) {
      if (op === 'remove') return;
      holder[name] = {};
    }
    this.writeUnknown(op, holder[name] as Json, sub, value);
  }

  /** Stores a complex or multi-valued value, or unassigns the attribute when nothing is left (RFC 7644 3.5.2.2). */
  private store(holder: Json, def: AttributeDefinition, value: Json | unknown[]): void {
    const empty = Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
    if (empty) delete holder[def.name];
    else holder[def.name] = value;
  }

  private writeAttribute(op: WriteOp, holder: Json, def: AttributeDefinition, value: unknown, label: string): void {
    if (value === null || value === undefined) {
      // null in a path-less value means unassigned (RFC 7643 section 2.5).
      if (op === 'replace') delete holder[def.name];
      return;
    }
    canonicalizeValue(def, value, label);
    if (def.multiValued) {
      if (!Array.isArray(value)) throw ScimError.invalidValue(`"${label}" is multi-valued; "value" must be an array`);
      if (op === 'replace') {
        this.store(holder, def, value);
        return;
      }
      const existing = holder[def.name];
      const list: unknown[] = Array.isArray(existing) ? existing : existing === undefined || existing === null ? [] : [existing];
      // RFC 7644 3.5.2.1: adding a value that is already there (or given twice) changes nothing.
      const identity = hasIdentity(def);
      const wanted = new Map<string, unknown>();
      for (const item of value) {
        const key = this.keyOf(identity, item);
        if (!wanted.has(key)) wanted.set(key, item);
      }
      for (const el of list) {
        if (wanted.size === 0) break;
        wanted.delete(this.keyOf(identity, el));
      }
      const added = [...wanted.values()];
      for (const item of added) list.push(item);
      this.demoteOtherPrimaries(def, list, added);
      this.store(holder, def, list);
      return;
    }
    if (def.type === 'complex') {
      if (!isPlainObject(value)) throw ScimError.invalidValue(`"${label}" is complex; "value" must be an object of sub-attributes`);
      // RFC 7644 3.5.2.3: sub-attributes not given are left unchanged, for replace as for add.
      const current = isPlainObject(holder[def.name]) ? (holder[def.name] as Json) : {};
      for (const k of Object.keys(value)) {
        if (value[k] === null) delete current[k];
        else current[k] = value[k];
      }
      this.store(holder, def, current);
      return;
    }
    holder[def.name] = value;
  }

  private applyFiltered(op: PatchOperation['op'], target: PatchTarget, filter: Filter, value: unknown, label: string): void {
    const { attribute, sub } = target;
    const holder = this.holder(target.extension, op !== 'remove');
    const matches = compileFilter(filter, this.rs, attribute);
    const list = holder && Array.isArray(holder[attribute.name]) ? (holder[attribute.name] as unknown[]) : [];
    let hits = list.filter((el): el is Json => isPlainObject(el) && matches(el));
    // Only `add` creates: Entra ID sends Add for a value the user lacks and Replace for one it has (docs/compatibility.md).
    if (hits.length === 0 && op === 'add' && this.options.createMissingFilteredTarget) {
      const created = elementFromFilter(filter, attribute);
      if (created) {
        list.push(created);
        hits = [created];
      }
    }
    if (hits.length === 0 || !holder) throw ScimError.noTarget(`No value of "${attribute.name}" matches the filter in "${label}"`);
    const hit = new Set<unknown>(hits);
    if (op === 'remove') {
      if (sub !== null) for (const el of hits) this.edit(el, sub.name, undefined);
      const kept = list.filter((el) => (sub === null ? !hit.has(el) : !isPlainObject(el) || Object.keys(el).length > 0));
      this.store(holder, attribute, kept);
      return;
    }
    const written: Json[] = [];
    if (sub !== null) {
      for (const el of hits) {
        this.edit(el, sub.name, structuredClone(value));
        written.push(el);
      }
    } else {
      if (!isPlainObject(value)) throw ScimError.invalidValue(`"${label}" selects values of "${attribute.name}"; "value" must be an object`);
      canonicalizeValue(attribute, value, label);
      list.forEach((el, i) => {
        if (!hit.has(el)) return;
        const current = el as Json;
        const next: Json = op === 'replace' ? structuredClone(value) : { ...current, ...structuredClone(value) };
        assertImmutableKept(attribute, current, next, label);
        list[i] = next;
        written.push(next);
      });
    }
    this.demoteOtherPrimaries(attribute, list, written);
    this.store(holder, attribute, list);
  }

  /** Group members as deltas: add, remove by id, remove by other filters, remove all. */
  private memberOp(op: PatchOperation['op'], target: PatchTarget | null, value: unknown, label: string): void {
    const def = this.membersDef!;
    if (target?.sub) throw ScimError.mutability(`"${label}": member sub-attributes cannot be changed; remove the member and add it again`);
    if (target?.filter) {
      if (op !== 'remove') throw ScimError.mutability(`"${label}": members cannot be changed in place; remove the member and add it again`);
      const ids = memberIdsOf(target.filter);
      this.pushChange(ids ? { kind: 'remove', ids } : { kind: 'removeWhere', filter: target.filter });
      return;
    }
    if (op === 'remove' || (op === 'replace' && (value === null || value === undefined))) {
      this.pushChange({ kind: 'removeAll' });
      return;
    }
    if (value === null || value === undefined) return;
    canonicalizeValue(def, value, label);
    const members = memberRefs(def, value, label);
    if (op === 'replace') this.pushChange({ kind: 'removeAll' });
    if (members.length > 0) this.pushChange({ kind: 'add', members });
  }

  /** Appends a change, merging it into the previous one when both add or both remove by id (duplicates dropped). */
  private pushChange(change: MemberChange): void {
    const last = this.memberChanges[this.memberChanges.length - 1];
    if (last?.kind === 'removeAll' && change.kind !== 'add') return; // nothing is left to remove after removeAll
    if (change.kind === 'add' || change.kind === 'remove') {
      if (this.open?.kind !== change.kind) {
        this.open = change.kind === 'add' ? { kind: 'add', members: [] } : { kind: 'remove', ids: [] };
        this.openIds = new Set();
        this.memberChanges.push(this.open);
      }
      if (this.open.kind === 'add' && change.kind === 'add') {
        for (const m of change.members) if (this.takeId(m.value)) this.open.members.push(m);
      } else if (this.open.kind === 'remove' && change.kind === 'remove') {
        for (const id of change.ids) if (this.takeId(id)) this.open.ids.push(id);
      }
      return;
    }
    this.open = null;
    this.memberChanges.push(change);
  }

  /** Records a member id in the open change; false when it is already there. */
  private takeId(id: string): boolean {
    if (this.openIds.has(id)) return false;
    this.openIds.add(id);
    return true;
  }
}

/**
 * Applies `operations` in order to a copy of `document` (keys in any case; they come back canonical) and returns the
 * new document. Throws ScimError 400 (noTarget, invalidPath, invalidValue, mutability) prefixed with the index of the
 * failing operation; nothing is applied then. With `membersAsChanges` on the Group schema, `members` edits come back
 * as `memberChanges` and the document carries no `members`.
 */
export function applyPatch(
  rs: ResourceSchema,
  document: Record<string, unknown>,
  operations: readonly PatchOperation[],
  options: ApplyPatchOptions = {},
): PatchResult {
  const membersDef = options.membersAsChanges && rs.core.id === GROUP_SCHEMA ? findAttribute(rs.core.attributes, 'members') : undefined;
  const doc = structuredClone(document);
  canonicalizeResource(rs, doc);
  if (membersDef) delete doc[membersDef.name];
  const applier = new Applier(rs, doc, options, membersDef);
  operations.forEach((op, i) => {
    try {
      applier.apply(op);
    } catch (err) {
      throw prefixScimError(err, `Operations[${i}]`);
    }
  });
  applier.finish();
  return { document: doc, memberChanges: applier.memberChanges };
}
