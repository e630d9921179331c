/**
 * The churn guard's arithmetic, pure. A turn of churn is a pass that lost machines soon after
 * making them (retired at the same generation within minutes, never registered) or could not make
 * them (creates failing, no capacity anywhere), or found a machine listed by two Clouds. Each turn
 * doubles the back-off before the next create; after `maxChurnTurns` the pool is Degraded and
 * creates nothing until its spec changes (a new generation) or the user sets
 * `ferry.dev/clear-degraded`. A pool that is Ready with nothing left to move forgets its turns.
 * Like a Pod's CrashLoopBackOff, but for machines, which are billed.
 */
import type { NodePoolChurn } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { type Churn, DEFAULTS, type NodePoolOptions } from './context';

/** The stored churn state, or nothing when it was counted for another generation. */
export function churnOf(stored: NodePoolChurn | undefined, generation: number): NodePoolChurn | undefined {
  return stored && stored.generation === generation ? stored : undefined;
}

/** Why creating is held back now, if it is. */
export function creationHold(churn: NodePoolChurn | undefined, now: number): string | undefined {
  if (!churn) return undefined;
  if (churn.degraded) return `Degraded (${churn.reason}): ${churn.message}`;
  if (churn.backoffUntil && Date.parse(churn.backoffUntil) > now)
    return `backing off until ${churn.backoffUntil} after ${churn.strikes} turn(s) of churn (${churn.reason})`;
  return undefined;
}

/** The churn state after this pass: one more turn if it churned, forgotten once the pool settled. */
export function nextChurn(
  previous: NodePoolChurn | undefined,
  generation: number,
  seen: Churn[],
  settled: boolean,
  now: number,
  options: NodePoolOptions,
): NodePoolChurn | undefined {
  const first = seen[0];
  if (!first) return settled && !previous?.degraded ? undefined : previous;
  const maxTurns = options.maxChurnTurns ?? DEFAULTS.maxChurnTurns;
  // A listing that mixes Clouds is not a matter of waiting: stop at once.
  const strikes = first.reason === 'AmbiguousListing' ? maxTurns : (previous?.strikes ?? 0) + 1;
  const base = options.churnBackoffMs ?? DEFAULTS.churnBackoffMs;
  const backoff = Math.min(base * 2 ** (strikes - 1), DEFAULTS.maxBackoffMs);
  const message = seen.length > 1 ? `${first.message} (and ${seen.length - 1} more)` : first.message;
  return {
    strikes,
    generation,
    reason: first.reason,
    message,
    backoffUntil: isoTime(now + backoff),
    ...(strikes >= maxTurns ? { degraded: true } : {}),
  };
}
