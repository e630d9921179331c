/**
 * The idioms every writer of the store needs: retry a read-modify-write on a lost race, write an
 * object that may not exist yet, and treat "already gone" as done. A `ConflictError` carries what
 * is stored now (`current`), so a retry starts from it instead of reading again.
 */
import { isAlreadyExists, isConflict, isNotFound } from '../errors';
import type { Obj, StateStore } from './types';

export interface RetryOptions {
  /** Writes at most, the first included (default 5). */
  attempts?: number;
  /**
   * The resourceVersion the caller's client pinned, asked after a lost race. While it returns one
   * the conflict is the answer, not something to retry: in Kubernetes a write that names a
   * resourceVersion gets its 409 when that version is stale (optimistic concurrency is the
   * client's), and only a write computed by the server from a read of its own is retried.
   */
  pinned?: () => string | undefined;
}

/**
 * Runs `write(current, attempt)` until it does not lose a race: first with `undefined` (the writer
 * reads what it needs), then with the object a `ConflictError` carried (which may be undefined,
 * or another object the write touched: check it is the one you read). `attempt` counts from 1.
 * Other errors, a conflict on the last attempt, and a conflict while `pinned` returns a
 * resourceVersion are thrown. A bare number is `attempts`.
 */
export async function retryOnConflict<T>(
  write: (current: Obj | undefined, attempt: number) => Promise<T>,
  options: RetryOptions | number = {},
): Promise<T> {
  const { attempts = 5, pinned } = typeof options === 'number' ? { attempts: options } : options;
  let current: Obj | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write(current, attempt);
    } catch (err) {
      if (!isConflict(err) || attempt >= attempts || pinned?.() !== undefined) throw err;
      current = err.current;
    }
  }
}

/**
 * Writes `obj` whole, without a resourceVersion, creating it when it does not exist: the write of
 * an object only one writer owns (a node's Lease). Two writers racing to create it: the loser
 * replaces what the winner created. Other errors, and losing that race `attempts` times, throw.
 */
export async function replaceOrCreate<T extends Obj>(store: StateStore, obj: T, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.update(obj);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      return await store.create(obj);
    } catch (err) {
      if (!isAlreadyExists(err) || attempt >= attempts) throw err;
    }
  }
}

/** Resolves to `undefined` where `promise` fails with NotFound (already deleted is deleted). */
export async function ignoreNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Whether `obj` is the object `ref` names (a conflict's `current` may be another one the write touched). */
export function isObjectAt(obj: Obj | undefined, ref: { kind: string; namespace?: string; name: string }): obj is Obj {
  return (
    obj !== undefined &&
    obj.kind === ref.kind &&
    obj.metadata.name === ref.name &&
    (obj.metadata.namespace ?? undefined) === (ref.namespace ?? undefined)
  );
}
