/**
 * What the agent counts for its `/metrics` (metrics-endpoint.ts), process-wide: one agent runs per
 * process, and the sync loop and the prober note here without a metrics object threaded through
 * every constructor. Labels are bounded: probe kinds and results, sync modes. Never a pod name.
 * The families are the exposition's own (schemas/prom-text.ts, shared with the control plane).
 */
import { Counter, type CounterSeries, Histogram, type HistogramSeries } from '../schemas/prom-text';

/** Upper bounds (seconds) of the sync latency buckets: quick syncs take ms, held ones up to the wait. */
export const SYNC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const PROBE_KINDS = ['Liveness', 'Readiness', 'Startup'] as const;
const RESULTS = ['successful', 'failed'] as const;

/** The families, made once; every series exists from the start, so a scrape shows zeros too. */
export const agentFamilies = {
  probes: new Counter('prober_probe_total', 'Probes run, by type and result (the kubelet name, without pod labels).', [
    'probe_type',
    'result',
  ]),
  syncs: new Histogram(
    'ferry_agent_sync_duration_seconds',
    'Syncs with the control plane, by mode (held: the server may hold it open until something changes; quick: answered at once).',
    ['mode'],
    SYNC_BUCKETS,
  ),
  syncErrors: new Counter(
    'ferry_agent_sync_errors_total',
    'Syncs that failed (the control plane unreachable or refusing).',
    [],
  ),
};

/** The series the agent notes on, resolved once. */
export const agentCounters = {
  probes: new Map<string, CounterSeries>(
    PROBE_KINDS.flatMap((k) => RESULTS.map((r) => [`${k} ${r}`, agentFamilies.probes.get(k, r)] as const)),
  ),
  syncs: {
    held: agentFamilies.syncs.get('held'),
    quick: agentFamilies.syncs.get('quick'),
  } as Record<'held' | 'quick', HistogramSeries>,
  syncErrors: agentFamilies.syncErrors.get(),
};

/** One probe's outcome; `kind` is Liveness, Readiness or Startup. */
export function noteProbe(kind: 'Liveness' | 'Readiness' | 'Startup', ok: boolean): void {
  agentCounters.probes.get(`${kind} ${ok ? 'successful' : 'failed'}`)?.inc();
}

/** One sync answered: held open by the server (waitSeconds > 0) or asked to answer at once. */
export function noteSync(held: boolean, seconds: number): void {
  agentCounters.syncs[held ? 'held' : 'quick'].observe(seconds);
}

export function noteSyncError(): void {
  agentCounters.syncErrors.inc();
}
