/**
 * CronJobs on the simulated cluster (fake clock): a Job per scheduled time, once; Forbid and
 * Replace; history limits; a missed time past its deadline skipped; suspend.
 */
import { describe, expect, it } from 'vitest';
import type { CronJob, Event, Job } from '../../../schemas';
import { cronJob, Simulation } from './harness';

async function cluster() {
  const sim = new Simulation({ startDelayMs: 500 });
  // Start on a minute boundary so schedules line up with the fake clock.
  sim.now = Date.parse('2026-03-01T10:00:00Z');
  await sim.addNode('node-1', { cpu: '8' });
  return sim;
}

const jobsOf = async (sim: Simulation, cj: string) =>
  (await sim.store.list<Job>('Job')).items.filter((j) => j.metadata.ownerReferences?.[0]?.name === cj);
const getCronJob = async (sim: Simulation, name: string) =>
  (await sim.store.get<CronJob>({ kind: 'CronJob', namespace: 'default', name })) as CronJob;

describe('simulated CronJobs', () => {
  it('creates one Job per scheduled time, named by it, and keeps the last 3 that succeeded', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(cronJob('report', '*/5 * * * *', { runMs: 2_000 }));

    // act
    await sim.advance(26 * 60_000, 5_000);

    // assess
    const names = (await jobsOf(sim, 'report')).map((j) => j.metadata.name).sort();
    const minute = (iso: string) => Math.floor(Date.parse(iso) / 60_000);
    expect(names).toEqual(['10:15', '10:20', '10:25'].map((t) => `report-${minute(`2026-03-01T${t}:00Z`)}`));
    const cj = await getCronJob(sim, 'report');
    expect(cj.status?.lastScheduleTime).toBe('2026-03-01T10:25:00Z');
    expect(cj.status?.lastSuccessfulTime).toEqual(expect.any(String));
    const created = (await sim.store.list<Event>('Event')).items.filter(
      (e) => e.involvedObject.name === 'report' && e.reason === 'SuccessfulCreate',
    );
    expect(created.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(5); // 10:05 ... 10:25, each once
  });

  it('Forbid skips a time while the last Job still runs; Replace stops it and starts the new one', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(cronJob('forbid', '* * * * *', { concurrencyPolicy: 'Forbid', runMs: 150_000 }));
    await sim.apply(cronJob('replace', '* * * * *', { concurrencyPolicy: 'Replace', runMs: 150_000 }));

    // act
    await sim.advance(4 * 60_000 + 30_000, 5_000);

    // assess
    const forbid = await jobsOf(sim, 'forbid');
    const replace = (await jobsOf(sim, 'replace')).filter((j) => !j.metadata.deletionTimestamp);
    // Forbid: 10:01 runs 2.5 min; 10:02 and 10:03 are skipped; 10:04 runs after it finished.
    expect(forbid.length).toBe(2);
    // Replace: one Job at a time, the newest (10:04).
    expect(replace.map((j) => j.metadata.name)).toEqual([
      `replace-${Math.floor(Date.parse('2026-03-01T10:04:00Z') / 60_000)}`,
    ]);
  });

  it('skips a time missed by more than startingDeadlineSeconds, and a suspended CronJob creates nothing', async () => {
    // prepare
    const sim = await cluster();
    await sim.apply(cronJob('late', '0 * * * *', { startingDeadlineSeconds: 30 }));
    await sim.apply(cronJob('paused', '* * * * *', { suspend: true }));
    // The control plane was away across 11:00: nothing ran.
    sim.now = Date.parse('2026-03-01T11:02:00Z');

    // act
    await sim.advance(10_000, 5_000);

    // assess
    expect(await jobsOf(sim, 'late')).toEqual([]);
    const missed = (await sim.store.list<Event>('Event')).items.find(
      (e) => e.involvedObject.name === 'late' && e.reason === 'MissSchedule',
    );
    expect(missed?.message).toContain('2026-03-01T11:00:00Z');
    expect(await jobsOf(sim, 'paused')).toEqual([]);
  });
});
