/** Shared helpers for the PATCH tests (not a test file itself). */
import assert from 'node:assert/strict';
import { ScimError } from '../../src/scim/errors.ts';
import { NORMALIZERS, applyPatch, parsePatchRequest, patchApplyOptions } from '../../src/scim/patch/index.ts';
import type { ApplyPatchOptions, CompatSettings, PatchResult } from '../../src/scim/patch/index.ts';
import { PATCH_OP_SCHEMA } from '../../src/scim/schema/core.ts';
import type { ResourceSchema } from '../../src/scim/schema/registry.ts';
import type { ScimType } from '../../src/scim/errors.ts';

export function body(...operations: unknown[]): Record<string, unknown> {
  return { schemas: [PATCH_OP_SCHEMA], Operations: operations };
}

/** Every normalizer off: strict RFC 7644. */
export const STRICT: CompatSettings = Object.fromEntries(NORMALIZERS.map((n) => [n.name, false]));

/** Only the named normalizer on. */
export function only(name: string): CompatSettings {
  assert.ok(NORMALIZERS.some((n) => n.name === name), `unknown normalizer ${name}`);
  return { ...STRICT, [name]: true };
}

/** Parses (with the given compat settings) and applies operations to a document. */
export function patch(
  rs: ResourceSchema,
  document: Record<string, unknown>,
  operations: unknown[],
  compat: CompatSettings = STRICT,
  options: ApplyPatchOptions = {},
): PatchResult {
  const parsed = parsePatchRequest(body(...operations), rs, compat);
  return applyPatch(rs, document, parsed, { ...patchApplyOptions(compat), ...options });
}

export function assertScimError(fn: () => unknown, scimType: ScimType, detail?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ScimError, `expected a ScimError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.scimType, scimType, `scimType for "${err.message}"`);
    if (detail) assert.match(err.message, detail);
    return true;
  });
}

/** Freezes a value deeply, so any mutation of test input throws (modules run in strict mode). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
