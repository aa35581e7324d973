/**
 * Finishes role recomputations left unfinished (docs/roles.md): a rule or catalogue change runs its recomputation to
 * the end itself, batch by batch, but a process stopped halfway leaves the rest as a job in the store. `serve` runs
 * every such job at start and every few seconds after, so the roles always catch up. Two processes on one job take
 * turns batch by batch (the store locks the job for each), so nothing is done twice.
 */
import type { Store } from '../store/types.ts';
import type { WorkerLogger } from './delivery.ts';
import { type Periodic, startPeriodic } from './periodic.ts';

const INTERVAL_MS = 5_000;

export class RoleJobRunner {
  private periodic: Periodic | null = null;
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly logger?: WorkerLogger,
  ) {}

  /** Runs now and every five seconds until stop(). */
  start(): void {
    this.periodic = startPeriodic(
      async () => {
        const changed = await this.store.runRoleJobs(undefined, this.stopping.signal);
        if (changed > 0) this.logger?.info({ changed }, 'role recomputation: users whose roles changed');
      },
      INTERVAL_MS,
      (err) => this.logger?.error({ err }, 'role recomputation failed'),
    );
  }

  async stop(): Promise<void> {
    // The batch under way commits; the rest stays a job for the next start.
    this.stopping.abort();
    await this.periodic?.stop();
  }
}
