/**
 * The idioms every writer of the store needs: retry a read-modify-write on a lost race (one
 * object, or a batch in rounds), write an object that may not exist yet, and treat "already gone"
 * as done. A `ConflictError` carries what is stored now (`current`), so a retry starts from it
 * instead of reading again.
 */
import { isAlreadyExists, isConflict, isNotFound } from '../errors';
import type { Obj, ObjectRef, StateStore } from './types';

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
  /**
   * Which errors are a lost race to retry (default: a conflict). A write that creates also loses
   * one to AlreadyExists (`isConflictOrExists`); a conflict the writer raises as its answer (a
   * paused Deployment) is left out here so it is thrown at once.
   */
  retryIf?: (err: unknown) => boolean;
  /** What to throw when the attempts run out, given the last lost race (default: that error). */
  exhausted?: (err: unknown) => unknown;
}

/** A write that creates lost a race: the object was changed, or created, meanwhile. */
export function isConflictOrExists(err: unknown): boolean {
  return isConflict(err) || isAlreadyExists(err);
}

/**
 * Runs `write(current, attempt)` until it does not lose a race: first with `undefined` (the writer
 * reads what it needs), then with the object a `ConflictError` carried (which may be undefined,
 * or another object the write touched: check it is the one you read, `isObjectAt`; after another
 * lost race, AlreadyExists, it is undefined). `attempt` counts from 1. Errors `retryIf` does not
 * take and a conflict while `pinned` returns a resourceVersion are thrown as they are; a lost race
 * on the last attempt is thrown through `exhausted`. A bare number is `attempts`.
 */
export async function retryOnConflict<T>(
  write: (current: Obj | undefined, attempt: number) => Promise<T>,
  options: RetryOptions | number = {},
): Promise<T> {
  const {
    attempts = 5,
    pinned,
    retryIf = isConflict,
    exhausted = (err: unknown) => err,
  } = typeof options === 'number' ? { attempts: options } : options;
  let current: Obj | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write(current, attempt);
    } catch (err) {
      if (!retryIf(err) || (isConflict(err) && pinned?.() !== undefined)) throw err;
      if (attempt >= attempts) throw exhausted(err);
      current = isConflict(err) ? err.current : undefined;
    }
  }
}

/**
 * The batch form, for a writer that sends many objects in one `writeBatch` (each op succeeds or
 * fails on its own): `round(pending, attempt)` writes them and resolves to those that lost a race,
 * each rebased on what is stored now (`storedAfter`); they go again, `rounds` rounds at most.
 * Resolves to what is still pending when the rounds run out: the caller leaves it for its next
 * pass (a scheduler pass) or throws.
 */
export async function retryRounds<I>(
  items: I[],
  round: (pending: I[], attempt: number) => Promise<I[]>,
  rounds = 5,
): Promise<I[]> {
  let pending = items;
  for (let attempt = 1; pending.length > 0 && attempt <= rounds; attempt++) pending = await round(pending, attempt);
  return pending;
}

/**
 * What is stored at `ref` now that a write there failed with `err`: the conflict's `current` when
 * it is that object (no read), nothing after NotFound, else a read (AlreadyExists carries nothing).
 */
export async function storedAfter<T extends Obj>(
  store: Pick<StateStore, 'get'>,
  ref: ObjectRef,
  err: unknown,
): Promise<T | undefined> {
  if (isConflict(err) && isObjectAt(err.current, ref)) return err.current as T;
  if (isNotFound(err)) return undefined;
  return store.get<T>(ref);
}

/**
 * Writes `obj` whole, without a resourceVersion, creating it when it does not exist: the write of
 * an object only one writer owns (a node's Lease). Two writers racing to create it: the loser
 * replaces what the winner created. Other errors, and losing that race `attempts` times, throw.
 */
export async function replaceOrCreate<T extends Obj>(store: StateStore, obj: T, attempts = 3): Promise<T> {
  // Hand-written: each attempt is two writes (update, then create), and only the create's race is retried.
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
