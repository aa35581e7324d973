/**
 * Long polling: a request with `wait` sleeps here until its organization's stream may have grown. It wakes at once
 * when this process commits events for the organization (the store tells it), and otherwise every POLL_MS, so that
 * events committed by another process (another server on the same PostgreSQL, or a CLI on the same SQLite file) are
 * found too. One instance per management API; nothing is shared between instances.
 */
import type { Store } from '../../store/types.ts';

/** How often a waiting request looks again for events committed by other processes. */
export const POLL_MS = 500;

export class EventWaiter {
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(store: Store) {
    this.unsubscribe = store.onEventsCommitted((orgId) => this.wake(orgId));
  }

  private wake(orgId: string): void {
    const set = this.waiting.get(orgId);
    if (!set) return;
    this.waiting.delete(orgId);
    for (const resolve of set) resolve();
  }

  /** Resolves when `orgId` gets events here, after POLL_MS or `ms` (whichever is first), or when `signal` aborts. */
  wait(orgId: string, ms: number, signal: AbortSignal): Promise<void> {
    if (this.closed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiting.get(orgId);
      if (!set) this.waiting.set(orgId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.waiting.get(orgId) === set) this.waiting.delete(orgId);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, POLL_MS));
      signal.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Wakes every waiter and refuses to wait again (the server is closing). */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const orgId of [...this.waiting.keys()]) this.wake(orgId);
  }
}
