/**
 * The node pool controller's autoscaler step against the fake provider: decisions recorded in
 * status before machines are made, two passes racing (Lambda runs them) deciding once, and a
 * pool going back to desiredNodes when autoscaling is turned off.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileNodePools } from '../../../functions/controllers/nodepool';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import { FakeProvider } from '../../../providers/fake';
import type { NodePool, Pod } from '../../../schemas';
import { applyDefaults } from '../../../schemas/defaults';
import { makeNode, makePod } from '../../helpers/objects';

const GiB = 2 ** 30;

describe('node pool controller with autoscaling', () => {
  let store: MemoryStore;
  let deps: Deps;
  let now: number;
  let fake: FakeProvider;
  const pass = () =>
    reconcileNodePools(deps, { cluster: 'prod', apiUrl: 'https://ferry.example.com', providerFor: async () => fake });
  const pool = async () => (await store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool;

  async function unschedulable(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const pod = makePod(`p${i}`, { cpu: '1', owner: { kind: 'ReplicaSet', name: 'rs', uid: 'rs' } });
      pod.status = {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/0 nodes' }],
      };
      await store.create<Pod>(pod);
    }
  }

  beforeEach(async () => {
    fake = new FakeProvider();
    fake.machineTypes.set('m4', { cpu: 4, memory: 8 * GiB });
    now = Date.parse('2026-12-01T00:00:00Z');
    store = new MemoryStore(() => now);
    deps = { store, clock: () => now, log: silentLogger };
    await store.create({ apiVersion: 'ferry.dev/v1', kind: 'Cloud', metadata: { name: 'c' }, spec: { type: 'local' } });
    await store.create(
      applyDefaults({
        apiVersion: 'ferry.dev/v1',
        kind: 'NodePool',
        metadata: { name: 'web' },
        spec: {
          cloud: 'c',
          instanceType: 'm4',
          zones: ['c-a'],
          minNodes: 0,
          maxNodes: 10,
          autoscaling: { enabled: true },
        },
      }),
    );
  });

  it('records the decision in status, with the launches, before the machines are made', async () => {
    await unschedulable(8);
    await pass();
    const p = await pool();
    expect(fake.live()).toHaveLength(2);
    expect(p.status?.autoscaling).toMatchObject({ desiredNodes: 2, lastScaleUpTime: '2026-12-01T00:00:00Z' });
    expect(p.status?.launches?.map((l) => l.zone)).toEqual(['c-a', 'c-a']);
    expect(p.status?.conditions?.find((c) => c.type === 'ScaleUp')).toMatchObject({
      status: 'True',
      reason: 'InProgress',
    });
  });

  it('two passes racing decide once: the machines the pods need, none retired', async () => {
    await unschedulable(8);
    for (let round = 0; round < 5; round++) {
      await Promise.all([pass(), pass()]);
      now += 5_000;
    }
    expect(fake.made).toBe(2);
    expect(fake.calls.some((c) => c.method === 'deleteInstance')).toBe(false);
    expect((await pool()).status?.autoscaling?.desiredNodes).toBe(2);
  });

  it('a pass that read the pool before another decided keeps to that decision: it neither creates nor retires', async () => {
    await unschedulable(8);
    const stale = await store.list<NodePool>('NodePool');
    await pass(); // decides +2 and makes them
    // The late pass lists the pool as it was before (as a Lambda invocation started earlier does).
    const late: Deps = {
      ...deps,
      store: new Proxy(store, {
        get: (target, prop, receiver) =>
          prop === 'list'
            ? (kind: string, o?: object) => (kind === 'NodePool' ? Promise.resolve(stale) : target.list(kind, o))
            : Reflect.get(target, prop, receiver),
      }),
    };
    await reconcileNodePools(late, {
      cluster: 'prod',
      apiUrl: 'https://ferry.example.com',
      providerFor: async () => fake,
    });
    expect(fake.made).toBe(2);
    expect(fake.calls.some((c) => c.method === 'deleteInstance')).toBe(false);
    expect((await pool()).status?.autoscaling?.desiredNodes).toBe(2);
  });

  it("turned off, the pool keeps desiredNodes again and drops the autoscaler's status", async () => {
    await unschedulable(8);
    await pass();
    for (const m of fake.live()) await store.create(makeNode(m.name, { labels: m.spec.bootstrap.labels }));
    const p = await pool();
    await store.update({ ...p, spec: { ...p.spec, desiredNodes: 2, autoscaling: { enabled: false } } });
    await pass();
    const off = await pool();
    expect(off.status?.autoscaling).toBeUndefined();
    expect(off.status?.conditions?.some((c) => c.type === 'ScaleUp' || c.type === 'ScaleDown')).toBe(false);
    expect(fake.live()).toHaveLength(2);
  });
});
