/**
 * Records v1 Events about an object, the way `ferry describe` shows them. Repeats of the same
 * (object, type, reason, message) bump `count` and `lastTimestamp` instead of piling up, as the
 * Kubernetes event recorder does. Recording is best effort: a failure is logged, never thrown,
 * because an event must not fail the reconcile that produced it.
 */
import { createHash } from 'node:crypto';
import type { Deps } from './deps';
import { isAlreadyExists, isConflict } from './errors';
import type { Obj } from './store/types';

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
  const { namespace, name } = eventRef(involved, type, reason, message);
  const now = timestamp(deps);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await deps.store.get({ kind: 'Event', namespace, name });
      if (existing) {
        existing.count = ((existing.count as number | undefined) ?? 1) + 1;
        existing.lastTimestamp = now;
        try {
          await deps.store.update(existing);
          return;
        } catch (err) {
          if (isConflict(err)) continue;
          throw err;
        }
      }
      try {
        await deps.store.create(newEvent({ involved, type, reason, message, source }, now));
        return;
      } catch (err) {
        if (isAlreadyExists(err)) continue;
        throw err;
      }
    }
  } catch (err) {
    deps.log.warn('recording event failed', { reason, object: involved.metadata.name, error: String(err) });
  }
}

/**
 * Many events in one store batch (the scheduler records one per bound pod). Each is created if it
 * is new; a repeat of one already recorded goes through `recordEvent`, which bumps its count.
 */
export async function recordEvents(deps: Deps, events: EventRecord[]): Promise<void> {
  if (events.length === 0) return;
  const now = timestamp(deps);
  let results: Awaited<ReturnType<Deps['store']['writeBatch']>>;
  try {
    results = await deps.store.writeBatch(events.map((e) => ({ op: 'create', object: newEvent(e, now) })));
  } catch (err) {
    deps.log.warn('recording events failed', { count: events.length, error: String(err) });
    return;
  }
  for (let i = 0; i < results.length; i++) {
    const result = results[i];
    const e = events[i] as EventRecord;
    if (result && !result.ok) await recordEvent(deps, e.involved, e.type, e.reason, e.message, e.source);
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
  return new Date(deps.clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
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
