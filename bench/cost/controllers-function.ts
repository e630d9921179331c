/**
 * The controllers function's two triggers, played as AWS plays them: the schedule (one event per
 * period) and the table's DynamoDB stream (records that pass the trigger's filter patterns,
 * gathered for up to the batch window or the batch size, one invocation per batch, one batch at a
 * time: the function's reserved concurrency is 1, so schedule and stream invocations queue behind
 * each other). Each invocation is timed and its DynamoDB cost (the controllers' own meter tap) is
 * attributed to its trigger.
 */
import { performance } from 'node:perf_hooks';
import type { StreamTrigger } from './deployment';
import { passesFilters } from './deployment';
import { copyStats, diffStats, emptyStats, type MeterStats, type StreamRecord } from './dynamo-meter';

export type Trigger = 'schedule' | 'stream';

export interface TriggerStats {
  invocations: number;
  billedMs: number;
  records: number;
  dynamo: MeterStats;
}

export function emptyTrigger(): TriggerStats {
  return { invocations: 0, billedMs: 0, records: 0, dynamo: emptyStats() };
}

export function diffTrigger(a: TriggerStats, b: TriggerStats): TriggerStats {
  return {
    invocations: a.invocations - b.invocations,
    billedMs: a.billedMs - b.billedMs,
    records: a.records - b.records,
    dynamo: diffStats(a.dynamo, b.dynamo),
  };
}

export class ControllersFunction {
  readonly stats: Record<Trigger, TriggerStats> = { schedule: emptyTrigger(), stream: emptyTrigger() };
  private queue: StreamRecord[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private scheduleTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Records seen on the stream before and after the filter. */
  streamSeen = 0;
  errors = 0;
  /**
   * Invocations that ran past the function's timeout. Lambda stops them there and bills the
   * timeout; in this process the pass cannot be stopped (a second pass beside it would double the
   * load), so it finishes and is billed the timeout only.
   */
  timeouts = 0;

  constructor(
    private readonly fn: (event: unknown, context: unknown) => Promise<unknown>,
    private readonly tap: MeterStats,
    private readonly settle: () => Promise<void>,
    private readonly trigger: StreamTrigger | undefined,
    private readonly timeoutMs = Number.POSITIVE_INFINITY,
  ) {}

  /** A stream record from the table (the meter's listener). */
  record(r: StreamRecord): void {
    if (this.stopped || !this.trigger) return;
    this.streamSeen++;
    if (!passesFilters(r, this.trigger.filterPatterns)) return;
    this.queue.push(r);
    if (this.queue.length >= this.trigger.batchSize) this.flushSoon(0);
    else this.flushSoon(this.trigger.batchWindowSeconds * 1000);
  }

  /** Starts the schedule: one event every `periodMs` (the first after one period). */
  startSchedule(periodMs: number): void {
    this.scheduleTimer = setInterval(() => void this.invokeSchedule(), periodMs);
  }

  invokeSchedule(): Promise<void> {
    return this.enqueue('schedule', { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }, 0);
  }

  /** Stops the triggers and waits (at most `limitMs`) for the invocation under way. */
  async stop(limitMs = 30_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.scheduleTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise((r) => (timer = setTimeout(r, limitMs)))]);
    clearTimeout(timer);
  }

  /** Resolves when the invocations started or queued so far have finished. */
  idle(): Promise<void> {
    return this.chain;
  }

  /**
   * Resolves when no record waits for its batch and nothing runs, or after `limitMs` (a busy
   * cluster's stream never empties).
   */
  async drained(limitMs: number): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      await Promise.race([this.chain, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      if (this.queue.length === 0 && !this.timer) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private flushSoon(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const batch = this.queue.splice(0, this.trigger?.batchSize ?? 100);
      if (batch.length === 0) return;
      void this.enqueue('stream', { Records: batch.map(({ at: _at, ...r }) => r) }, batch.length).then(() => {
        // Records that arrived meanwhile have waited their window already (or start it now).
        if (this.queue.length > 0 && !this.stopped) this.flushSoon(0);
      });
    }, ms);
  }

  private enqueue(kind: Trigger, event: unknown, records: number): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.stopped && kind === 'stream') return;
      await this.settle();
      const before = copyStats(this.tap);
      const started = performance.now();
      try {
        await this.fn(event, {});
      } catch {
        this.errors++;
      }
      let billed = Math.max(1, Math.ceil(performance.now() - started));
      if (billed > this.timeoutMs) {
        this.timeouts++;
        billed = this.timeoutMs;
      }
      await this.settle();
      const s = this.stats[kind];
      s.invocations++;
      s.billedMs += billed;
      s.records += records;
      const d = diffStats(this.tap, before);
      addInto(s.dynamo, d);
    });
    this.chain = run;
    return run;
  }
}

function addInto(into: MeterStats, d: MeterStats): void {
  into.calls += d.calls;
  into.requestBytes += d.requestBytes;
  into.responseBytes += d.responseBytes;
  into.rru += d.rru;
  into.wru += d.wru;
  into.indexWru += d.indexWru;
  for (const [k, s] of Object.entries(d.byOp)) {
    into.byOp[k] ??= { calls: 0, requestBytes: 0, responseBytes: 0, rru: 0, wru: 0, failed: 0 };
    const o = into.byOp[k];
    o.calls += s.calls;
    o.requestBytes += s.requestBytes;
    o.responseBytes += s.responseBytes;
    o.rru += s.rru;
    o.wru += s.wru;
    o.failed += s.failed;
  }
  for (const [k, n] of Object.entries(d.unpriced)) into.unpriced[k] = (into.unpriced[k] ?? 0) + n;
}

export { addInto as addStatsInto };
