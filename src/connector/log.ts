/**
 * The connector's logger: plain lines on stderr. Every line passes through a redactor holding the bearer token,
 * so the token can never reach a log, even when a server echoes it back in an error message.
 */

export interface Logger {
  readonly debugEnabled: boolean;
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export type Redactor = (text: string) => string;

const REDACTED = '[redacted]';

/**
 * The shortest run of a secret's characters masked wherever it appears on its own: a server may echo part of the
 * token (cut short, or split across a line), and most of a token is as good as all of it to an attacker. Eight
 * characters of a token (half of a short one) say little about the rest; shorter runs are too often ordinary words.
 */
export function secretFragmentChars(secret: string): number {
  return Math.min(8, Math.max(3, Math.floor(secret.length / 2)));
}

/** Replaces every secret (and its URL-encoded form), then every fragment of one long enough to matter. */
export function createRedactor(secrets: readonly (string | null | undefined)[]): Redactor {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  // Every substring of that many characters, of every form of every secret.
  const grams = new Set<string>();
  let gram = Infinity;
  for (const f of list) gram = Math.min(gram, secretFragmentChars(f));
  for (const f of list) for (let i = 0; i + gram <= f.length; i++) grams.add(f.slice(i, i + gram));
  return (text) => {
    let out = text;
    for (const f of list) if (out.includes(f)) out = out.split(f).join(REDACTED);
    if (grams.size === 0 || out.length < gram) return out;
    let masked: Uint8Array | null = null;
    for (let i = 0; i + gram <= out.length; i++) {
      if (!grams.has(out.slice(i, i + gram))) continue;
      masked ??= new Uint8Array(out.length);
      masked.fill(1, i, i + gram);
    }
    if (!masked) return out;
    let result = '';
    for (let i = 0; i < out.length; i++) {
      if (!masked[i]) result += out[i];
      else if (i === 0 || !masked[i - 1]) result += REDACTED;
    }
    return result;
  };
}

export interface LoggerOptions {
  readonly debug: boolean;
  readonly redact: Redactor;
  /** Where lines go; stderr by default. */
  readonly write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: string, message: string) => write(`${new Date().toISOString()} ${level} ${opts.redact(message)}\n`);
  return {
    debugEnabled: opts.debug,
    info: (m) => emit('info ', m),
    warn: (m) => emit('warn ', m),
    debug: (m) => {
      if (opts.debug) emit('debug', m);
    },
  };
}

/** A logger that drops everything, for library callers that do not want output. */
export const silentLogger: Logger = { debugEnabled: false, info: () => {}, warn: () => {}, debug: () => {} };
