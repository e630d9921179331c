/**
 * Job controller (batch/v1): runs pods to completion, as Kubernetes' job controller does for
 * NonIndexed Jobs. Keeps min(parallelism, completions - succeeded) pods active until `completions`
 * pods succeeded (condition Complete), or fails the Job (condition Failed) when failures pass
 * `backoffLimit` (BackoffLimitExceeded) or it ran longer than `activeDeadlineSeconds`
 * (DeadlineExceeded), deleting its active pods. Finished pods are kept, so their status and logs
 * stay readable, until the Job is deleted (the gc cascades) or `ttlSecondsAfterFinished` passes.
 *
 * Failures count failed pods (restartPolicy Never) and container restarts (OnFailure), as the
 * Kubernetes controller does; after a failed pod the next one waits 10 s, doubling per failure up to
 * 6 minutes. Pods carry the `job-name` and `batch.kubernetes.io/job-name` labels.
 * Level-triggered and idempotent: everything is derived from the Job and its pods on each pass.
 */
import type { Job, Pod } from '../../schemas';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { isActive, isOwnedBy, isoTime, isReady, podFromTemplate, sameJson } from './util';

const SOURCE = { component: 'job-controller' };
type Condition = NonNullable<NonNullable<Job['status']>['conditions']>[number];

export async function reconcileJobs(deps: Deps): Promise<void> {
  const jobs = (await deps.store.list<Job>('Job')).items;
  if (jobs.length === 0) return;
  const pods = (await deps.store.list<Pod>('Pod')).items;
  for (const job of jobs) {
    if (job.metadata.deletionTimestamp) continue;
    const owned = pods.filter((p) => p.metadata.namespace === job.metadata.namespace && isOwnedBy(p, job));
    await reconcileOne(deps, job, owned);
  }
}

/** True when the Job has a Complete or Failed condition. */
export function finishedCondition(job: Job): Condition | undefined {
  return job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

async function reconcileOne(deps: Deps, job: Job, owned: Pod[]): Promise<void> {
  const now = deps.clock();
  const ns = job.metadata.namespace as string;
  const spec = job.spec;
  const finished = finishedCondition(job);
  if (finished) {
    await expire(deps, job, finished, now);
    return;
  }
  const active = owned.filter(isActive);
  const succeeded = owned.filter((p) => p.status?.phase === 'Succeeded').length;
  const failed =
    owned.filter((p) => p.status?.phase === 'Failed').length +
    (spec.template.spec?.restartPolicy === 'OnFailure' ? restarts(owned) : 0);
  const completions = spec.completions ?? undefined;
  const startTime = job.status?.startTime ?? (spec.suspend ? undefined : isoTime(now));

  let condition: Condition | undefined;
  if (failed > (spec.backoffLimit ?? 6)) {
    condition = failedCondition(now, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  } else if (
    spec.activeDeadlineSeconds !== undefined &&
    startTime !== undefined &&
    now - Date.parse(startTime) >= spec.activeDeadlineSeconds * 1000
  ) {
    condition = failedCondition(now, 'DeadlineExceeded', 'Job was active longer than specified deadline');
  } else if (completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0) {
    condition = { type: 'Complete', status: 'True', lastProbeTime: isoTime(now), lastTransitionTime: isoTime(now) };
  }

  let stillActive = active;
  if (condition) {
    // Finished: no pod keeps running on its behalf.
    for (const pod of active) await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name });
    stillActive = [];
    if (condition.type === 'Complete') await recordEvent(deps, job, 'Normal', 'Completed', 'Job completed', SOURCE);
    else await recordEvent(deps, job, 'Warning', condition.reason as string, condition.message as string, SOURCE);
  } else if (!spec.suspend) {
    const parallelism = spec.parallelism ?? 1;
    const remaining = completions !== undefined ? completions - succeeded : succeeded > 0 ? 0 : parallelism;
    const want = Math.max(0, Math.min(parallelism, remaining));
    // After failures the next pod waits out the back-off; a later pass (resync) creates it.
    if (active.length < want && now >= retryTime(owned, failed)) {
      const n = want - active.length;
      for (let i = 0; i < n; i++) await createPod(deps, job);
      await recordEvent(deps, job, 'Normal', 'SuccessfulCreate', `Created ${n} pod(s)`, SOURCE);
    } else if (active.length > want) {
      // Parallelism lowered: the newest pods go first.
      const victims = [...active]
        .sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))
        .slice(0, active.length - want);
      for (const pod of victims) await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name });
      stillActive = active.filter((p) => !victims.includes(p));
    }
  } else {
    for (const pod of active) await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name });
    stillActive = [];
  }

  const conditions = (job.status?.conditions ?? []).filter((c) => c.type !== 'Suspended');
  if (condition) conditions.push(condition);
  else if (spec.suspend)
    conditions.push(
      job.status?.conditions?.find((c) => c.type === 'Suspended') ?? {
        type: 'Suspended',
        status: 'True',
        reason: 'JobSuspended',
        message: 'Job suspended',
        lastTransitionTime: isoTime(now),
      },
    );
  const status: NonNullable<Job['status']> = {
    ...(startTime ? { startTime } : {}),
    active: stillActive.length,
    succeeded,
    failed,
    ready: stillActive.filter(isReady).length,
    conditions,
  };
  if (condition?.type === 'Complete') status.completionTime = isoTime(now);
  await writeStatus(deps, job, status);
}

