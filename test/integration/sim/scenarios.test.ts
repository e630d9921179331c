import { describe, expect, it } from 'vitest';
import { rollbackDeployment } from '../../../functions/api/rollback';
import { drainNode } from '../../../functions/controllers/node-lifecycle';
import type { Event, Pod, ReplicaSet } from '../../../schemas';
import { deployment, Simulation } from './harness';

async function cluster(nodes = 3, options = {}) {
  const sim = new Simulation(options);
  for (let i = 1; i <= nodes; i++) await sim.addNode(`node-${i}`, { zone: `zone-${i % 2}` });
  return sim;
}

const isAvailable = (sim: Simulation, name: string, replicas: number) => async () => {
  const d = await sim.deployment(name);
  return (
    d.status?.availableReplicas === replicas &&
    d.status.updatedReplicas === replicas &&
    d.status.replicas === replicas &&
    d.status.observedGeneration === d.metadata.generation
  );
};

describe('simulated cluster', () => {
  it('a Deployment written to the store alone becomes Running pods spread over the nodes', async () => {
    const sim = await cluster(3);
    await sim.apply(deployment('web', 6));
    await sim.until(isAvailable(sim, 'web', 6));
    const pods = await sim.readyPods('web-');
    expect(pods).toHaveLength(6);
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec.nodeName as string, (perNode.get(p.spec.nodeName as string) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);
    const d = await sim.deployment('web');
    expect(d.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    expect(d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('NewReplicaSetAvailable');
  });

  it('scales 0 -> 10 -> 3, removing unready and newest pods first', async () => {
    const sim = await cluster(3);
    await sim.apply(deployment('web', 0));
    await sim.advance(2_000);
    expect(await sim.pods()).toHaveLength(0);
    await sim.apply(deployment('web', 10));
    await sim.until(isAvailable(sim, 'web', 10));
    await sim.apply(deployment('web', 3));
    await sim.until(async () => (await sim.pods()).length === 3);
    expect(await sim.readyPods()).toHaveLength(3);
  });

  it('a rolling update of 10 replicas with maxUnavailable 0 never has fewer than 10 ready pods', async () => {
    const sim = await cluster(3);
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } };
    await sim.apply(deployment('web', 10, { strategy }));
    await sim.until(isAvailable(sim, 'web', 10));
    await sim.apply(deployment('web', 10, { strategy, image: 'ferry.local/busybox:2' }));
    let minReady = Number.POSITIVE_INFINITY;
    const done = isAvailable(sim, 'web', 10);
    while (!(await done())) {
      await sim.advance(250, 250, async () => {
        minReady = Math.min(minReady, (await sim.readyPods()).length);
      });
      if (sim.now > 1_700_000_000_000 + 600_000) throw new Error('rollout did not finish');
    }
    expect(minReady).toBeGreaterThanOrEqual(10);
    const images = (await sim.readyPods()).map((p) => p.spec.containers[0]?.image);
    expect(new Set(images)).toEqual(new Set(['ferry.local/busybox:2']));
    const events = (await sim.store.list<Event>('Event')).items.filter((e) => e.reason === 'ScalingReplicaSet');
    expect(events.length).toBeGreaterThan(2);
  });

  it('Recreate stops every old pod before any new one starts', async () => {
    const sim = await cluster(2);
    await sim.apply(deployment('db', 3, { strategy: { type: 'Recreate' } }));
    await sim.until(isAvailable(sim, 'db', 3));
    await sim.apply(deployment('db', 3, { strategy: { type: 'Recreate' }, image: 'ferry.local/busybox:2' }));
    let overlap = false;
    await sim.until(async () => {
      const images = new Set((await sim.pods()).map((p) => p.spec.containers[0]?.image));
      if (images.size > 1) overlap = true;
      return isAvailable(sim, 'db', 3)();
    });
    expect(overlap).toBe(false);
  });

  it('rolls back to the previous template, which becomes the newest revision', async () => {
    const sim = await cluster(2);
    await sim.apply(deployment('web', 2));
    await sim.until(isAvailable(sim, 'web', 2));
    await sim.apply(deployment('web', 2, { image: 'ferry.local/busybox:2' }));
    await sim.until(isAvailable(sim, 'web', 2));
    await rollbackDeployment(sim.deps.store, { namespace: 'default', name: 'web' });
    await sim.until(isAvailable(sim, 'web', 2));
    const images = (await sim.readyPods()).map((p) => p.spec.containers[0]?.image);
    expect(images).toEqual(['ferry.local/busybox:1', 'ferry.local/busybox:1']);
    const sets = (await sim.store.list<ReplicaSet>('ReplicaSet')).items;
    const revisions = sets.map((rs) => [
      rs.spec.template?.spec.containers[0]?.image,
      rs.metadata.annotations?.['deployment.kubernetes.io/revision'],
    ]);
    expect(revisions).toContainEqual(['ferry.local/busybox:1', '3']);
  });

  it('a node lost with 5 pods: all 5 run elsewhere within grace + eviction + one resync', async () => {
    const sim = await cluster(3);
    await sim.apply(deployment('web', 15));
    await sim.until(isAvailable(sim, 'web', 15));
    const lost = (await sim.pods()).filter((p) => p.spec.nodeName === 'node-1');
    expect(lost).toHaveLength(5);
    sim.killNode('node-1');
    const took = await sim.until(async () => {
      const ready = await sim.readyPods();
      return ready.length === 15 && ready.every((p) => p.spec.nodeName !== 'node-1');
    });
    // grace 10 s + eviction 5 s + pod start 2 s + one manager step
    expect(took).toBeLessThanOrEqual(10_000 + 5_000 + 2_000 + 1_000);
    expect((await sim.node('node-1')).status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('Unknown');
    const evicted = (await sim.store.list<Event>('Event')).items.filter((e) => e.reason === 'Evicted');
    expect(evicted).toHaveLength(5);
    // The node comes back: Ready again, and the evicted pods are not resurrected.
    sim.reviveNode('node-1');
    await sim.advance(2_000);
    expect((await sim.node('node-1')).status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect((await sim.pods()).filter((p) => lost.some((l) => l.metadata.uid === p.metadata.uid))).toHaveLength(0);
  });

  it('when every node stops heartbeating at once (our own outage, not theirs) nothing is evicted', async () => {
    const sim = await cluster(3);
    await sim.apply(deployment('web', 3));
    await sim.until(isAvailable(sim, 'web', 3));
    for (const n of ['node-1', 'node-2', 'node-3']) sim.killNode(n);
    await sim.advance(60_000, 1_000);
    const evicted = (await sim.store.list<Event>('Event')).items.filter((e) => e.reason === 'Evicted');
    expect(evicted).toHaveLength(0);
    expect(await sim.pods()).toHaveLength(3);
    for (const n of ['node-1', 'node-2', 'node-3']) sim.reviveNode(n);
    await sim.until(
      async () =>
        (await sim.readyPods()).length === 3 && (await sim.node('node-1')).status?.conditions?.[0]?.status === 'True',
    );
  });

  it('not enough capacity: FailedScheduling with reasons, then a node joins and the pods run', async () => {
    const sim = await cluster(1);
    await sim.apply(deployment('big', 3, { cpu: '3' }));
    await sim.advance(3_000);
    const pending = (await sim.pods()).filter((p) => !p.spec.nodeName);
    expect(pending).toHaveLength(2);
    const cond = pending[0]?.status?.conditions?.find((c) => c.type === 'PodScheduled');
    expect(cond?.message).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    const failed = (await sim.store.list<Event>('Event')).items.filter((e) => e.reason === 'FailedScheduling');
    expect(failed.length).toBeGreaterThan(0);
    await sim.addNode('node-2');
    await sim.addNode('node-3');
    await sim.until(isAvailable(sim, 'big', 3));
  });

  it('cordon + drain moves the controller-owned pods off a node', async () => {
    const sim = await cluster(2);
    await sim.apply(deployment('web', 4));
    await sim.until(isAvailable(sim, 'web', 4));
    const result = await drainNode(sim.deps, 'node-1');
    expect(result.evicted).toHaveLength(2);
    await sim.until(async () => {
      const ready = await sim.readyPods();
      return ready.length === 4 && ready.every((p) => p.spec.nodeName === 'node-2') && (await sim.pods()).length === 4;
    });
    expect((await sim.node('node-1')).spec?.unschedulable).toBe(true);
  });

  it('a rollout that cannot progress ends in ProgressDeadlineExceeded', async () => {
    const sim = await cluster(1);
    await sim.apply(deployment('web', 1, { progressDeadlineSeconds: 30 }));
    await sim.until(isAvailable(sim, 'web', 1));
    await sim.apply(deployment('web', 1, { progressDeadlineSeconds: 30, cpu: '64' }));
    await sim.until(
      async () =>
        (await sim.deployment('web')).status?.conditions?.some((c) => c.reason === 'ProgressDeadlineExceeded') ?? false,
      120_000,
      2_000,
    );
    expect((await sim.readyPods()).length).toBe(1);
  });

  it('converges despite injected write conflicts', async () => {
    const sim = await cluster(2);
    sim.injectConflicts('ReplicaSet', 5);
    sim.injectConflicts('Pod', 5);
    sim.injectConflicts('Deployment', 3);
    await sim.apply(deployment('web', 4));
    await sim.until(isAvailable(sim, 'web', 4));
  });

  it('a crashed pod is replaced by its ReplicaSet', async () => {
    const sim = await cluster(2);
    await sim.apply(deployment('web', 2));
    await sim.until(isAvailable(sim, 'web', 2));
    const victim = (await sim.pods())[0] as Pod;
    await sim.crashPod(victim.metadata.name);
    await sim.until(
      async () =>
        (await sim.readyPods()).length === 2 && !(await sim.pods()).some((p) => p.metadata.uid === victim.metadata.uid),
    );
  });
});
