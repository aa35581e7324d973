/**
 * Failures as the platforms want them told: something the user must fix in the settings (a bad value, a refused
 * token, a wrong URL), something that may pass on its own (the network, the source's 5xx), or a fault in the
 * connector or the source's data. The message is redacted: the token never reaches a platform, even in part.
 */
import { ConfigError } from '../config.ts';
import { HttpError } from '../http.ts';
import type { Redactor } from '../log.ts';
import { StateError } from './state.ts';

export type FailureKind = 'config' | 'transient' | 'system';

export interface Failure {
  readonly kind: FailureKind;
  readonly message: string;
}

/** The settings error a caller made (a catalog or a selection that names no known table, say). */
export class PlatformInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlatformInputError';
  }
}

/** The engine's delete guard names the CLI's switch; on a platform the setting is what the user can change. */
function platformHint(message: string): string {
  return message.replace(/\(re-run with --allow-mass-delete if ([^)]*)\)/, '(set max_delete_share to 1 for one sync if $1)');
}

export function classifyFailure(err: unknown, redact: Redactor): Failure {
  const message = redact(platformHint(err instanceof Error ? err.message : String(err)));
  if (err instanceof ConfigError || err instanceof StateError || err instanceof PlatformInputError) return { kind: 'config', message };
  if (err instanceof HttpError) {
    // A refused token or a URL that names no organization is a setting to fix; the network and 5xx may pass.
    if (err.status === 401 || err.status === 403 || err.status === 404) return { kind: 'config', message };
    if (err.status === null || err.status >= 500 || err.status === 429 || err.retryable) return { kind: 'transient', message };
    return { kind: 'system', message };
  }
  return { kind: 'system', message };
}
