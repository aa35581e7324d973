/**
 * Password hashing, shared fairly between organizations. One scrypt takes about a tenth of a second of a core, and
 * one write request can ask for a thousand (a Bulk of password writes): without a bound, one organization's
 * hashing fills the thread pool and every core, and every other tenant waits behind it. Here scrypt computations
 * run at most `concurrency` at a time (fewer than the cores, so request handling keeps one), organizations with
 * hashing to do take turns (round robin, so another tenant's password write waits for at most one computation of
 * each busy organization), and one organization may have at most `perOrganization` computations running or
 * waiting: past that its write is refused with 429 and Retry-After instead of piling up without bound.
 */
import { availableParallelism } from 'node:os';
import { ScimError } from '../scim/errors.ts';

export interface PasswordHashingLimits {
  /** scrypt computations running at once, across all organizations. */
  readonly concurrency: number;
  /** scrypt computations one organization may have running or waiting; one more is refused with 429. */
  readonly perOrganization: number;
}

/**
 * One core less than the machine has, so that hashing never takes every core from request handling; at least one,
 * and at most three, which leaves one of libuv's four pool threads (scrypt runs there) to file and DNS work.
 */
export function defaultHashingConcurrency(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(3, cores - 1));
}

export function defaultHashingLimits(): PasswordHashingLimits {
  return { concurrency: defaultHashingConcurrency(), perOrganization: 32 };
}

/** Runs one scrypt computation when the organization's turn comes (see passwords.ts). */
export type HashingSlot = <T>(compute: () => Promise<T>) => Promise<T>;

/** A slot that runs at once: for code outside any organization's requests (seeding, checks by an application). */
export const IMMEDIATE_SLOT: HashingSlot = (compute) => compute();

interface Waiting {
  readonly start: () => void;
}

interface OrganizationQueue {
  /** Computations running or waiting. */
  inFlight: number;
  readonly waiting: Waiting[];
  /** When its last computation started (a sequence number; 0: none yet), to choose whose turn it is. */
  lastStart: number;
}

/** A hash takes about this long before the first one is measured. */
const INITIAL_HASH_MS = 100;

export class PasswordHashing {
  readonly limits: PasswordHashingLimits;
  private readonly queues = new Map<string, OrganizationQueue>();
  private running = 0;
  private starts = 0;
  /** A moving average of one computation's duration, for Retry-After. */
  private averageMs = INITIAL_HASH_MS;

  constructor(limits: Partial<PasswordHashingLimits> = {}) {
    const defaults = defaultHashingLimits();
    this.limits = { concurrency: limits.concurrency ?? defaults.concurrency, perOrganization: limits.perOrganization ?? defaults.perOrganization };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`password hashing ${name} must be a positive integer, got ${value}`);
    }
  }

  /** The slot through which `orgId`'s writes run their scrypt computations. */
  slot(orgId: string): HashingSlot {
    return (compute) => this.run(orgId, compute);
  }

  private run<T>(orgId: string, compute: () => Promise<T>): Promise<T> {
    let queue = this.queues.get(orgId);
    if (queue === undefined) this.queues.set(orgId, (queue = { inFlight: 0, waiting: [], lastStart: 0 }));
    if (queue.inFlight >= this.limits.perOrganization) {
      const retryAfter = Math.max(1, Math.ceil((queue.inFlight * this.averageMs) / 1000));
      return Promise.reject(
        new ScimError(429, `The organization has ${queue.inFlight} password hashes in progress, the most it may have; retry later`, undefined, { retryAfter }),
      );
    }
    queue.inFlight++;
    const org = queue;
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        const began = performance.now();
        compute()
          .then(resolve, reject)
          .finally(() => {
            this.averageMs += (performance.now() - began - this.averageMs) / 8;
            this.running--;
            if (--org.inFlight === 0 && org.waiting.length === 0) this.queues.delete(orgId);
            this.next();
          });
      };
      queue.waiting.push({ start });
      this.next();
    });
  }

  /**
   * Starts waiting computations while slots are free. The turn goes to the organization whose last computation
   * started longest ago, so organizations alternate however many each has waiting.
   */
  private next(): void {
    while (this.running < this.limits.concurrency) {
      let turn: OrganizationQueue | undefined;
      for (const queue of this.queues.values()) {
        if (queue.waiting.length > 0 && (turn === undefined || queue.lastStart < turn.lastStart)) turn = queue;
      }
      if (turn === undefined) return;
      turn.lastStart = ++this.starts;
      (turn.waiting.shift() as Waiting).start();
    }
  }

  /** Computations running and waiting now (for tests and metrics). */
  get load(): { running: number; waiting: number } {
    let waiting = 0;
    for (const q of this.queues.values()) waiting += q.waiting.length;
    return { running: this.running, waiting };
  }
}
