/**
 * The scheduler honours node affinity, pod affinity and anti-affinity and topology spread
 * constraints as kube-scheduler does, with its reasons in FailedScheduling.
 */
import { describe, expect, it } from 'vitest';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { schedulePass } from '../../../functions/scheduler';
import { MemoryStore } from '../../../functions/store/memory';
import type { Affinity, Pod, TopologySpreadConstraint } from '../../../schemas';
import { makeNode, makePod, type NodeOptions } from '../../helpers/objects';

async function cluster(nodes: [string, NodeOptions][]) {
  const store = new MemoryStore(() => 0);
  const deps: Deps = { store, clock: () => 0, log: silentLogger };
  for (const [name, o] of nodes) await store.create(makeNode(name, o));
  return {
    store,
    async add(
      name: string,
      o: {
        labels?: Record<string, string>;
        affinity?: Affinity;
        spread?: TopologySpreadConstraint[];
        nodeName?: string;
      },
    ) {
      const pod = makePod(name, { labels: o.labels ?? {}, ...(o.nodeName ? { nodeName: o.nodeName } : {}) });
      if (o.affinity) pod.spec.affinity = o.affinity;
      if (o.spread) pod.spec.topologySpreadConstraints = o.spread;
      await store.create(pod);
    },
    schedule: () => schedulePass(deps, { events: false }),
    async nodeOf(name: string) {
      return (await store.get<Pod>({ kind: 'Pod', namespace: 'default', name }))?.spec.nodeName;
    },
    async why(name: string) {
      const pod = await store.get<Pod>({ kind: 'Pod', namespace: 'default', name });
      return pod?.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message;
    },
  };
}

const hostAnti = (app: string): Affinity => ({
  podAntiAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: [
      { labelSelector: { matchLabels: { app } }, topologyKey: 'kubernetes.io/hostname' },
    ],
  },
});

describe('node affinity', () => {
  it('keeps a pod Pending when no node matches its required terms, naming node affinity', async () => {
    const c = await cluster([
      ['a', { labels: { disk: 'hdd' } }],
      ['b', {}],
    ]);
    await c.add('p', {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }],
          },
        },
      },
    });
    await c.schedule();
    expect(await c.nodeOf('p')).toBeUndefined();
    expect(await c.why('p')).toBe("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
  });

  it('ORs terms, ANDs requirements, and knows NotIn, DoesNotExist, Gt, Lt and matchFields', async () => {
    const c = await cluster([
      ['small', { labels: { cores: '4', gpu: 'no' } }],
      ['big', { labels: { cores: '64' } }],
    ]);
    const term = (exprs: object[], fields: object[] = []) =>
      ({ matchExpressions: exprs, matchFields: fields }) as never;
    const req = (terms: never[]): Affinity => ({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
    });
    await c.add('gt', { affinity: req([term([{ key: 'cores', operator: 'Gt', values: ['8'] }])]) });
    await c.add('lt', { affinity: req([term([{ key: 'cores', operator: 'Lt', values: ['8'] }])]) });
    await c.add('nogpu', { affinity: req([term([{ key: 'gpu', operator: 'DoesNotExist' }])]) });
    await c.add('notin', { affinity: req([term([{ key: 'cores', operator: 'NotIn', values: ['64'] }])]) });
    await c.add('byname', { affinity: req([term([], [{ key: 'metadata.name', operator: 'In', values: ['big'] }])]) });
    await c.add('either', {
      affinity: req([
        term([{ key: 'cores', operator: 'In', values: ['1'] }]),
        term([{ key: 'gpu', operator: 'Exists' }]),
      ]),
    });
    await c.schedule();
    expect(await c.nodeOf('gt')).toBe('big');
    expect(await c.nodeOf('lt')).toBe('small');
    expect(await c.nodeOf('nogpu')).toBe('big');
    expect(await c.nodeOf('notin')).toBe('small');
    expect(await c.nodeOf('byname')).toBe('big');
    expect(await c.nodeOf('either')).toBe('small');
  });

  it('places a pod on the node its preferred terms weigh most', async () => {
    const c = await cluster([
      ['a', { labels: { tier: 'cold' } }],
      ['b', { labels: { tier: 'hot' } }],
    ]);
    await c.add('p', {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 10, preference: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['cold'] }] } },
            { weight: 80, preference: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['hot'] }] } },
          ],
        },
      },
    });
    await c.schedule();
    expect(await c.nodeOf('p')).toBe('b');
  });
});

