/**
 * When a polled node (Lambda) calls again while its desired state is quiet: on a slot of its own,
 * a fixed phase of the quiet interval taken from a hash of its name. A change that reaches every
 * node at once leaves them syncing in step (busy together for a minute, then quiet on the same
 * beat), and so renewing their Leases in one burst per renewal period; the lease stream that
 * detects failures (serverless.yml) then has a batch only that often. On slots, the quiet syncs and
 * the renewals spread evenly over the interval again within one interval, and the mean rate stays
 * one sync per quiet interval (a slot nearer than a quarter interval is skipped for the next).
 */

/** Milliseconds until the node's next quiet slot. */
export function quietSyncAfterMs(nodeName: string, now: number, periodMs: number): number {
  // No quiet interval (a runtime that answers at once and wants the next call at once): no slot.
  if (periodMs <= 0) return 0;
  const phase = hash(nodeName) % periodMs;
  let next = (((phase - now) % periodMs) + periodMs) % periodMs;
  if (next < periodMs / 4) next += periodMs;
  return next;
}

/** 32-bit FNV-1a: stable across processes and releases, which is all a phase needs. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
