/**
 * Exponential back-off with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * many agents retrying a control plane that just came back do not arrive in lock-step.
 */
export interface Backoff {
  /** The next delay in ms; grows until `maxMs`. */
  next(): number;
  reset(): void;
  readonly attempts: number;
}

export function createBackoff(baseMs: number, maxMs: number, random: () => number = Math.random): Backoff {
  let attempts = 0;
  return {
    next() {
      const ceiling = Math.min(maxMs, baseMs * 2 ** attempts);
      attempts++;
      return Math.max(baseMs / 2, Math.floor(random() * ceiling));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

/**
 * The wait before calling a control plane that went away again. The first retry after a
 * success is spread uniformly over `spreadMs` (what the server last asked: its agents reconnecting
 * all at once after a restart would overflow its accept queue) when that is longer than the
 * back-off's own; later ones follow the back-off alone.
 */
export function reconnectDelayMs(
  backoffMs: number,
  spreadMs: number,
  firstFailure: boolean,
  random: () => number = Math.random,
): number {
  if (!firstFailure || spreadMs <= 0) return backoffMs;
  return Math.max(backoffMs, Math.floor(random() * spreadMs));
}

/** Kubernetes' container restart back-off: 10 s doubling to 5 min, reset after 10 min of running. */
export function crashLoopDelayMs(restartCount: number, baseMs = 10_000, maxMs = 300_000): number {
  if (restartCount <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** (restartCount - 1));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
