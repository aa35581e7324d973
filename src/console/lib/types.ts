/** The management API's JSON, as the console reads it (docs/console.md lists every route). */

export interface Session {
  readonly admin: { readonly id: string; readonly email: string };
  readonly csrf_token: string;
}

export interface OrgSettingsJson {
  readonly read_limit: number;
  readonly write_limit: number;
  readonly compat: Record<string, boolean>;
  readonly unknown_attributes: 'reject' | 'ignore' | 'keep';
  readonly advertise_pagination: boolean;
}

export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly created_at: string;
  readonly scim_base_url: string;
  readonly settings: OrgSettingsJson;
  readonly counts?: { readonly users: number; readonly groups: number; readonly events: number };
}

/** One setting the organization page can edit, with the sentence that explains it. */
export interface SettingDescription {
  readonly key: string;
  readonly label: string;
  readonly kind: 'integer' | 'boolean' | 'choice';
  readonly description: string;
  readonly details?: string;
  readonly default: number | boolean | string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

export interface Token {
  readonly id: string;
  readonly scope: 'read' | 'read-write';
  readonly user_id: string | null;
  readonly created_at: string;
  readonly revoked_at: string | null;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
  readonly setup_link_id: string | null;
}

export interface RequestLogEntry {
  readonly id: string;
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly latency_ms: number;
  readonly scim_type: string | null;
  readonly detail: string | null;
  readonly request_body: unknown;
  readonly token_id: string | null;
  readonly user_agent: string | null;
  readonly request_id: string;
}

export interface RateLimitUsage {
  readonly read: { readonly limit: number; readonly used: number };
  readonly write: { readonly limit: number; readonly used: number };
  readonly window_seconds: number;
  readonly recent_429s: RequestLogEntry[];
}

export interface SetupLink {
  readonly id: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly revoked_at: string | null;
  readonly token_id: string | null;
  readonly first_request_at: string | null;
  readonly url?: string;
}

export interface EventJson {
  readonly id: string;
  readonly type: string;
  readonly organization_id: string;
  readonly sequence: number;
  readonly occurred_at: string;
  readonly data: Record<string, unknown>;
  readonly previous?: Record<string, unknown>;
}

export interface Webhook {
  readonly id: string;
  readonly url: string;
  readonly events: string[] | null;
  readonly enabled: boolean;
  readonly disabled_reason: string | null;
  readonly previous_secret_valid_until: string | null;
  readonly paused_until: string | null;
  readonly created_at: string;
}

export interface Delivery {
  readonly id: string;
  readonly webhook_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly sequence: number;
  readonly status: 'pending' | 'succeeded' | 'failed';
  readonly attempts: number;
  readonly next_attempt_at: string | null;
  readonly last_status: number | null;
  readonly last_error: string | null;
  readonly last_attempt_at: string | null;
  readonly created_at: string;
  readonly finished_at: string | null;
}
