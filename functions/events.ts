/**
 * Records v1 Events about an object, the way `ferry describe` shows them, with client-go's
 * EventCorrelator in front (issue 18: a storm of pods wrote as many Events):
 * - aggregation: repeats of the same (object, type, reason, message) are one Event whose `count`
 *   and `lastTimestamp` are bumped, instead of piling up;
 * - a spam filter: per source component and object, a token bucket of EVENT_BURST (25) Events
 *   refilled one per EVENT_REFILL_MS (5 minutes), as client-go's defaults; what exceeds it is
 *   dropped (logged at debug). The buckets live in this process, like client-go's, bounded in size.
 * Recording is best effort: a failure is logged, never thrown, because an event must not fail the
 * reconcile that produced it.
 */
import { createHash } from 'node:crypto';
import { isoTime } from '../schemas/time';
import type { Deps } from './deps';
import { isAlreadyExists } from './errors';
import { retryOnConflict } from './store/retry';
import type { Obj } from './store/types';

export const EVENT_BURST = 25;
export const EVENT_REFILL_MS = 300_000;
const MAX_BUCKETS = 10_000;
const buckets = new Map<string, { tokens: number; at: number }>();

/** Takes a token for one Event from `component` about `involved`; false when over the limit. */
function allowEvent(component: string, involved: Obj, now: number): boolean {
  const key = `${component}\0${involved.metadata.uid ?? `${involved.kind}/${involved.metadata.namespace}/${involved.metadata.name}`}`;
  const bucket = buckets.get(key) ?? { tokens: EVENT_BURST, at: now };
  bucket.tokens = Math.min(EVENT_BURST, bucket.tokens + Math.max(0, now - bucket.at) / EVENT_REFILL_MS);
  bucket.at = now;
  buckets.delete(key);
  buckets.set(key, bucket); // most recently used last
  if (buckets.size > MAX_BUCKETS) buckets.delete(buckets.keys().next().value as string);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

export type EventType = 'Normal' | 'Warning';

export interface EventSource {
  component: string;
  host?: string;
}

export interface EventRecord {
  involved: Obj;
  type: EventType;
  reason: string;
  message: string;
  source?: EventSource;
}

export async function recordEvent(
  deps: Deps,
  involved: Obj,
  type: EventType,
  reason: string,
  message: string,
  source: EventSource = { component: 'ferry' },
): Promise<void> {
  if (!allowEvent(source.component, involved, deps.clock())) {
    deps.log.debug('event dropped by the per-object rate limit', { reason, object: involved.metadata.name });
    return;
  }
  await writeEvent(deps, { involved, type, reason, message, source });
}

/** Creates the Event, or bumps the count of the one already recorded. */
async function writeEvent(deps: Deps, e: EventRecord): Promise<void> {
  const { involved, type, reason, message } = e;
  const source = e.source ?? { component: 'ferry' };
  const { namespace, name } = eventRef(involved, type, reason, message);
  const now = timestamp(deps);
  const ref = { kind: 'Event', namespace, name };
  const write = async (current?: Obj): Promise<void> => {
    const existing = current ?? (await deps.store.get(ref));
    if (!existing) {
      try {
        await deps.store.create(newEvent({ involved, type, reason, message, source }, now));
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Recorded meanwhile by another writer: bump that one.
        return write(await deps.store.get(ref));
      }
    }
    await deps.store.update({
      ...existing,
      count: ((existing.count as number | undefined) ?? 1) + 1,
      lastTimestamp: now,
    });
  };
  try {
    await retryOnConflict(write, 3);
  } catch (err) {
    deps.log.warn('recording event failed', { reason, object: involved.metadata.name, error: String(err) });
  }
}

/**
 * Many events in one store batch (the scheduler records one per bound pod). Each is created if it
 * is new; a repeat of one already recorded bumps its count. Each takes a token of the spam filter.
 */
export async function recordEvents(deps: Deps, all: EventRecord[]): Promise<void> {
  const clock = deps.clock();
  const allowed = all.filter((e) => allowEvent(e.source?.component ?? 'ferry', e.involved, clock));
  if (allowed.length === 0) return;
  const now = timestamp(deps);
  let results: Awaited<ReturnType<Deps['store']['writeBatch']>>;
  try {
    results = await deps.store.writeBatch(allowed.map((e) => ({ op: 'create', object: newEvent(e, now) })));
  } catch (err) {
    deps.log.warn('recording events failed', { count: allowed.length, error: String(err) });
    return;
  }
  for (let i = 0; i < results.length; i++) {
    const result = results[i];
    const e = allowed[i] as EventRecord;
    if (result && !result.ok) await writeEvent(deps, e);
  }
}

function newEvent(e: EventRecord, now: string): Obj {
  const { involved } = e;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: eventRef(involved, e.type, e.reason, e.message),
    involvedObject: {
      apiVersion: involved.apiVersion,
      kind: involved.kind,
      name: involved.metadata.name,
      ...(involved.metadata.namespace ? { namespace: involved.metadata.namespace } : {}),
      uid: involved.metadata.uid,
    },
    type: e.type,
    reason: e.reason,
    message: e.message,
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
    source: e.source ?? { component: 'ferry' },
  };
}

function timestamp(deps: Deps): string {
  return isoTime(deps.clock());
}

function eventRef(involved: Obj, type: EventType, reason: string, message: string) {
  const digest = createHash('sha256')
    .update(`${involved.metadata.uid}\0${type}\0${reason}\0${message}`)
    .digest('hex')
    .slice(0, 16);
  return { namespace: involved.metadata.namespace ?? 'default', name: `${involved.metadata.name}.${digest}` };
}

/**
 * Records an Event only if this very event (object, type, reason, message) is not there yet: for
 * conditions a level-triggered controller sees on every pass, which must not write on every pass.
 */
export async function recordEventOnce(
  deps: Deps,
  involved: Obj,
  type: EventType,
  reason: string,
  message: string,
  source: EventSource = { component: 'ferry' },
): Promise<void> {
  const { namespace, name } = eventRef(involved, type, reason, message);
  if (await deps.store.get({ kind: 'Event', namespace, name }).catch(() => undefined)) return;
  await recordEvent(deps, involved, type, reason, message, source);
}
