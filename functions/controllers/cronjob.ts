/**
 * CronJob controller (batch/v1), after Kubernetes' cronjob controller v2: at each time of the
 * schedule it creates a Job from `jobTemplate`, named `<cronjob>-<minutes since the epoch>` so a
 * pass that runs twice (Lambda) creates it once. `concurrencyPolicy`: Allow runs Jobs side by side,
 * Forbid skips a time while one is active, Replace deletes the active ones first. A time missed by
 * more than `startingDeadlineSeconds` (say the control plane was down) is skipped with a
 * MissSchedule event; only the most recent missed time runs, never a backlog. Finished Jobs beyond
 * `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` are deleted, oldest first (their pods go
 * with them). Passes run on changes and on the periodic resync (10 s locally, each minute on
 * Lambda), so a Job starts within that of its time.
 */
import type { CronJob, Job } from '../../schemas';
import { nextScheduled } from '../../schemas/cron';
import { checkQuota } from '../admission';
import type { Deps } from '../deps';
import { isAlreadyExists } from '../errors';
import { recordEvent } from '../events';
import { type PassContext, reconcileEach, standaloneContext } from './controller';
import { deleteJob, finishedCondition } from './job';
import { isoTime, ownerReferenceTo, sameJson } from './util';

const SOURCE = { component: 'cronjob-controller' };
/** Kubernetes refuses to work out more than 100 missed times; so does ferry (it runs the latest). */
const MAX_MISSED = 100;

export async function reconcileCronJobs(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const cronJobs = (await ctx.snapshot.list<CronJob>('CronJob')).filter((cj) => !cj.metadata.deletionTimestamp);
  await reconcileEach(ctx, SOURCE.component, cronJobs, async (cj) => {
    const owned = await ctx.snapshot.ownedBy<Job>('Job', cj.metadata.uid as string);
    await reconcileOne(ctx.deps, cj, owned);
    // The next time of the schedule is a time event: the scheduled check wakes for it.
    const next = cj.spec.suspend ? undefined : nextScheduled(cj.spec.schedule, cj.spec.timeZone, ctx.deps.clock());
    if (next !== undefined) ctx.wakeAt(next);
  });
}

async function reconcileOne(deps: Deps, cj: CronJob, owned: Job[]): Promise<void> {
  const now = deps.clock();
  const spec = cj.spec;
  let active = owned.filter((j) => !finishedCondition(j) && !j.metadata.deletionTimestamp);
  let lastSchedule = cj.status?.lastScheduleTime;

  const due = spec.suspend ? undefined : latestDue(cj, now);
  if (due !== undefined) {
    const late = now - due;
    if (spec.startingDeadlineSeconds !== undefined && late > spec.startingDeadlineSeconds * 1000) {
      await recordEvent(
        deps,
        cj,
        'Warning',
        'MissSchedule',
        `Missed scheduled time to start a job: ${isoTime(due)}`,
        SOURCE,
      );
      lastSchedule = isoTime(due);
    } else if (spec.concurrencyPolicy === 'Forbid' && active.length > 0) {
      // Not this time: a later pass tries again while the deadline allows (the time stays due).
    } else {
      if (spec.concurrencyPolicy === 'Replace') {
        for (const j of active) await deleteJob(deps, j);
        active = [];
      }
      const created = await createJob(deps, cj, due);
      if (created) active.push(created);
      lastSchedule = isoTime(due);
    }
  }

  await pruneHistory(deps, cj, owned);
  const succeeded = owned
    .filter((j) => finishedCondition(j)?.type === 'Complete')
    .map((j) => j.status?.completionTime ?? '')
    .sort();
  const status: NonNullable<CronJob['status']> = {
    ...(active.length
      ? {
          active: active.map((j) => ({
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: j.metadata.name,
            namespace: j.metadata.namespace as string,
            uid: j.metadata.uid as string,
          })),
        }
      : {}),
    ...(lastSchedule ? { lastScheduleTime: lastSchedule } : {}),
    ...(succeeded.length ? { lastSuccessfulTime: succeeded[succeeded.length - 1] as string } : {}),
  };
  if (sameJson(status, cj.status ?? {})) return;
  await deps.store.update({ ...cj, status });
}

/** The most recent scheduled time at or before now that has not run yet, if any. */
function latestDue(cj: CronJob, now: number): number | undefined {
  const since = Date.parse(cj.status?.lastScheduleTime ?? cj.metadata.creationTimestamp ?? '');
  if (Number.isNaN(since)) return undefined;
  let due: number | undefined;
  let t = since;
  for (let i = 0; i <= MAX_MISSED; i++) {
    const next = nextScheduled(cj.spec.schedule, cj.spec.timeZone, t);
    if (next === undefined || next > now) break;
    due = next;
    t = next;
  }
  return due;
}

async function createJob(deps: Deps, cj: CronJob, scheduled: number): Promise<Job | undefined> {
  const template = cj.spec.jobTemplate;
  const name = `${cj.metadata.name.slice(0, 52)}-${Math.floor(scheduled / 60_000)}`;
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: cj.metadata.namespace as string,
      labels: { ...template.metadata?.labels },
      annotations: {
        ...template.metadata?.annotations,
        'batch.kubernetes.io/cronjob-scheduled-timestamp': isoTime(scheduled),
      },
      ownerReferences: [ownerReferenceTo(cj)],
    },
    spec: structuredClone(template.spec),
  } as Job;
  try {
    // A Job counts against the namespace's quota (count/jobs.batch) like one a user creates.
    await checkQuota(deps, job);
    const created = await deps.store.create(job);
    await recordEvent(deps, cj, 'Normal', 'SuccessfulCreate', `Created job ${name}`, SOURCE);
    return created as Job;
  } catch (err) {
    if (isAlreadyExists(err)) return undefined; // another pass made it
    throw err;
  }
}

async function pruneHistory(deps: Deps, cj: CronJob, owned: Job[]): Promise<void> {
  const finished = owned.filter((j) => finishedCondition(j) && !j.metadata.deletionTimestamp);
  for (const [type, limit] of [
    ['Complete', cj.spec.successfulJobsHistoryLimit ?? 3],
    ['Failed', cj.spec.failedJobsHistoryLimit ?? 1],
  ] as const) {
    const ofType = finished
      .filter((j) => finishedCondition(j)?.type === type)
      .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
    for (const j of ofType.slice(0, Math.max(0, ofType.length - limit))) {
      await deleteJob(deps, j);
      await recordEvent(deps, cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`, SOURCE);
    }
  }
}
