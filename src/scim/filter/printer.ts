/**
 * Canonical text for filter ASTs: lower-case operators and keywords, single spaces, JSON string literals.
 * The parser builds left-associative `and`/`or` trees with `and` binding tighter, so a child is parenthesised exactly
 * when reading it back without parentheses would give a different tree: parseFilter(printFilter(f)) deep-equals f.
 */
import { ScimError } from '../errors.ts';
import type { AttrPath, Filter, FilterValue, PatchPath } from './ast.ts';

export function printAttrPath(p: AttrPath): string {
  return `${p.urn !== null ? `${p.urn}:` : ''}${p.name}${p.sub !== null ? `.${p.sub}` : ''}`;
}

function printValue(value: FilterValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw ScimError.invalidFilter(`Cannot print the non-finite number ${value} in a filter`);
    // String(-0) is "0", which would read back as +0.
    return Object.is(value, -0) ? '-0' : String(value);
  }
  return String(value);
}

function wrap(text: string, parenthesise: boolean): string {
  return parenthesise ? `(${text})` : text;
}

export function printFilter(filter: Filter): string {
  switch (filter.kind) {
    case 'compare':
      return `${printAttrPath(filter.path)} ${filter.op} ${printValue(filter.value)}`;
    case 'present':
      return `${printAttrPath(filter.path)} pr`;
    case 'not':
      return `not (${printFilter(filter.filter)})`;
    case 'valuePath':
      return `${printAttrPath(filter.path)}[${printFilter(filter.filter)}]`;
    case 'or':
      // Left-associative: only a right-hand `or` needs parentheses.
      return `${printFilter(filter.left)} or ${wrap(printFilter(filter.right), filter.right.kind === 'or')}`;
    case 'and': {
      const left = wrap(printFilter(filter.left), filter.left.kind === 'or');
      const right = wrap(printFilter(filter.right), filter.right.kind === 'or' || filter.right.kind === 'and');
      return `${left} and ${right}`;
    }
  }
}

export function printPatchPath(p: PatchPath): string {
  const filter = p.filter !== null ? `[${printFilter(p.filter)}]` : '';
  const sub = p.subAfterFilter !== null ? `.${p.subAfterFilter}` : '';
  return `${printAttrPath(p.attribute)}${filter}${sub}`;
}
