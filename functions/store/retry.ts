/**
 * The two idioms every writer of the store needs: retry a read-modify-write on a lost race, and
 * treat "already gone" as done. A `ConflictError` carries what is stored now (`current`), so a
 * retry starts from it instead of reading again.
 */
import { isConflict, isNotFound } from '../errors';
import type { Obj } from './types';

/**
 * Runs `write(current)` until it does not lose a race: first with `undefined` (the writer reads
 * what it needs), then with the object a `ConflictError` carried. Other errors, and a conflict
 * on the last attempt, are thrown.
 */
export async function retryOnConflict<T>(write: (current?: Obj) => Promise<T>, attempts = 5): Promise<T> {
  let current: Obj | undefined;
  for (let i = 0; ; i++) {
    try {
      return await write(current);
    } catch (err) {
      if (!isConflict(err) || i >= attempts - 1) throw err;
      current = err.current;
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
