/**
 * A signal for one call that aborts when any of its parents does, and lets go of them after.
 *
 * Not `AbortSignal.any`: on Node 20 each call leaves a WeakRef in every parent's set of
 * dependants that is never pruned (about 70 bytes a call), so a long-lived parent, such as the
 * agent's stop signal across its syncs, grows without bound (issue 19).
 */
export async function withSignal<T>(
  parents: readonly AbortSignal[],
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const own = new AbortController();
  const abort = () => own.abort();
  for (const p of parents) {
    if (p.aborted) own.abort();
    else p.addEventListener('abort', abort, { once: true });
  }
  try {
    return await call(own.signal);
  } finally {
    for (const p of parents) p.removeEventListener('abort', abort);
  }
}
