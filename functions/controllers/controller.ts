/**
 * What a controller is to the manager: a name and one reconcile over the round's snapshot, as
 * controller-runtime's `Reconcile` (read, compare, write what differs, say when to look again).
 * `reconcileEach` is the per-object isolation every controller uses: one object whose reconcile
 * throws gets a Warning Event and a log line, and the others are still reconciled (issue 18
 * finding 7: a ReplicaSet with an unknown selector operator stalled every ReplicaSet after it).
 */
import type { Deps } from '../deps';
import { isAlreadyExists, isConflict, isNotFound } from '../errors';
import { recordEvent } from '../events';
import type { Obj } from '../store/types';
import { MAX_CREATES_PER_PASS } from './create-batches';
import { ClusterSnapshot } from './snapshot';

export interface PassContext {
  /** Deps whose store is the snapshot's pass store (writes land in the store and the snapshot). */
  deps: Deps;
  snapshot: ClusterSnapshot;
  /** Asks for a pass at `at` (ms since the epoch) even if nothing is written: time-driven work. */
  wakeAt(at: number): void;
  /**
   * How many of `want` creates `controller` may still make in this pass (at most
   * MAX_CREATES_PER_PASS in all), counted as taken.
   */
  takeCreates(controller: string, want: number): number;
}

/** A pass's create budget per controller (create-batches.ts says why). */
export function createBudget(): PassContext['takeCreates'] {
  const used = new Map<string, number>();
  return (controller, want) => {
    const n = Math.max(0, Math.min(want, MAX_CREATES_PER_PASS - (used.get(controller) ?? 0)));
    used.set(controller, (used.get(controller) ?? 0) + n);
    return n;
  };
}

export interface Controller {
  name: string;
  /** Run in every round of a pass (default), or once per pass (it calls a cloud's APIs). */
  oncePerPass?: boolean;
  /**
   * The kinds whose writes this controller acts on. Set, it runs in a round only when due
   * (due.ts: after a write of one of them, a failed run or a wakeAt of its own, the full resync,
   * a new lease); unset, in every round.
   */
  triggers?: ReadonlySet<string>;
  run(ctx: PassContext): Promise<unknown>;
}

/** A context over a fresh snapshot of `deps.store`, for calling one controller on its own (tests, the API). */
export function standaloneContext(deps: Deps): PassContext {
  const snapshot = new ClusterSnapshot(deps.store);
  return { deps: { ...deps, store: snapshot.store }, snapshot, wakeAt: () => undefined, takeCreates: createBudget() };
}

/**
 * Runs `reconcile` for each object, isolating failures: a lost race (conflict, gone, already made)
 * waits for the next pass, which sees the fresh state; anything else is reported on the object as
 * a Warning `ReconcileError` Event (rate-limited per object by the event recorder) and logged.
 */
/** How long a pass may keep the event loop before it lets waiting I/O (agents' syncs) in. */
const SLICE_MS = 20;
let sliceStart = Date.now();

/**
 * Lets queued I/O run when this pass has held the event loop for a slice. A pass over thousands
 * of objects is otherwise one synchronous stretch on SQLite (its reads resolve as microtasks), and
 * every agent's sync waits behind it; sliced, a sync waits at most a slice at a time.
 */
export async function yieldSlice(): Promise<void> {
  if (Date.now() - sliceStart < SLICE_MS) return;
  await new Promise((resolve) => setImmediate(resolve));
  sliceStart = Date.now();
}

export async function reconcileEach<T extends Obj>(
  ctx: PassContext,
  component: string,
  objects: Iterable<T>,
  reconcile: (obj: T) => Promise<unknown>,
): Promise<void> {
  for (const obj of objects) {
    await yieldSlice();
    try {
      await reconcile(obj);
    } catch (err) {
      if (isConflict(err) || isNotFound(err) || isAlreadyExists(err)) continue;
      const message = err instanceof Error ? err.message : String(err);
      ctx.deps.log.warn('reconcile failed', {
        controller: component,
        object: `${obj.kind} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}`,
        error: message,
      });
      await recordEvent(ctx.deps, obj, 'Warning', 'ReconcileError', `${component}: ${message}`, { component });
    }
  }
}
