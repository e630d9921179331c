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
 * Pods are created in slow-start batches within the pass's create budget (create-batches.ts), and
 * one Job that fails to reconcile gets a Warning Event while the others go on.
 */
import type { Job, Pod } from '../../schemas';
import { admitControllerPod } from '../admission';
import type { Deps } from '../deps';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { ignoreNotFound } from '../store/retry';
import { type PassContext, reconcileEach, standaloneContext } from './controller';
import { slowStartBatch } from './create-batches';
import { isActive, isoTime, isReady, podFromTemplate, sameJson } from './util';

const SOURCE = { component: 'job-controller' };
type Condition = NonNullable<NonNullable<Job['status']>['conditions']>[number];

export async function reconcileJobs(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const jobs = (await ctx.snapshot.list<Job>('Job')).filter((j) => !j.metadata.deletionTimestamp);
  await reconcileEach(ctx, SOURCE.component, jobs, async (job) => {
    const owned = await ctx.snapshot.ownedBy<Pod>('Pod', job.metadata.uid as string);
    await reconcileOne(ctx, job, owned);
  });
}

/** True when the Job has a Complete or Failed condition. */
export function finishedCondition(job: Job): Condition | undefined {
  return job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

async function reconcileOne(ctx: PassContext, job: Job, owned: Pod[]): Promise<void> {
  const deps = ctx.deps;
  const now = deps.clock();
  const ns = job.metadata.namespace as string;
  const spec = job.spec;
  const finished = finishedCondition(job);
  if (finished) {
    await expire(ctx, job, finished, now);
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
    // After failures the next pod waits out the back-off; a later pass creates it.
    const retryAt = retryTime(owned, failed);
    if (active.length < want && now < retryAt) ctx.wakeAt(retryAt);
    if (active.length < want && now >= retryAt) {
      const n = want - active.length;
      const { created, error } = await slowStartBatch(ctx.takeCreates(SOURCE.component, n), () => createPod(deps, job));
      if (created > 0) await recordEvent(deps, job, 'Normal', 'SuccessfulCreate', `Created ${created} pod(s)`, SOURCE);
      if (error)
        await recordEvent(deps, job, 'Warning', 'FailedCreate', `Error creating pod: ${String(error)}`, SOURCE);
      if (created < n) ctx.wakeAt(now + 1_000);
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
  if (!condition && !spec.suspend && spec.activeDeadlineSeconds !== undefined && startTime !== undefined)
    ctx.wakeAt(Date.parse(startTime) + spec.activeDeadlineSeconds * 1000);
  await writeStatus(deps, job, status);
}

/** ttlSecondsAfterFinished: the finished Job is deleted (its pods follow through the gc). */
async function expire(ctx: PassContext, job: Job, finished: Condition, now: number): Promise<void> {
  const ttl = job.spec.ttlSecondsAfterFinished;
  if (ttl === undefined) return;
  const at = Date.parse(finished.lastTransitionTime ?? '');
  if (Number.isNaN(at)) return;
  if (now < at + ttl * 1000) return ctx.wakeAt(at + ttl * 1000);
  await deleteJob(ctx.deps, job);
}

/** Deletes a Job (its pods follow through the gc); one already gone is fine. */
export async function deleteJob(deps: Deps, job: Job): Promise<void> {
  await ignoreNotFound(deps.store.delete({ kind: 'Job', namespace: job.metadata.namespace, name: job.metadata.name }));
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
  const pod = podFromTemplate(job, job.spec.template, { 'job-name': name, 'batch.kubernetes.io/job-name': name });
  // LimitRange defaults, Pod Security and quota, as the API applies them to a user's pod.
  await admitControllerPod(deps, pod);
  await deps.store.create(pod);
}

async function writeStatus(deps: Deps, job: Job, status: NonNullable<Job['status']>): Promise<void> {
  if (sameJson(status, job.status)) return;
  await deps.store.update({ ...job, status });
}
