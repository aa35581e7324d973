/**
 * Filters already parsed, and the resource types they were checked against, for one server instance. An IdP
 * looks each user up by the same `userName eq "..."` filter again and again; a hit costs a Map lookup instead of
 * a parse and a schema check. Kept filters are frozen, since every request that sends the same text shares one.
 */
import { deepFreeze } from '../json.ts';
import type { ResourceSchema } from '../schema/registry.ts';
import type { Filter } from './ast.ts';
import { checkFilterAttributes } from './evaluate.ts';
import { parseFilter } from './parser.ts';

export class FilterCache {
  /** Filter text to its AST, least recently used first. */
  private readonly parsed = new Map<string, Filter>();
  private readonly checked = new WeakMap<Filter, Set<ResourceSchema>>();

  /** @param capacity filters kept: some 300 bytes each for a simple comparison. */
  constructor(private readonly capacity = 10_000) {}

  /** parseFilter, remembered (bound, so it can be handed over as a function); a filter that fails to parse is not kept, so its error is the parser's each time. */
  readonly parse = (text: string): Filter => {
    const kept = this.parsed.get(text);
    if (kept !== undefined) {
      this.parsed.delete(text);
      this.parsed.set(text, kept);
      return kept;
    }
    const filter = deepFreeze(parseFilter(text));
    this.parsed.set(text, filter);
    if (this.parsed.size > this.capacity) this.parsed.delete(this.parsed.keys().next().value as string);
    return filter;
  };

  /** checkFilterAttributes, remembered when it passes. */
  check(filter: Filter, rs: ResourceSchema): void {
    let schemas = this.checked.get(filter);
    if (schemas?.has(rs)) return;
    checkFilterAttributes(filter, rs);
    if (!schemas) this.checked.set(filter, (schemas = new Set()));
    schemas.add(rs);
  }
}
