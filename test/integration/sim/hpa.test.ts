/**
 * The HPA controller in the simulated cluster (harness.ts: fake clock, the real manager,
 * scheduler and workload controllers), with nodes that report usage the way agents do: only while
 * their NodeDesired record asks (`usageUntil`), every 15 s, a load shared by the target's ready
 * pods. What a user relies on: load scales the Deployment up within bounds, a quiet spell scales
 * it down only after the stabilization window, a cluster without HPAs writes no usage, and the
 * HPA's status says why when it cannot act.
 */
import { describe, expect, it, vi } from 'vitest';
import { type NodeDesired, nodeDesiredRef } from '../../../functions/node-desired';
import { NODE_USAGE_KIND, storeUsage, usageRecord } from '../../../functions/node-usage';
import type { Obj, ObjectRef } from '../../../functions/store/types';
import type { HorizontalPodAutoscaler, Pod } from '../../../schemas';
import { deployment, Simulation } from './harness';

/** Nodes reporting usage when asked: `load()` millicores shared by the ready pods of `app`. */
class Reporters {
  readonly writes: { node: string; at: number; bytes: number }[] = [];
  /** True while the nodes read their records (a test counting the controller's reads skips these). */
  reading = false;
  private readonly lastAt = new Map<string, number>();
  constructor(
    private readonly sim: Simulation,
    private readonly app: string,
    public load: () => number,
  ) {}

  async run(): Promise<void> {
    this.reading = true;
    try {
      await this.report();
    } finally {
      this.reading = false;
    }
  }

  private async report(): Promise<void> {
    const pods = (await this.sim.pods()).filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
    const busy = pods.filter((p) => p.metadata.labels?.app === this.app);
    for (const name of this.sim.nodes.keys()) {
      const desired = await this.sim.store.get<NodeDesired>(nodeDesiredRef(name));
      if ((desired?.spec.usageUntil ?? 0) <= this.sim.now) continue;
      if (this.sim.now - (this.lastAt.get(name) ?? 0) < 15_000) continue;
      this.lastAt.set(name, this.sim.now);
      const mine = pods.filter((p) => p.spec.nodeName === name);
      const record = usageRecord(
        name,
        {
          ageMs: 0,
          windowMs: 15_000,
          node: { cpuNanoCores: 0, memoryBytes: 0 },
          pods: mine.map((p) => ({
            pod: { namespace: 'default', name: p.metadata.name, uid: p.metadata.uid as string },
            containers: [
              {
                name: 'app',
                cpuNanoCores: busy.includes(p) ? (this.load() / busy.length) * 1e6 : 1e6,
                memoryBytes: 20 * 2 ** 20,
              },
            ],
          })),
        },
        this.sim.now,
      );
      await storeUsage(this.sim.store, record);
      this.writes.push({ node: name, at: this.sim.now, bytes: JSON.stringify(record).length });
    }
  }
}

function hpa(spec: Partial<HorizontalPodAutoscaler['spec']> = {}): HorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
      ],
      ...spec,
    },
  } as HorizontalPodAutoscaler;
}

async function cluster(nodes = 3) {
  const sim = new Simulation({ startDelayMs: 1_000 });
  for (let i = 1; i <= nodes; i++) await sim.addNode(`n${i}`);
  return sim;
}

async function step(sim: Simulation, reporters: Reporters, ms: number): Promise<void> {
  const end = sim.now + ms;
  while (sim.now < end) {
    await sim.advance(1_000, 1_000);
    await reporters.run();
  }
}

const replicas = async (sim: Simulation) => (await sim.deployment('web')).spec.replicas;
const stored = async (sim: Simulation) =>
  (await sim.store.get<HorizontalPodAutoscaler>({
    kind: 'HorizontalPodAutoscaler',
    namespace: 'default',
    name: 'web',
  })) as HorizontalPodAutoscaler;

