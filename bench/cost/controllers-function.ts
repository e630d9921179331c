/**
 * The controllers function's triggers, played as AWS plays them: the schedule (one event per
 * period) and each mapping on the table's DynamoDB stream (records that pass the mapping's filter
 * patterns, gathered for up to its batch window or its batch size, one invocation per batch, one
 * batch at a time: the function's reserved concurrency is 1, so schedule and stream invocations
 * queue behind each other). Each invocation is timed and its DynamoDB cost (the controllers' own
 * meter tap) is attributed to its trigger; stream invocations are also counted per mapping, with
 * how many ran a full pass (the handler answers `{ ran }`).
 */
import { performance } from 'node:perf_hooks';
import type { StreamTrigger } from './deployment';
import { passesFilters } from './deployment';
import { copyStats, diffStats, emptyStats, type MeterStats, type StreamRecord } from './dynamo-meter';

export type Trigger = 'schedule' | 'stream';

const LOG_LIMIT = 20_000;

export interface MappingStats {
  invocations: number;
  /** Invocations that ran a full controllers pass (the rest ran the cheap check or nothing). */
  passes: number;
  records: number;
}

export interface TriggerStats {
  invocations: number;
  passes: number;
  billedMs: number;
  records: number;
  dynamo: MeterStats;
  /** Stream invocations by mapping (`stream`: the function's own stream event). */
  byMapping: Record<string, MappingStats>;
}

export function emptyTrigger(): TriggerStats {
  return { invocations: 0, passes: 0, billedMs: 0, records: 0, dynamo: emptyStats(), byMapping: {} };
}

export function diffTrigger(a: TriggerStats, b: TriggerStats): TriggerStats {
  const byMapping: Record<string, MappingStats> = {};
  for (const [name, m] of Object.entries(a.byMapping)) {
    const o = b.byMapping[name] ?? { invocations: 0, passes: 0, records: 0 };
    byMapping[name] = {
      invocations: m.invocations - o.invocations,
      passes: m.passes - o.passes,
      records: m.records - o.records,
    };
  }
  return {
    invocations: a.invocations - b.invocations,
    passes: a.passes - b.passes,
    billedMs: a.billedMs - b.billedMs,
    records: a.records - b.records,
    dynamo: diffStats(a.dynamo, b.dynamo),
    byMapping,
  };
}

/** One finished invocation, for a window's timeline (bench/cost.ts: the rolling update's passes). */
export interface Invocation {
  /** When it started (Date.now()) and how long it ran, ms (not capped at the timeout). */
  at: number;
  ms: number;
  kind: Trigger;
  mapping?: string;
  ran: boolean;
}

/** What the controllers function did between two times: how busy it was, and its passes. */
export function busyBetween(log: readonly Invocation[], from: number, to: number, runningSince?: number) {
  const within = log.filter((i) => i.at >= from && i.at < to);
  const passes = within.filter((i) => i.ran);
  const running = runningSince !== undefined && runningSince < to ? to - Math.max(from, runningSince) : 0;
  const busyMs = within.reduce((n, i) => n + Math.min(i.ms, to - i.at), 0) + running;
  return {
    invocations: within.length,
    passes: passes.length,
    passSeconds: passes.map((i) => Math.round(i.ms / 100) / 10),
    /** Share of the time an invocation ran (the function runs one at a time). */
    busyShare: to > from ? busyMs / (to - from) : 0,
    /** An invocation still running at `to` (its time is in busyShare, not in passSeconds). */
    runningAtEnd: running > 0,
  };
}

interface Batching {
  trigger: StreamTrigger;
  queue: StreamRecord[];
  timer: NodeJS.Timeout | undefined;
}

export class ControllersFunction {
  readonly stats: Record<Trigger, TriggerStats> = { schedule: emptyTrigger(), stream: emptyTrigger() };
  private readonly batching: Batching[];
  private chain: Promise<void> = Promise.resolve();
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
  /** The finished invocations, oldest first (the latest LOG_LIMIT). */
  readonly log: Invocation[] = [];
  /** When the invocation under way started, if one is. */
  runningSince: number | undefined;

  constructor(
    private readonly fn: (event: unknown, context: unknown) => Promise<unknown>,
    private readonly tap: MeterStats,
    private readonly settle: () => Promise<void>,
    triggers: StreamTrigger[],
    private readonly timeoutMs = Number.POSITIVE_INFINITY,
  ) {
    this.batching = triggers.map((trigger) => ({ trigger, queue: [], timer: undefined }));
  }

  /** A stream record from the table (the meter's listener): each mapping whose filter it passes gets it. */
  record(r: StreamRecord): void {
    if (this.stopped) return;
    this.streamSeen++;
    for (const b of this.batching) {
      if (!passesFilters(r, b.trigger.filterPatterns)) continue;
      b.queue.push(r);
      if (b.queue.length >= b.trigger.batchSize) this.flushSoon(b, 0);
      else this.flushSoon(b, b.trigger.batchWindowSeconds * 1000);
    }
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
    for (const b of this.batching) clearTimeout(b.timer);
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
      if (this.batching.every((b) => b.queue.length === 0 && !b.timer)) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private flushSoon(b: Batching, ms: number): void {
    if (b.timer) return;
    b.timer = setTimeout(() => {
      b.timer = undefined;
      const batch = b.queue.splice(0, b.trigger.batchSize);
      if (batch.length === 0) return;
      const event = { Records: batch.map(({ at: _at, ...r }) => r) };
      void this.enqueue('stream', event, batch.length, b.trigger.name).then(() => {
        // Records that arrived meanwhile have waited their window already (or start it now).
        if (b.queue.length > 0 && !this.stopped) this.flushSoon(b, 0);
      });
    }, ms);
  }

  private enqueue(kind: Trigger, event: unknown, records: number, mapping?: string): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.stopped && kind === 'stream') return;
      await this.settle();
      const before = copyStats(this.tap);
      const started = performance.now();
      const startedAt = Date.now();
      this.runningSince = startedAt;
      let ran = false;
      try {
        ran = ((await this.fn(event, {})) as { ran?: boolean } | undefined)?.ran === true;
      } catch {
        this.errors++;
      }
      this.runningSince = undefined;
      const took = performance.now() - started;
      this.log.push({ at: startedAt, ms: took, kind, ...(mapping ? { mapping } : {}), ran });
      if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
      let billed = Math.max(1, Math.ceil(took));
      if (billed > this.timeoutMs) {
        this.timeouts++;
        billed = this.timeoutMs;
      }
      await this.settle();
      const s = this.stats[kind];
      s.invocations++;
      s.billedMs += billed;
      s.records += records;
      if (ran) s.passes++;
      if (mapping) {
        s.byMapping[mapping] ??= { invocations: 0, passes: 0, records: 0 };
        const m = s.byMapping[mapping];
        m.invocations++;
        m.records += records;
        if (ran) m.passes++;
      }
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
