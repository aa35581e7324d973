/**
 * A background task run now and then every `intervalMs` until stopped: a run never overlaps the one before it (a
 * tick while one is under way is skipped), a failure is handed to `onError` and the next tick runs again, the timer
 * does not keep the process alive, and stop() waits for the run under way.
 */
export interface Periodic {
  stop(): Promise<void>;
}

export function startPeriodic(run: () => Promise<unknown>, intervalMs: number, onError: (err: unknown) => void): Periodic {
  let running: Promise<void> | null = null;
  let stopped = false;
  const tick = () => {
    if (stopped || running) return;
    running = run()
      .then(() => undefined, onError)
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
