/**
 * What the agent counts for its `/metrics` (metrics-endpoint.ts), process-wide: one agent runs per
 * process, and the sync loop and the prober note here without a metrics object threaded through
 * every constructor. Labels are bounded: probe kinds and results, sync modes. Never a pod name.
 */

/** Upper bounds (seconds) of the sync latency buckets: quick syncs take ms, held ones up to the wait. */
export const SYNC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface SyncHistogram {
  /** Per bucket, the last one +Inf (not cumulative). */
  counts: number[];
  sum: number;
  count: number;
}

export const agentCounters = {
  /** `${kind} ${result}` -> probes run (kubelet's prober_probe_total without pod labels). */
  probes: new Map<string, number>(),
  syncs: {
    held: newHistogram(),
    quick: newHistogram(),
  } as Record<'held' | 'quick', SyncHistogram>,
  syncErrors: 0,
};

function newHistogram(): SyncHistogram {
  return { counts: new Array(SYNC_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
}

/** One probe's outcome; `kind` is Liveness, Readiness or Startup. */
export function noteProbe(kind: 'Liveness' | 'Readiness' | 'Startup', ok: boolean): void {
  const key = `${kind} ${ok ? 'successful' : 'failed'}`;
  agentCounters.probes.set(key, (agentCounters.probes.get(key) ?? 0) + 1);
}

/** One sync answered: held open by the server (waitSeconds > 0) or asked to answer at once. */
export function noteSync(held: boolean, seconds: number): void {
  const h = agentCounters.syncs[held ? 'held' : 'quick'];
  let i = 0;
  while (i < SYNC_BUCKETS.length && seconds > (SYNC_BUCKETS[i] as number)) i++;
  h.counts[i] = (h.counts[i] as number) + 1;
  h.sum += seconds;
  h.count++;
}

export function noteSyncError(): void {
  agentCounters.syncErrors++;
}