describe('the HPA in a simulated cluster', () => {
  it('scales a busy Deployment up to meet its CPU target, within maxReplicas, and says so', async () => {
    const sim = await cluster();
    await sim.apply(deployment('web', 2, { cpu: '100m' }));
    const reporters = new Reporters(sim, 'web', () => 500);
    await step(sim, reporters, 10_000);
    await sim.apply(hpa());
    await step(sim, reporters, 120_000);
    // 500m over pods of 100m at a 50% target: 10 pods, the maximum.
    expect(await replicas(sim)).toBe(10);
    const h = await stored(sim);
    expect(h.status).toMatchObject({ currentReplicas: 10, desiredReplicas: 10 });
    expect(h.status?.currentMetrics?.[0]).toMatchObject({
      type: 'Resource',
      resource: { name: 'cpu', current: { averageUtilization: 50 } },
    });
    expect(h.status?.conditions?.find((c) => c.type === 'ScalingActive')).toMatchObject({
      status: 'True',
      reason: 'ValidMetricFound',
    });
    const events = (await sim.store.list('Event')).items.filter(
      (e) => (e as { reason?: string }).reason === 'SuccessfulRescale',
    );
    expect(events.map((e) => (e as { message?: string }).message)).toContain(
      'New size: 4; reason: cpu resource utilization (percentage of request) above target',
    );
  });

  it('scales down only after the 300 s stabilization window once the load is gone', async () => {
    const sim = await cluster();
    await sim.apply(deployment('web', 2, { cpu: '100m' }));
    let load = 400;
    const reporters = new Reporters(sim, 'web', () => load);
    await sim.apply(hpa());
    await step(sim, reporters, 90_000);
    expect(await replicas(sim)).toBe(8);
    load = 20;
    await step(sim, reporters, 240_000);
    expect(await replicas(sim)).toBe(8);
    await step(sim, reporters, 120_000);
    expect(await replicas(sim)).toBe(1);
  });

  it('asks only the nodes that run the target pods, about 4 usage writes per node per minute', async () => {
    const sim = await cluster(4);
    await sim.apply({ ...deployment('web', 1, { cpu: '100m' }) });
    const reporters = new Reporters(sim, 'web', () => 50);
    await sim.apply(hpa());
    await step(sim, reporters, 60_000);
    const web = (await sim.pods()).find((p) => p.metadata.labels?.app === 'web') as Pod;
    const before = reporters.writes.length;
    await step(sim, reporters, 600_000);
    const steady = reporters.writes.slice(before);
    expect(new Set(steady.map((w) => w.node))).toEqual(new Set([web.spec.nodeName]));
    expect(steady.length / 10).toBeLessThanOrEqual(4);
    expect(Math.max(...steady.map((w) => w.bytes))).toBeLessThan(1024);
  });

  it("reads a target node's NodeDesired record only when its ask is due for renewal, not at every HPA sync", async () => {
    const sim = await cluster(2);
    await sim.apply(deployment('web', 2, { cpu: '100m' }));
    const reporters = new Reporters(sim, 'web', () => 100);
    await sim.apply(hpa());
    await step(sim, reporters, 60_000);
    const reads: number[] = [];
    const get = sim.store.get.bind(sim.store);
    vi.spyOn(sim.store, 'get').mockImplementation((ref: ObjectRef) => {
      if (ref.kind === 'NodeDesired' && !reporters.reading) reads.push(sim.now);
      return get(ref);
    });
    await step(sim, reporters, 300_000);
    // 20 HPA syncs (every 15 s) over two nodes: 40 reads before; the 5-minute ask is renewed
    // when 150 s are left, so each node's record is read about twice.
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.length).toBeLessThanOrEqual(6);
    expect(await replicas(sim)).toBe(2);
  });

  it('asks a node again at the next pass when its record lost the ask (a node registered again)', async () => {
    const sim = await cluster(1);
    await sim.apply(deployment('web', 1, { cpu: '100m' }));
    const reporters = new Reporters(sim, 'web', () => 50);
    await sim.apply(hpa());
    await step(sim, reporters, 60_000);
    const ref = nodeDesiredRef('n1');
    const desired = (await sim.store.get<NodeDesired>(ref)) as NodeDesired;
    await sim.store.update<NodeDesired>({ ...desired, spec: { ...desired.spec, usageUntil: undefined } });
    await step(sim, reporters, 120_000);
    expect((await sim.store.get<NodeDesired>(ref))?.spec.usageUntil ?? 0).toBeGreaterThan(sim.now);
    expect(reporters.writes.filter((w) => w.at > sim.now - 30_000).length).toBeGreaterThan(0);
  });

  it('writes no usage at all in a cluster without HPAs', async () => {
    const sim = await cluster();
    await sim.apply(deployment('web', 3, { cpu: '100m' }));
    const reporters = new Reporters(sim, 'web', () => 500);
    await step(sim, reporters, 120_000);
    expect(reporters.writes).toEqual([]);
    expect((await sim.store.list(NODE_USAGE_KIND)).items).toEqual([]);
    for (const n of sim.nodes.keys())
      expect((await sim.store.get<NodeDesired>(nodeDesiredRef(n)))?.spec.usageUntil).toBeUndefined();
  });

  it('stops scaling and says why when a target pod has no CPU request', async () => {
    const sim = await cluster();
    await sim.apply(deployment('web', 2));
    const reporters = new Reporters(sim, 'web', () => 500);
    await sim.apply(hpa());
    await step(sim, reporters, 60_000);
    expect(await replicas(sim)).toBe(2);
    const active = (await stored(sim)).status?.conditions?.find((c) => c.type === 'ScalingActive');
    expect(active).toMatchObject({ status: 'False', reason: 'FailedGetResourceMetric' });
    expect(active?.message).toMatch(
      /^the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod web-/,
    );
  });

  it('reports FailedGetScale for a target that does not exist, and brings a target into minReplicas', async () => {
    const sim = await cluster();
    const reporters = new Reporters(sim, 'web', () => 0);
    await sim.apply(hpa({ minReplicas: 3 }));
    await step(sim, reporters, 20_000);
    expect((await stored(sim)).status?.conditions?.find((c) => c.type === 'AbleToScale')).toMatchObject({
      status: 'False',
      reason: 'FailedGetScale',
      message: `the HPA controller was unable to get the target's current scale: deployments.apps "web" not found`,
    });
    await sim.apply(deployment('web', 1, { cpu: '100m' }));
    await step(sim, reporters, 40_000);
    expect(await replicas(sim)).toBe(3);
  });

  it('leaves a target scaled to zero alone (ScalingDisabled)', async () => {
    const sim = await cluster();
    await sim.apply(deployment('web', 0, { cpu: '100m' }));
    const reporters = new Reporters(sim, 'web', () => 0);
    await sim.apply(hpa({ minReplicas: 2 }));
    await step(sim, reporters, 40_000);
    expect(await replicas(sim)).toBe(0);
    expect((await stored(sim)).status?.conditions?.find((c) => c.type === 'ScalingActive')).toMatchObject({
      status: 'False',
      reason: 'ScalingDisabled',
    });
  });

  it("scales on one container's usage with a ContainerResource metric", async () => {
    const sim = await cluster();
    await sim.apply(deployment('web', 2, { cpu: '100m' }));
    const reporters = new Reporters(sim, 'web', () => 300);
    await sim.apply(
      hpa({
        metrics: [
          {
            type: 'ContainerResource',
            containerResource: {
              name: 'cpu',
              container: 'app',
              target: { type: 'Utilization', averageUtilization: 50 },
            },
          },
        ],
      }),
    );
    await step(sim, reporters, 90_000);
    expect(await replicas(sim)).toBe(6);
    expect((await stored(sim)).status?.currentMetrics?.[0]).toMatchObject({
      type: 'ContainerResource',
      containerResource: { name: 'cpu', container: 'app', current: { averageUtilization: 50 } },
    });
  });

  it('scales a ReplicaSet through the same scale the HPA reads and writes', async () => {
    const sim = await cluster();
    const d = deployment('web', 1, { cpu: '100m' });
    await sim.apply({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: d.metadata,
      spec: { replicas: 1, selector: d.spec.selector, template: d.spec.template },
    } as never);
    const reporters = new Reporters(sim, 'web', () => 150);
    await sim.apply(hpa({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web' } }));
    await step(sim, reporters, 60_000);
    const rs = await sim.store.get<Obj & { spec: { replicas: number } }>({
      kind: 'ReplicaSet',
      namespace: 'default',
      name: 'web',
    });
    expect(rs?.spec.replicas).toBe(3);
  });
});
