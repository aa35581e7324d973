/** The sync connector as a library: configs, the sync engine, the probe, the HTTP client and the destinations. */
export { ConfigError, DEFAULTS, loadConfig, parseConfig, type ConnectorConfig, type DestinationUrl } from './config.ts';
export { CONTENTSTACK_REGIONS, contentstackHost, resolveBaseUrl, type ContentstackRegion, type ProviderKind } from './providers.ts';
export { HttpClient, HttpError, parseRetryAfter, type BodyReader, type HttpClientOptions, type HttpStats, type JsonResponse } from './http.ts';
export { MalformedJson } from './json-stream.ts';
export type { ResponseHeaders } from './wire.ts';
export type { MemberSpool } from './member-spool.ts';
export { RatePacer, readRateLimit, type RateLimitInfo } from './pacer.ts';
export { createLogger, createRedactor, silentLogger, type Logger } from './log.ts';
export { probe, parseListResponse, parseServiceProviderConfig, type Capabilities, type ListPage } from './source.ts';
export { openDestination } from './destination/index.ts';
export type { Destination, RowsPerWrite, StreamName, StreamState, Strategy, Phase } from './destination/types.ts';
export { TABLES, USERS_TABLE, GROUPS_TABLE, MEMBERS_TABLE, type TableName } from './tables.ts';
export { createProgress, formatSummary, noProgress, type ProgressSink, type SyncSummary, type TableStats } from './progress.ts';
export { CURSOR_LOOKBACK_MS, clientFor, runSync, SyncError, type SyncOptions } from './sync.ts';
