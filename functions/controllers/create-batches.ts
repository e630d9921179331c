/**
 * Kubernetes' slowStartBatch (pkg/controller/replicaset/replica_set.go): make `count` objects in
 * batches of 1, 2, 4, ... and stop at the first batch with an error, so a controller whose creates
 * all fail (a quota, a webhook, a full store) makes one failed call instead of thousands. A batch
 * runs its creates concurrently. The per-pass cap keeps one object from monopolising a pass: a
 * ReplicaSet scaled to 2^31 adds at most MAX_CREATES_PER_PASS pods per pass, and the API, the
 * scheduler and every other object get their turn in between.
 */
export const MAX_CREATES_PER_PASS = 500;
const INITIAL_BATCH = 1;

export async function slowStartBatch(
  count: number,
  create: () => Promise<unknown>,
): Promise<{ created: number; error?: unknown }> {
  let created = 0;
  for (let batch = Math.min(count, INITIAL_BATCH); created < count; batch = Math.min(2 * batch, count - created)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, create));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    created += results.filter((r) => r.status === 'fulfilled').length;
    if (failure) return { created, error: failure.reason };
  }
  return { created };
}
