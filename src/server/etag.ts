/** Weak entity tags over the store's integer versions (RFC 7644 section 3.14; RFC 9110 section 8.8.3). */

export function formatEtag(version: number): string {
  return `W/"${version}"`;
}

/** A parsed If-Match / If-None-Match header: `*`, or the versions it lists (tags that are not ours match nothing). */
export type EtagCondition = { readonly any: true } | { readonly any: false; readonly versions: ReadonlySet<number> };

// One entity tag: optional weak prefix, then a quoted opaque tag without quotes inside.
const ENTITY_TAG = /^(?:W\/)?"([^"]*)"$/;

/** Returns null when the header is absent or empty. Unparseable tags are kept as "matches nothing". */
export function parseEtagCondition(header: string | string[] | undefined): EtagCondition | null {
  if (header === undefined) return null;
  const text = Array.isArray(header) ? header.join(',') : header;
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return null;
  if (parts.includes('*')) return { any: true };
  const versions = new Set<number>();
  for (const part of parts) {
    const m = ENTITY_TAG.exec(part);
    // Comparison is weak (RFC 9110 section 8.8.3.2), so W/"3" and "3" name the same version.
    if (m && /^\d{1,15}$/.test(m[1])) versions.add(Number(m[1]));
  }
  return { any: false, versions };
}

export function conditionMatches(condition: EtagCondition, version: number): boolean {
  return condition.any || condition.versions.has(version);
}
