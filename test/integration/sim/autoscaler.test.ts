/**
 * The cluster autoscaler in simulation: the real controller manager (scheduler, deployment and
 * replicaset controllers, disruption controller, node pool controller with the autoscaler) over a
 * memory store, the fake cloud provider, machines that "boot" by registering a Node with the
 * labels their user-data carries, and a fake clock: the unneeded time passes without sleeping.
 */
import { describe, expect, it } from 'vitest';
import type { Obj } from '../../../functions/store/types';
import { FakeProvider } from '../../../providers/fake';
import type { Node, NodePool, Pod, PodDisruptionBudget } from '../../../schemas';
import { deployment, Simulation } from './harness';

const GiB = 2 ** 30;
const STEP = 5_000;
/** How long a machine takes from its create to a Ready Node: passes run meanwhile. */
const BOOT_MS = 60_000;

interface Cluster {
  sim: Simulation;
  fake: FakeProvider;
  /** Most machines alive at once, and most nodes retiring at once, over the run. */
  peak: { machines: number; retiring: number };
  run(ms: number): Promise<void>;
  pool(): Promise<NodePool>;
  nodes(): Promise<Node[]>;
  events(reason: string): Promise<(Obj & { message: string; involvedObject: { name: string } })[]>;
}

async function cluster(spec: Record<string, unknown>, bootMs = BOOT_MS): Promise<Cluster> {
  const fake = new FakeProvider();
  fake.machineTypes.set('m4', { cpu: 4, memory: 8 * GiB });
  const sim = new Simulation({
    nodePools: { cluster: 'sim', apiUrl: 'http://127.0.0.1:1', providerFor: async () => fake },
  });
  await sim.apply({ apiVersion: 'ferry.dev/v1', kind: 'Cloud', metadata: { name: 'sim' }, spec: { type: 'local' } });
  await sim.apply({
    apiVersion: 'ferry.dev/v1',
    kind: 'NodePool',
    metadata: { name: 'web' },
    spec: { cloud: 'sim', instanceType: 'm4', zones: ['sim-a', 'sim-b'], ...spec },
  });
  const peak = { machines: 0, retiring: 0 };
  const seen = new Map<string, number>();
  /** Each machine's agent registers BOOT_MS after the machine is made; a deleted machine's agent stops. */
  const boot = async () => {
    for (const m of fake.live()) {
      if (!seen.has(m.name)) seen.set(m.name, sim.now);
      if (sim.nodes.has(m.name) || sim.now - (seen.get(m.name) as number) < bootMs) continue;
      await sim.addNode(m.name, { cpu: '4', memory: '8Gi', labels: m.spec.bootstrap.labels });
    }
    for (const m of fake.machines.values())
      if (m.state === 'terminated' && sim.nodes.get(m.name)?.alive) sim.killNode(m.name);
    const retiring = (await sim.store.list<Node>('Node')).items.filter(
      (n) => n.metadata.annotations?.['ferry.dev/retiring-since'],
    ).length;
    peak.machines = Math.max(peak.machines, fake.live().length);
    peak.retiring = Math.max(peak.retiring, retiring);
  };
  return {
    sim,
    fake,
    peak,
    run: (ms) => sim.advance(ms, STEP, boot),
    pool: async () => (await sim.store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool,
    nodes: async () =>
      (await sim.store.list<Node>('Node')).items.filter((n) => n.metadata.labels?.['ferry.dev/pool'] === 'web'),
    events: async (reason) =>
      (
        await sim.store.list<Obj & { reason: string; message: string; involvedObject: { name: string } }>('Event')
      ).items.filter((e) => e.reason === reason),
  };
}

const running = (pods: Pod[]) => pods.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
const condition = (p: NodePool, type: string) => p.status?.conditions?.find((c) => c.type === type);

describe('cluster autoscaler in simulation', () => {
  it('brings up the nodes 20 pending pods need, and no more while they boot', async () => {
    const c = await cluster({ minNodes: 1, maxNodes: 10, autoscaling: { enabled: true } });
    await c.run(90_000);
    expect(c.fake.live()).toHaveLength(1); // minNodes

    await c.sim.apply(deployment('app', 20, { cpu: '1' })); // 4 fit a 4-cpu node: 5 nodes
    await c.run(5 * 60_000);

    expect(running(await c.sim.pods())).toHaveLength(20);
    expect(c.fake.made).toBe(5);
    const pool = await c.pool();
    expect(pool.status?.autoscaling?.desiredNodes).toBe(5);
    expect(pool.status?.autoscaling?.lastScaleUpTime).toBeDefined();
    expect(condition(pool, 'ScaleUp')).toMatchObject({ status: 'False', reason: 'NoActivity' });
    expect((await c.events('TriggeredScaleUp')).length).toBeGreaterThanOrEqual(16);
    expect(await c.events('NotTriggerScaleUp')).toEqual([]);
  });

  it('stops at maxNodes and leaves the pods that do not fit pending, with NotTriggerScaleUp', async () => {
    const c = await cluster({ minNodes: 1, maxNodes: 4, autoscaling: { enabled: true } });
    await c.run(90_000);
    await c.sim.apply(deployment('app', 20, { cpu: '1' }));
    await c.run(10 * 60_000);

    expect(c.fake.made).toBe(4);
    expect(c.peak.machines).toBe(4);
    const pods = await c.sim.pods();
    expect(running(pods)).toHaveLength(16);
    const waiting = pods.filter((p) => !p.spec.nodeName);
    expect(waiting).toHaveLength(4);
    const refused = await c.events('NotTriggerScaleUp');
    expect(new Set(refused.map((e) => e.involvedObject.name))).toEqual(new Set(waiting.map((p) => p.metadata.name)));
    expect(refused[0]?.message).toBe("pod didn't trigger scale-up: 1 max node group size reached");
    expect(condition(await c.pool(), 'ScaleUp')).toMatchObject({ status: 'False', reason: 'MaxNodesReached' });
  });

  it('retires an idle node once it has been unneeded for scaleDownUnneededSeconds, not before', async () => {
    const c = await cluster({
      minNodes: 1,
      maxNodes: 4,
      autoscaling: { enabled: true, scaleDownUnneededSeconds: 600 },
    });
    await c.run(90_000);
    await c.sim.apply(deployment('app', 6, { cpu: '1' })); // two nodes
    await c.run(3 * 60_000);
    expect(c.fake.live()).toHaveLength(2);

    await c.sim.apply(deployment('app', 1, { cpu: '1' })); // one node's worth is idle
    await c.run(60_000);
    const pool = await c.pool();
    const unneeded = pool.status?.autoscaling?.unneeded ?? [];
    expect(unneeded.length).toBeGreaterThanOrEqual(1);
    const since = Math.min(...unneeded.map((u) => Date.parse(u.since)));
    expect(condition(pool, 'ScaleDown')).toMatchObject({ status: 'True', reason: 'CandidatesPresent' });

    // 10 s short of ten minutes unneeded (and of ten minutes since the last scale-up): both still there.
    const lastUp = Date.parse(pool.status?.autoscaling?.lastScaleUpTime ?? '');
    const ripe = Math.max(since + 600_000, lastUp + 600_000);
    await c.run(ripe - c.sim.now - 10_000);
    expect(c.fake.live()).toHaveLength(2);
    expect(await c.events('ScaleDown')).toEqual([]);

    await c.run(3 * 60_000);
    expect(c.fake.live()).toHaveLength(1);
    expect(c.peak.retiring).toBe(1);
    const after = await c.pool();
    expect(after.status?.autoscaling?.desiredNodes).toBe(1);
    expect(after.status?.autoscaling?.lastScaleDownTime).toBeDefined();
    expect(running(await c.sim.pods())).toHaveLength(1);

    // minNodes holds however long the last node idles.
    await c.sim.apply(deployment('app', 0, { cpu: '1' }));
    await c.run(30 * 60_000);
    expect(c.fake.live()).toHaveLength(1);
  });

  /**
   * Two nodes under the threshold: A runs `db` (0.5 cpu, the lower utilization, so the first to go
   * without a budget), B runs `web` (1.5 cpu). With a budget that allows no disruption of `db`, A
   * stays and B goes (its pod moves to A); without it, A goes.
   */
  for (const withBudget of [true, false]) {
    it(
      withBudget
        ? 'keeps the node of a pod whose budget allows no disruption'
        : 'retires the emptier node when no budget holds it',
      async () => {
        const c = await cluster({
          minNodes: 1,
          maxNodes: 3,
          autoscaling: { enabled: true, scaleDownUnneededSeconds: 120 },
        });
        await c.run(90_000);
        await c.sim.apply(deployment('db', 1, { cpu: '500m' }));
        await c.run(20_000);
        const [a] = await c.nodes();
        // A second node (the user's minNodes), then `web` on it (least allocated).
        const p = await c.pool();
        await c.sim.store.update({ ...p, spec: { ...p.spec, minNodes: 2 } });
        await c.run(90_000);
        await c.sim.apply(deployment('web', 1, { cpu: '1500m' }));
        await c.run(20_000);
        const db = (await c.sim.pods()).find((x) => x.metadata.name.startsWith('db-')) as Pod;
        expect(db.spec.nodeName).toBe(a?.metadata.name);
        if (withBudget)
          await c.sim.apply({
            apiVersion: 'policy/v1',
            kind: 'PodDisruptionBudget',
            metadata: { name: 'db', namespace: 'default' },
            spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
          } as PodDisruptionBudget);
        const q = await c.pool();
        await c.sim.store.update({ ...q, spec: { ...q.spec, minNodes: 1 } });
        await c.run(20 * 60_000);

        const left = (await c.nodes()).map((n) => n.metadata.name);
        expect(left).toHaveLength(1);
        const dbNow = running(await c.sim.pods()).filter((x) => x.metadata.name.startsWith('db-'));
        expect(dbNow).toHaveLength(1);
        if (withBudget) {
          expect(left).toEqual([a?.metadata.name]);
          expect(dbNow[0]?.metadata.uid).toBe(db.metadata.uid); // never evicted
        } else {
          expect(left).not.toContain(a?.metadata.name);
          expect(dbNow[0]?.metadata.uid).not.toBe(db.metadata.uid); // moved
        }
        expect(running(await c.sim.pods()).filter((x) => x.metadata.name.startsWith('web-'))).toHaveLength(1);
      },
    );
  }

  it('grows the pool whose labels and taints the pending pod asks for, not the other', async () => {
    const c = await cluster({ minNodes: 0, maxNodes: 3, autoscaling: { enabled: true } });
    await c.sim.apply({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'gpu' },
      spec: {
        cloud: 'sim',
        instanceType: 'm4',
        zones: ['sim-a'],
        minNodes: 0,
        maxNodes: 2,
        labels: { accel: 'gpu' },
        taints: [{ key: 'accel', value: 'gpu', effect: 'NoSchedule' }],
        autoscaling: { enabled: true },
      },
    });
    const job = deployment('train', 1, { cpu: '1' });
    job.spec.template.spec = {
      ...job.spec.template.spec,
      nodeSelector: { accel: 'gpu' },
      tolerations: [{ key: 'accel', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }],
    };
    await c.sim.apply(job);
    await c.run(3 * 60_000);

    expect(c.fake.live().map((m) => m.pool)).toEqual(['gpu']);
    const pod = running(await c.sim.pods())[0] as Pod;
    expect(c.fake.live()[0]?.name).toBe(pod.spec.nodeName);
    const triggered = await c.events('TriggeredScaleUp');
    expect(triggered[0]?.message).toBe('pod triggered scale-up: [{gpu 0->1 (max: 2)}]');
  });

  it('grows no pool whose machine size nobody knows, and says so on the pod and the pool', async () => {
    const c = await cluster({ instanceType: 'mystery', minNodes: 0, maxNodes: 3, autoscaling: { enabled: true } });
    await c.sim.apply(deployment('app', 2, { cpu: '1' }));
    await c.run(2 * 60_000);

    expect(c.fake.made).toBe(0);
    const refused = await c.events('NotTriggerScaleUp');
    expect(refused).toHaveLength(2);
    expect(refused[0]?.message).toContain('the size of instance type "mystery" is not known');
    expect(condition(await c.pool(), 'ScaleUp')).toMatchObject({ status: 'False', reason: 'UnknownTemplate' });
  });

  it('bounds what machines that never register cost: three turns of churn, then Degraded and no more', async () => {
    const c = await cluster({ minNodes: 0, maxNodes: 10, autoscaling: { enabled: true } }, Number.POSITIVE_INFINITY);
    await c.sim.apply(deployment('app', 8, { cpu: '1' })); // two nodes' worth
    await c.run(3 * 60 * 60_000);

    expect(c.fake.made).toBeLessThanOrEqual(3 * 2);
    expect(c.fake.live()).toHaveLength(0); // each deleted after its registration deadline
    const pool = await c.pool();
    expect(condition(pool, 'Degraded')).toMatchObject({ status: 'True', reason: 'RegistrationTimeout' });
    expect(condition(pool, 'ScaleUp')).toMatchObject({ status: 'False', reason: 'Backoff' });
    const made = c.fake.made;
    await c.run(60 * 60_000);
    expect(c.fake.made).toBe(made);
  });

  it('makes the new machine in the zone the pending pod is pinned to', async () => {
    const c = await cluster({ minNodes: 0, maxNodes: 4, autoscaling: { enabled: true } });
    const pinned = deployment('pinned', 1, { cpu: '1' });
    pinned.spec.template.spec = {
      ...pinned.spec.template.spec,
      nodeSelector: { 'topology.kubernetes.io/zone': 'sim-b' },
    };
    await c.sim.apply(pinned);
    await c.run(3 * 60_000);

    expect(c.fake.live().map((m) => m.zone)).toEqual(['sim-b']); // sim-a would be the pool's next zone
    expect(running(await c.sim.pods())).toHaveLength(1);
  });
});
