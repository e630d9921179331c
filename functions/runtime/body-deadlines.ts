/**
 * The deadlines of request bodies being read, kept by one sweep timer per server instead of a
 * setTimeout per request. Node keeps one timer list per distinct duration, in an object keyed by
 * the duration (its `timerListMap`); a held sync's wake timer has a duration of its own (wakes are
 * spread over seconds), so at 5,000 nodes thousands of small keys are live, and creating then
 * deleting the 20 s list for every request flipped that object's storage between an array and a
 * dictionary, copying every key each time: 400-460 µs a request in a micro-benchmark, 5.4 s of a
 * 68 s profile of a 5,000-node server (1,000 nodes: 0.07 s). Here a body costs a Set add and
 * delete; a body still arriving at its deadline is expired by the next sweep, so it ends within
 * its deadline plus one sweep interval.
 */

interface Pending {
  at: number;
  expire: () => void;
}

export class BodyDeadlines {
  private readonly pending = new Set<Pending>();
  private readonly timer: NodeJS.Timeout;

  /** `everyMs`: how often pending bodies are checked (how late past its deadline a body may end). */
  constructor(
    everyMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // One interval for the server's life: starting and stopping it as bodies come and go would
    // create and delete its timer list as the per-request timeout did.
    this.timer = setInterval(() => this.sweep(), everyMs);
    this.timer.unref();
  }

  /** Calls `expire` once `deadlineMs` from now has passed, unless the returned function is called first. */
  add(deadlineMs: number, expire: () => void): () => void {
    const entry: Pending = { at: this.now() + deadlineMs, expire };
    this.pending.add(entry);
    return () => this.pending.delete(entry);
  }

  /** How many bodies are being read now. */
  size(): number {
    return this.pending.size;
  }

  sweep(): void {
    const now = this.now();
    for (const entry of this.pending) {
      if (entry.at > now) continue;
      this.pending.delete(entry);
      entry.expire();
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.pending.clear();
  }
}

/** The sweep interval for a server whose bodies get `bodyMs`: a quarter of it, within 10 ms and 1 s. */
export function sweepInterval(bodyMs: number): number {
  return Math.min(1_000, Math.max(10, Math.floor(bodyMs / 4)));
}