/** ttlSecondsAfterFinished: the finished Job is deleted (its pods follow through the gc). */
async function expire(deps: Deps, job: Job, finished: Condition, now: number): Promise<void> {
  const ttl = job.spec.ttlSecondsAfterFinished;
  if (ttl === undefined) return;
  const at = Date.parse(finished.lastTransitionTime ?? '');
  if (Number.isNaN(at) || now < at + ttl * 1000) return;
  await deleteJob(deps, job);
}

/** Deletes a Job (its pods follow through the gc); one already gone is fine. */
export async function deleteJob(deps: Deps, job: Job): Promise<void> {
  try {
    await deps.store.delete({ kind: 'Job', namespace: job.metadata.namespace, name: job.metadata.name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Kubernetes' pod failure back-off: 10 s after the first failure, doubling, at most 6 minutes. */
export const JOB_BACKOFF_BASE_MS = 10_000;
export const JOB_BACKOFF_MAX_MS = 6 * 60_000;

/** When the next pod may be created after `failed` failures, the last of which ended at the latest finishedAt. */
function retryTime(pods: Pod[], failed: number): number {
  if (failed === 0) return 0;
  let last = Number.NaN;
  for (const p of pods) {
    if (p.status?.phase !== 'Failed') continue;
    for (const c of p.status.containerStatuses ?? []) {
      const t = Date.parse(c.state?.terminated?.finishedAt ?? '');
      if (!Number.isNaN(t) && !(t <= last)) last = t;
    }
  }
  if (Number.isNaN(last)) return 0; // evicted or lost without a finish time: no delay known
  return last + Math.min(JOB_BACKOFF_BASE_MS * 2 ** (failed - 1), JOB_BACKOFF_MAX_MS);
}

function restarts(pods: Pod[]): number {
  let n = 0;
  for (const p of pods) for (const c of p.status?.containerStatuses ?? []) n += c.restartCount ?? 0;
  return n;
}

function failedCondition(now: number, reason: string, message: string): Condition {
  return {
    type: 'Failed',
    status: 'True',
    reason,
    message,
    lastProbeTime: isoTime(now),
    lastTransitionTime: isoTime(now),
  };
}

async function createPod(deps: Deps, job: Job): Promise<void> {
  const name = job.metadata.name.slice(0, 63);
  await deps.store.create(
    podFromTemplate(job, job.spec.template, { 'job-name': name, 'batch.kubernetes.io/job-name': name }),
  );
}

async function writeStatus(deps: Deps, job: Job, status: NonNullable<Job['status']>): Promise<void> {
  if (sameJson(status, job.status)) return;
  try {
    await deps.store.update({ ...job, status });
  } catch (err) {
    if (!isConflict(err) && !isNotFound(err)) throw err;
  }
}
