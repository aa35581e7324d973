/** SCIM PATCH (RFC 7644 section 3.5.2): IdP compatibility normalizers, strict parsing, and all-or-nothing application. */
import type { ResourceSchema } from '../schema/registry.ts';
import { normalizePatchBody } from './normalizers.ts';
import type { CompatSettings } from './normalizers.ts';
import { parsePatchOperations } from './parse.ts';
import type { PatchOperation } from './types.ts';

export * from './types.ts';
export { applyPatch } from './apply.ts';
export type { ApplyPatchOptions, PatchResult } from './apply.ts';
export { MAX_PATCH_OPERATIONS, parsePatchOperations, resolvePatchTarget } from './parse.ts';
export type { PatchTarget } from './parse.ts';
export {
  NORMALIZERS,
  filterParseOptions,
  isNormalizerEnabled,
  normalizePatchBody,
  normalizeResourceBody,
  patchApplyOptions,
  validateCompatSettings,
} from './normalizers.ts';
export type { CompatSettings, Normalizer, NormalizerContext, PatchBody, RawOperation } from './normalizers.ts';

/**
 * Parses a PATCH request body: runs the enabled compatibility normalizers in order, then parses strictly
 * (see parsePatchOperations for the errors). Attributes dropped by the `ignore` unknown-attribute policy are pushed
 * to `ignored`.
 */
export function parsePatchRequest(body: unknown, rs: ResourceSchema, compat: CompatSettings, ignored?: string[]): PatchOperation[] {
  return parsePatchOperations(normalizePatchBody(body, rs, compat), rs, ignored);
}
