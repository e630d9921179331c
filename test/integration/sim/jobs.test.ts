/**
 * Jobs on the simulated cluster: pods run to completion `parallelism` at a time, failures count
 * against `backoffLimit`, `activeDeadlineSeconds` stops a Job, `ttlSecondsAfterFinished` removes it.
 */
import { describe, expect, it } from 'vitest';
import type { Event, Job, Pod } from '../../../schemas';
import { job, Simulation } from './harness';

async function cluster(nodes = 2) {
  const sim = new Simulation({ startDelayMs: 500 });
  for (let i = 1; i <= nodes; i++) await sim.addNode(`node-${i}`);
  return sim;
}

const getJob = async (sim: Simulation, name: string) =>
  (await sim.store.get<Job>({ kind: 'Job', namespace: 'default', name })) as Job;
const condition = (j: Job, type: string) => j.status?.conditions?.find((c) => c.type === type && c.status === 'True');
const jobPods = async (sim: Simulation, name: string) =>
  (await sim.pods()).filter((p: Pod) => p.metadata.labels?.['job-name'] === name);

describe('simulated Jobs', () => {
  it('runs 5 completions 2 at a time, then is Complete with its pods kept as Succeeded', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(job('migrate', { completions: 5, parallelism: 2 }));
    let maxActive = 0;

    // act
    await sim.until(async () => {
      const active = (await jobPods(sim, 'migrate')).filter(
        (p) => p.status?.phase !== 'Succeeded' && !p.metadata.deletionTimestamp,
      ).length;
      maxActive = Math.max(maxActive, active);
      return condition(await getJob(sim, 'migrate'), 'Complete') !== undefined;
    });

    // assess
    const j = await getJob(sim, 'migrate');
    expect(maxActive).toBe(2);
    expect(j.status).toMatchObject({ succeeded: 5, failed: 0, active: 0 });
    expect(j.status?.completionTime).toEqual(expect.any(String));
    const pods = await jobPods(sim, 'migrate');
    expect(pods.map((p) => p.status?.phase)).toEqual(Array(5).fill('Succeeded'));
    expect(pods.every((p) => p.metadata.ownerReferences?.[0]?.kind === 'Job')).toBe(true);
    const reasons = (await sim.store.list<Event>('Event')).items.map((e) => e.reason);
    expect(reasons).toContain('Completed');
    // Level-triggered: more passes change nothing.
    await sim.advance(5_000);
    expect((await jobPods(sim, 'migrate')).length).toBe(5);
  });

  it('fails with BackoffLimitExceeded after backoffLimit + 1 failed pods, backing off between them', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(job('broken', { backoffLimit: 2, exitCode: 1, runMs: 1_000 }));

    // act
    await sim.until(async () => condition(await getJob(sim, 'broken'), 'Failed') !== undefined);

    // assess
    const j = await getJob(sim, 'broken');
    expect(condition(j, 'Failed')?.reason).toBe('BackoffLimitExceeded');
    expect(j.status).toMatchObject({ failed: 3, succeeded: 0, active: 0 });
    const pods = await jobPods(sim, 'broken');
    expect(pods.map((p) => p.status?.phase)).toEqual(['Failed', 'Failed', 'Failed']);
    // Kubernetes' back-off between attempts: 10 s after the first failure, then 20 s.
    const created = pods.map((p) => Date.parse(p.metadata.creationTimestamp as string)).sort((a, b) => a - b);
    expect((created[1] as number) - (created[0] as number)).toBeGreaterThanOrEqual(10_000);
    expect((created[2] as number) - (created[1] as number)).toBeGreaterThanOrEqual(20_000);
  });

  it('counts container restarts against backoffLimit under restartPolicy OnFailure', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(job('flaky', { backoffLimit: 1, exitCode: 1, runMs: 1_000, restartPolicy: 'OnFailure' }));

    // act
    await sim.until(async () => condition(await getJob(sim, 'flaky'), 'Failed') !== undefined);

    // assess
    expect(condition(await getJob(sim, 'flaky'), 'Failed')?.reason).toBe('BackoffLimitExceeded');
    await sim.until(async () => (await jobPods(sim, 'flaky')).length === 0); // its running pod is stopped
  });

  it('stops a Job that runs past activeDeadlineSeconds and deletes its pods', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(job('slow', { activeDeadlineSeconds: 5, runMs: 600_000 }));

    // act
    const took = await sim.until(async () => condition(await getJob(sim, 'slow'), 'Failed') !== undefined);
    await sim.until(async () => (await jobPods(sim, 'slow')).length === 0);

    // assess
    expect(condition(await getJob(sim, 'slow'), 'Failed')?.reason).toBe('DeadlineExceeded');
    expect(took).toBeLessThanOrEqual(6_000);
  });

  it('deletes a finished Job after ttlSecondsAfterFinished, and its pods with it', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(job('once', { ttlSecondsAfterFinished: 10 }));
    await sim.until(async () => condition(await getJob(sim, 'once'), 'Complete') !== undefined);
    const finishedAt = sim.now;

    // act
    await sim.until(
      async () => (await sim.store.get({ kind: 'Job', namespace: 'default', name: 'once' })) === undefined,
    );
    await sim.until(async () => (await jobPods(sim, 'once')).length === 0);

    // assess
    expect(sim.now - finishedAt).toBeGreaterThanOrEqual(10_000);
  });
});
