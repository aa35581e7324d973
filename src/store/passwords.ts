/**
 * Passwords at rest. RFC 7643 section 4.1.1: a service provider that holds a User's password SHOULD hash it, and
 * never returns it. The store keeps only scrypt hashes (`$scrypt$ln=15,r=8,p=1$<salt>$<key>`, base64url), made
 * before a write's transaction because hashing is deliberately slow; inside the transaction, a document whose
 * password is anything but such a hash is refused (see assertStorablePassword).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';
import { ScimError } from '../scim/errors.ts';
import { checkStringLength } from '../scim/limits.ts';
import { resolvePatchTarget, resolveValueKey } from '../scim/patch/parse.ts';
import type { PatchOperation } from '../scim/patch/types.ts';
import type { ResourceSchema } from '../scim/schema/registry.ts';
import { IMMEDIATE_SLOT } from './hashing.ts';
import type { HashingSlot } from './hashing.ts';

const LOG_N = 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** 128 * N * r bytes of memory per hash (32 MiB here), above Node's default ceiling of exactly that. */
const MAX_MEMORY = 64 * 1024 * 1024;
const HASH_FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

function derive(secret: string, salt: Buffer, bytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret.normalize('NFC'), salt, bytes, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `slot` runs the scrypt computation when its organization's turn comes (hashing.ts); at once by default. */
export async function hashPassword(secret: string, slot: HashingSlot = IMMEDIATE_SLOT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await slot(() => derive(secret, salt, KEY_BYTES, { N: 2 ** LOG_N, r: BLOCK_SIZE, p: PARALLELISM, maxmem: MAX_MEMORY }));
  return `$scrypt$ln=${LOG_N},r=${BLOCK_SIZE},p=${PARALLELISM}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export function isPasswordHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_FORMAT.test(value);
}

/** Whether `candidate` is the password `stored` was made from (constant time in the key comparison). */
export async function verifyPassword(stored: string, candidate: string, slot: HashingSlot = IMMEDIATE_SLOT): Promise<boolean> {
  const m = HASH_FORMAT.exec(stored);
  if (!m) return false;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5], 'base64url');
  // Bounded, so that no stored value can make a check take minutes or gigabytes.
  if (logN < 10 || logN > 17 || r < 1 || r > 8 || p < 1 || p > 4 || expected.length < 16 || expected.length > 64) return false;
  const key = await slot(() => derive(candidate, Buffer.from(m[4], 'base64url'), expected.length, { N: 2 ** logN, r, p, maxmem: 256 * r * 2 ** logN }));
  return timingSafeEqual(key, expected);
}

/** Reads the stored hash of the User being written, when a write carries a password (undefined: none stored). */
export type StoredHash = () => Promise<string | undefined>;

/**
 * The hash to store for a password a client sent: the stored hash when the password is the one it was made from,
 * else a new one. Resending an unchanged password (IdPs resend whole Users) thus leaves the document as it is, and
 * the write changes nothing; a fresh salt would make every resend look like a change. Checking costs one scrypt
 * with the stored parameters; a different password then costs a second one, to hash it with a new salt.
 */
export async function hashUnlessSame(password: string, stored: StoredHash | undefined, slot: HashingSlot = IMMEDIATE_SLOT): Promise<string> {
  const current = stored && (await stored());
  if (current !== undefined && (await verifyPassword(current, password, slot))) return current;
  return hashPassword(password, slot);
}

/**
 * The document with its password (a validated document's top-level `password`) hashed (see hashUnlessSame).
 * Whatever a client sends is its password, even text shaped like a hash: only the store itself carries a stored
 * hash over (a PUT that omits the password keeps it, see replaceResource).
 */
export async function withHashedPassword(document: Record<string, unknown>, stored?: StoredHash, slot?: HashingSlot): Promise<Record<string, unknown>> {
  const password = document.password;
  if (typeof password !== 'string') return document;
  return { ...document, password: await hashUnlessSame(password, stored, slot) };
}

function isPassword(rs: ResourceSchema, extension: string | null, name: string): boolean {
  return extension === null && name === 'password' && rs.core.attributes.some((a) => a.name === 'password');
}

/**
 * PATCH operations with every cleartext password value hashed (see hashUnlessSame): a `password` path, or a
 * `password` key of a path-less value, resolved as applyPatch resolves them. Operations the patch would reject are left for it to reject.
 */
export async function withHashedPasswords(
  rs: ResourceSchema,
  operations: readonly PatchOperation[],
  stored?: StoredHash,
  slot?: HashingSlot,
): Promise<PatchOperation[]> {
  return Promise.all(
    operations.map(async (operation): Promise<PatchOperation> => {
      if (operation.op === 'remove') return operation;
      if (operation.path !== null) {
        let target;
        try {
          target = resolvePatchTarget(rs, operation.path);
        } catch {
          return operation;
        }
        const named = target.sub === null && target.filter === null && isPassword(rs, target.extension, target.attribute.name);
        if (!named || typeof operation.value !== 'string') return operation;
        // Validation sees only the hash, so the plaintext meets the length limit here, as a POST's or PUT's does.
        checkStringLength(rs.resourceType.name, 'password', operation.value);
        return { ...operation, value: await hashUnlessSame(operation.value, stored, slot) };
      }
      const value = operation.value;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return operation;
      const hashed: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      let changed = false;
      for (const [key, v] of Object.entries(hashed)) {
        const named = resolveValueKey(rs, key);
        if (named?.kind === 'attribute' && isPassword(rs, null, named.attribute.name) && typeof v === 'string') {
          checkStringLength(rs.resourceType.name, 'password', v);
          hashed[key] = await hashUnlessSame(v, stored, slot);
          changed = true;
        }
      }
      return changed ? { ...operation, value: hashed } : operation;
    }),
  );
}

/** The last line of defence inside a write: a password that reached the store unhashed is refused, never stored. */
export function assertStorablePassword(document: Record<string, unknown>): void {
  if (document.password !== undefined && !isPasswordHash(document.password)) {
    throw ScimError.invalidValue('Attribute "password" must be a single string value');
  }
}
