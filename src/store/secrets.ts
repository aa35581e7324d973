/**
 * Encryption of secrets the server must be able to read back (webhook signing secrets), with AES-256-GCM under one
 * 32-byte key that never enters the database. Tokens and management keys are hashed instead: they are only compared.
 *
 * Where the key comes from is the CLI's choice (docs/events.md): SCIMKIT_SECRET_KEY, a key file, or for a SQLite
 * database a key file created beside it with 0600 permissions.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;

/** Thrown when a secret must be encrypted or read back and no key was configured, or the key is not the one it was stored with. */
export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

export function isSecretKeyError(value: unknown): value is SecretKeyError {
  return value instanceof SecretKeyError;
}

/** Parses a key given as base64, base64url or hex text of 32 bytes. */
export function parseSecretKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) throw new SecretKeyError(`The secret key must be ${KEY_BYTES} bytes, as 64 hex digits or base64 (got ${key.length} bytes)`);
  return key;
}

export function newSecretKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export class SecretBox {
  private key: Buffer | null = null;

  /** `loadKey` runs on first use, so a store that never touches a secret never needs a key. */
  constructor(private readonly loadKey?: () => Buffer) {}

  private current(): Buffer {
    if (this.key) return this.key;
    if (!this.loadKey) {
      // Only a store an app opened itself has no loader (the CLI always gives one, with its own messages).
      throw new SecretKeyError('No secret key is configured for webhook secrets: open the store with openStore(database, { secretKey: () => key }), a 32-byte key (docs/embedding.md)');
    }
    const key = this.loadKey();
    if (key.length !== KEY_BYTES) throw new SecretKeyError(`The secret key must be ${KEY_BYTES} bytes`);
    this.key = key;
    return key;
  }

  encrypt(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current(), iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) throw new SecretKeyError('A stored secret is not in a known format');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.current(), Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch (err) {
      if (err instanceof SecretKeyError) throw err;
      throw new SecretKeyError('A stored webhook secret cannot be decrypted: the secret key is not the one it was stored with');
    }
  }
}
