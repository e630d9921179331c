import { describe, expect, it } from 'vitest';
import { MAX_CREATES_PER_PASS } from '../../../functions/controllers/create-batches';
import { EVENT_BURST } from '../../../functions/events';
import type { Obj } from '../../../functions/store/types';
import type { ReplicaSet } from '../../../schemas';
import { startApi } from '../../unit/api/harness';
import { deployment, job, Simulation } from './harness';

async function events(sim: Simulation, reason?: string): Promise<Obj[]> {
  return (await sim.store.list('Event')).items.filter((e) => !reason || e.reason === reason);
}

describe('controllers create at a rate, and one bad object stalls nothing', () => {
  it('a scale to 2^31 raises the pod count by capped batches while the API keeps answering', async () => {
    const sim = new Simulation();
    for (let i = 1; i <= 3; i++) await sim.addNode(`node-${i}`, { cpu: '64' });
    const api = await startApi(sim.store);
    // Written to the store directly: refusing it at the API is the API's bound, this is the rate.
    await sim.apply(deployment('huge', 2_147_483_648));

    const counts: number[] = [];
    for (let pass = 0; pass < 6; pass++) {
      await sim.advance(500, 500);
      counts.push((await sim.pods()).length);
      const started = Date.now();
      const res = await api.send('GET', '/api/v1/namespaces/default/pods', { query: { limit: '1' } });
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
    }

    // Each pass adds pods, and never more than the per-pass cap.
    const added = counts.map((n, i) => n - (counts[i - 1] ?? 0));
    expect(added.every((n) => n > 0 && n <= MAX_CREATES_PER_PASS)).toBe(true);
    expect(counts[5]).toBeLessThanOrEqual(6 * MAX_CREATES_PER_PASS);
    // Events about the ReplicaSet are aggregated and rate-limited, not one per pod.
    expect(
      (await events(sim)).filter((e) => (e.involvedObject as { kind: string }).kind === 'ReplicaSet').length,
    ).toBeLessThanOrEqual(EVENT_BURST);
  }, 60_000);

  it('a Job with parallelism 1000 creates at most the per-pass cap in one pass', async () => {
    const sim = new Simulation();
    await sim.addNode('node-1', { cpu: '64' });
    await sim.apply(job('wide', { parallelism: 1000, completions: 1000 }));

    await sim.manager.runOnce();

    const pods = await sim.pods();
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.length).toBeLessThanOrEqual(MAX_CREATES_PER_PASS);
  });

  it('a ReplicaSet with selector operator "Foo" gets a Warning event and the ReplicaSets after it still get pods', async () => {
    const sim = new Simulation();
    await sim.addNode('node-1');
    const bad: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'aaa-bad', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchExpressions: [{ key: 'app', operator: 'Foo', values: ['x'] }] },
        template: {
          metadata: { labels: { app: 'x' } },
          spec: { containers: [{ name: 'app', image: 'ferry.local/busybox:1' }] },
        },
      },
    };
    await sim.store.create(bad); // stored before validation refused such operators
    await sim.apply(deployment('web', 3));

    await sim.until(async () => (await sim.readyPods('web')).length === 3);

    const warnings = await events(sim, 'ReconcileError');
    expect(warnings).toHaveLength(1);
    expect((warnings[0]?.involvedObject as { name?: string } | undefined)?.name).toBe('aaa-bad');
    expect(String(warnings[0]?.message)).toContain('Foo');
    expect((await sim.pods()).filter((p) => p.metadata.name.startsWith('aaa-bad'))).toHaveLength(0);
  });
});
