/** Types of services.mjs, for the TypeScript tests that start their own servers. */
export interface ThrowawayServer {
  readonly url: string;
  /** Stops the server as an outage would, keeping its port (and PostgreSQL's data). */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
  /** Stops the server for good and removes its files. */
  stop(): Promise<void>;
}

export interface ThrowawayPostgres extends ThrowawayServer {
  createDatabase(name: string): string;
  /** Stops the server's processes with SIGSTOP (a hung host: connections stay open, nothing answers). */
  freeze(): void;
  /** Continues them (SIGCONT). */
  thaw(): Promise<void>;
}

export function freePort(): Promise<number>;
export function startPostgres(): Promise<ThrowawayPostgres | null>;
export function startRedis(): Promise<ThrowawayServer | null>;
