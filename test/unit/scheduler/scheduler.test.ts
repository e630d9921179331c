import { describe, expect, it } from 'vitest';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { schedulePass } from '../../../functions/scheduler';
import { feasibleNodesToFind, unschedulableMessage } from '../../../functions/scheduler/stack';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import type { Pod } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';

function setup() {
  const store = new MemoryStore(() => 1_700_000_000_000);
  const deps: Deps = { store, clock: () => 1_700_000_000_000, log: silentLogger };
  return { store, deps };
}

async function podsOn(deps: Deps): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const p of (await deps.store.list<Pod>('Pod')).items) {
    const n = p.spec.nodeName ?? '(pending)';
    out[n] = [...(out[n] ?? []), p.metadata.name];
  }
  return out;
}

describe('scheduler pass', () => {
  it('binds a pending pod to a ready node and records a Scheduled event', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('n1'));
    await store.create(makePod('web'));
    const result = await schedulePass(deps);
    expect(result.bound).toBe(1);
    const pod = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' });
    expect(pod?.spec.nodeName).toBe('n1');
    expect(pod?.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    const events = (await store.list('Event')).items;
    expect(events.map((e) => [e.reason, e.message])).toEqual([
      ['Scheduled', 'Successfully assigned default/web to n1'],
    ]);
  });

  it('skips nodes that are not ready, cordoned, unselected, tainted or out of host ports', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('not-ready', { ready: false }));
    await store.create(makeNode('cordoned', { unschedulable: true }));
    await store.create(makeNode('wrong-disk', { labels: { disk: 'hdd' } }));
    await store.create(
      makeNode('tainted', { labels: { disk: 'ssd' }, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }),
    );
    await store.create(makeNode('port-taken', { labels: { disk: 'ssd' } }));
    await store.create(makeNode('good', { labels: { disk: 'ssd' } }));
    await store.create(makePod('squatter', { nodeName: 'port-taken', hostPort: 8080 }));
    await store.create(makePod('web', { nodeSelector: { disk: 'ssd' }, hostPort: 8080 }));
    await schedulePass(deps);
    expect((await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'web' }))?.spec.nodeName).toBe('good');
  });

  it('a toleration lets a pod onto a tainted node', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('gpu', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] }));
    await store.create(
      makePod('trainer', { tolerations: [{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }] }),
    );
    await store.create(makePod('web'));
    await schedulePass(deps);
    expect(await podsOn(deps)).toEqual({ gpu: ['trainer'], '(pending)': ['web'] });
  });

  it('a pod that fits nowhere gets PodScheduled=False with the reasons counted, once', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('a', { cpu: '1' }));
    await store.create(makeNode('b', { cpu: '1' }));
    await store.create(makeNode('c', { ready: false }));
    await store.create(makePod('big', { cpu: '2' }));
    const result = await schedulePass(deps);
    expect(result.unschedulable).toBe(1);
    const pod = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name: 'big' });
    const cond = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled');
    expect(cond).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message: '0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu.',
    });
    await schedulePass(deps);
    const events = (await store.list('Event')).items as (Obj & { count: number; reason: string })[];
    expect(events.map((e) => [e.reason, e.count])).toEqual([['FailedScheduling', 1]]);
  });

  it('a node that joins later gets the pods that did not fit', async () => {
    const { store, deps } = setup();
    await store.create(makePod('waiting', { cpu: '1' }));
    expect((await schedulePass(deps)).unschedulable).toBe(1);
    await store.create(makeNode('late'));
    expect((await schedulePass(deps)).bound).toBe(1);
  });

  it('spreads the pods of one owner across nodes and zones before packing', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('a1', { zone: 'a' }));
    await store.create(makeNode('a2', { zone: 'a' }));
    await store.create(makeNode('b1', { zone: 'b' }));
    const owner = { kind: 'ReplicaSet', name: 'web', uid: 'rs-1' };
    for (let i = 0; i < 3; i++) await store.create(makePod(`web-${i}`, { owner }));
    await schedulePass(deps);
    const placement = await podsOn(deps);
    expect(Object.keys(placement).sort()).toEqual(['a1', 'a2', 'b1']);
  });

  it('never puts a node over its allocatable CPU, memory or pod count', async () => {
    const { store, deps } = setup();
    await store.create(makeNode('small', { cpu: '1', memory: '1Gi', pods: 3 }));
    for (let i = 0; i < 6; i++) await store.create(makePod(`p${i}`, { cpu: '300m', memory: '200Mi' }));
    const result = await schedulePass(deps);
    expect(result.bound).toBe(3);
    expect(result.unschedulable).toBe(3);
  });

  it('samples a bounded share of feasible nodes on large clusters and all of them on small ones', () => {
    expect(feasibleNodesToFind(50)).toBe(50);
    expect(feasibleNodesToFind(100)).toBe(100);
    expect(feasibleNodesToFind(5000)).toBe(100);
    expect(unschedulableMessage(0, new Map())).toBe('0/0 nodes are available.');
  });
});

describe('two scheduler passes at once', () => {
  it('never bind one pod twice nor over-commit a node, whatever the interleaving', async () => {
    for (let seed = 0; seed < 20; seed++) {
      const { store, deps } = setup();
      await store.create(makeNode('n1', { cpu: '1', pods: 110 }));
      await store.create(makeNode('n2', { cpu: '1', pods: 110 }));
      for (let i = 0; i < 8; i++) await store.create(makePod(`p${i}`, { cpu: '300m' }));
      // Interleave the two passes' store calls in a seed-dependent order.
      let tick = 0;
      const yielding = new Proxy(store, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            const turns = (tick++ * 7 + seed) % 3;
            for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
            return value.apply(target, args);
          };
        },
      });
      const racing: Deps = { ...deps, store: yielding };
      const [a, b] = await Promise.all([
        schedulePass(racing, { events: false }),
        schedulePass(racing, { events: false }),
      ]);
      const pods = (await store.list<Pod>('Pod')).items;
      const bound = pods.filter((p) => p.spec.nodeName);
      expect(a.bound + b.bound).toBe(bound.length);
      for (const node of ['n1', 'n2']) {
        expect(bound.filter((p) => p.spec.nodeName === node).length).toBeLessThanOrEqual(3);
      }
      // A later pass places whatever the race left pending, still within capacity.
      await schedulePass(deps, { events: false });
      const after = (await store.list<Pod>('Pod')).items.filter((p) => p.spec.nodeName);
      expect(after.length).toBe(6);
    }
  });
});