describe('pod anti-affinity and affinity', () => {
  it('spreads three replicas with hostname anti-affinity over three nodes in one pass, and keeps a fourth Pending', async () => {
    const c = await cluster([
      ['a', {}],
      ['b', {}],
      ['c', {}],
    ]);
    for (const n of ['r1', 'r2', 'r3', 'r4']) await c.add(n, { labels: { app: 'db' }, affinity: hostAnti('db') });
    await c.schedule();
    const placed = await Promise.all(['r1', 'r2', 'r3'].map((n) => c.nodeOf(n)));
    expect(new Set(placed)).toEqual(new Set(['a', 'b', 'c']));
    expect(await c.nodeOf('r4')).toBeUndefined();
    expect(await c.why('r4')).toContain("3 node(s) didn't match pod anti-affinity rules");
  });

  it('keeps a plain pod off the node of an existing pod whose anti-affinity forbids it', async () => {
    const c = await cluster([
      ['a', {}],
      ['b', { cpu: '1' }],
    ]);
    await c.add('guard', { labels: { app: 'guard' }, affinity: hostAnti('web'), nodeName: 'a' });
    await c.add('web', { labels: { app: 'web' } });
    await c.schedule();
    expect(await c.nodeOf('web')).toBe('b');
  });

  it('puts a pod in the zone of the pods its required affinity names, and lets the first of a group go anywhere', async () => {
    const c = await cluster([
      ['a1', { zone: 'za' }],
      ['b1', { zone: 'zb' }],
      ['b2', { zone: 'zb' }],
    ]);
    const withCache: Affinity = {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'topology.kubernetes.io/zone' },
        ],
      },
    };
    await c.add('cache', { labels: { app: 'cache' }, nodeName: 'b2' });
    await c.add('web', { labels: { app: 'web' }, affinity: withCache });
    await c.add('first', {
      labels: { app: 'lonely' },
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { app: 'lonely' } }, topologyKey: 'topology.kubernetes.io/zone' },
          ],
        },
      },
    });
    await c.add('orphan', {
      labels: { app: 'web' },
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { app: 'nothing' } }, topologyKey: 'topology.kubernetes.io/zone' },
          ],
        },
      },
    });
    await c.schedule();
    expect(['b1', 'b2']).toContain(await c.nodeOf('web'));
    expect(await c.nodeOf('first')).toBeDefined();
    expect(await c.nodeOf('orphan')).toBeUndefined();
    expect(await c.why('orphan')).toContain("3 node(s) didn't match pod affinity rules");
  });
});

describe('topology spread constraints', () => {
  const spread = (when: 'DoNotSchedule' | 'ScheduleAnyway', maxSkew = 1): TopologySpreadConstraint[] => [
    {
      maxSkew,
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: when,
      labelSelector: { matchLabels: { app: 'w' } },
    },
  ];

  it('keeps zones within maxSkew, refusing a node that would exceed it', async () => {
    const c = await cluster([
      ['a1', { zone: 'za' }],
      ['a2', { zone: 'za' }],
      ['b1', { zone: 'zb', cpu: '1' }],
    ]);
    await c.add('w0', { labels: { app: 'w' }, nodeName: 'a1' });
    for (const n of ['w1', 'w2', 'w3']) await c.add(n, { labels: { app: 'w' }, spread: spread('DoNotSchedule') });
    await c.schedule();
    const zones = { za: 1, zb: 0 } as Record<string, number>;
    for (const n of ['w1', 'w2', 'w3']) {
      const node = await c.nodeOf(n);
      if (node) zones[node.startsWith('a') ? 'za' : 'zb'] = (zones[node.startsWith('a') ? 'za' : 'zb'] ?? 0) + 1;
    }
    expect(Math.abs((zones.za ?? 0) - (zones.zb ?? 0))).toBeLessThanOrEqual(1);
    expect((zones.za ?? 0) + (zones.zb ?? 0)).toBe(4);
  });

  it('refuses nodes without the topology label under DoNotSchedule, naming the missing label', async () => {
    const c = await cluster([['bare', {}]]);
    await c.add('w', { labels: { app: 'w' }, spread: spread('DoNotSchedule') });
    await c.schedule();
    expect(await c.why('w')).toContain("didn't match pod topology spread constraints (missing required label)");
  });

  it('prefers the emptier zone under ScheduleAnyway but still places when skew cannot be met', async () => {
    const c = await cluster([
      ['a1', { zone: 'za' }],
      ['b1', { zone: 'zb' }],
    ]);
    await c.add('w0', { labels: { app: 'w' }, nodeName: 'a1' });
    await c.add('w1', { labels: { app: 'w' }, spread: spread('ScheduleAnyway') });
    await c.schedule();
    expect(await c.nodeOf('w1')).toBe('b1');
  });
});

describe('affinity fields at the API', () => {
  it('refuses affinity fields the scheduler does not honour yet, and bad operators, naming the field', async () => {
    const { applyDefaults, validate } = await import('../../../schemas');
    const pod = (affinity: unknown) =>
      applyDefaults({ ...makePod('p'), spec: { ...makePod('p').spec, affinity } } as never) as unknown;
    const fields = (affinity: unknown) => validate(pod(affinity)).map((c) => `${c.field}: ${c.reason}`);
    expect(
      fields({
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'k', namespaceSelector: {} }],
        },
      }).join('\n'),
    ).toContain('spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector');
    expect(
      fields({
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'k', operator: 'Near' }] }],
          },
        },
      }).join('\n'),
    ).toContain(
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator',
    );
    expect(fields({ nodeAffinity: {} })).toEqual([]);
  });
});
