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

/** Replaces every secret (and its URL-encoded form) in a text. */
export function createRedactor(secrets: readonly (string | null | undefined)[]): Redactor {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const f of list) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return out;
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
