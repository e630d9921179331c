/**
 * The cluster autoscaler's scale-down plan, pure: which nodes of autoscaled pools are unneeded
 * (under the threshold, every pod movable elsewhere by the scheduler's filters, nothing keeping
 * the node), and when one is removed.
 */
import { describe, expect, it } from 'vitest';
import { planAutoscaling } from '../../../functions/controllers/autoscaler';
import type { Group } from '../../../functions/controllers/autoscaler/group';
import type {
  Node,
  NodePool,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  PodDisruptionBudget,
} from '../../../schemas';
import { makeNode, makePod, type PodOptions } from '../../helpers/objects';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const MIN = 60_000;
const owner = { kind: 'ReplicaSet', name: 'web', uid: 'rs-web' };

function poolNode(name: string, o: { cpu?: string; annotations?: Record<string, string> } = {}): Node {
  const n = makeNode(name, { cpu: o.cpu ?? '4', memory: '8Gi', labels: { 'ferry.dev/pool': 'web' } });
  if (o.annotations) n.metadata.annotations = o.annotations;
  return n;
}

function running(
  name: string,
  node: string,
  o: PodOptions & { annotations?: Record<string, string>; volumes?: Pod['spec']['volumes'] } = {},
): Pod {
  const { annotations, volumes, ...rest } = o;
  const pod = makePod(name, { owner, nodeName: node, cpu: '500m', ...rest });
  pod.metadata.uid = `uid-${name}`;
  if (annotations) pod.metadata.annotations = annotations;
  if (volumes) pod.spec.volumes = volumes;
  pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  return pod;
}

function group(nodes: Node[], o: Partial<Group> = {}): Group {
  return {
    name: 'web',
    pool: { metadata: { name: 'web' } } as NodePool,
    settings: { unneededMs: 10 * MIN, threshold: 0.5, delayAfterAddMs: 10 * MIN, delayAfterDeleteMs: MIN, priority: 0 },
    min: 0,
    max: 10,
    target: nodes.length,
    nodes,
    booting: [],
    launched: [],
    retiring: 0,
    template: { unknown: 'not needed here' },
    unneeded: [],
    ...o,
  };
}

interface Extra {
  now?: number;
  budgets?: PodDisruptionBudget[];
  claims?: PersistentVolumeClaim[];
  pvs?: PersistentVolume[];
  retiring?: number;
  others?: Node[];
}

function plan(g: Group, pods: Pod[], x: Extra = {}) {
  return planAutoscaling({
    view: { now: x.now ?? NOW, nodes: [...g.nodes, ...(x.others ?? [])], pods, records: [], daemonSets: [] },
    groups: [g],
    budgets: x.budgets ?? [],
    volumes: {
      claims: new Map((x.claims ?? []).map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c])),
      pvs: new Map((x.pvs ?? []).map((p) => [p.metadata.name, p])),
    },
    maxNewNodesPerPass: 10,
    scaleDownParallelism: 1,
    retiring: x.retiring ?? 0,
  }).decisions.get('web');
}

const since = (msAgo: number) => new Date(NOW - msAgo).toISOString().replace(/\.\d{3}Z$/, 'Z');
const twoNodes = () => [poolNode('web-1'), poolNode('web-2')];

describe('cluster autoscaler scale-down', () => {
  it('marks a node under the threshold whose pods fit elsewhere unneeded, and retires it after the unneeded time', () => {
    const nodes = twoNodes();
    const pods = [running('a', 'web-1'), running('b', 'web-2', { cpu: '2500m' })];
    const first = plan(group(nodes), pods);
    expect(first?.unneeded).toEqual([{ node: 'web-1', since: since(0) }]); // web-2 is at 62%
    expect(first?.remove).toBeUndefined();
    expect(first?.conditions[1]).toMatchObject({ type: 'ScaleDown', status: 'True', reason: 'CandidatesPresent' });

    const later = plan(group(nodes, { unneeded: [{ node: 'web-1', since: since(10 * MIN) }] }), pods);
    expect(later?.remove).toMatchObject({ node: 'web-1' });
    expect(later?.target).toBe(1);
    expect(later?.conditions[1]).toMatchObject({ status: 'True', reason: 'ScaleDown' });
  });

  it('keeps the unneeded timer from the status, and drops it when the node is needed again', () => {
    const nodes = twoNodes();
    const calm = plan(group(nodes, { unneeded: [{ node: 'web-1', since: since(3 * MIN) }] }), [running('a', 'web-1')]);
    expect(calm?.unneeded).toContainEqual({ node: 'web-1', since: since(3 * MIN) });
    const busy = plan(group(nodes, { unneeded: [{ node: 'web-1', since: since(3 * MIN) }] }), [
      running('a', 'web-1', { cpu: '3' }),
    ]);
    expect(busy?.unneeded.map((u) => u.node)).not.toContain('web-1');
  });

  it('never goes below minNodes', () => {
    const nodes = twoNodes();
    const ripe = [
      { node: 'web-1', since: since(20 * MIN) },
      { node: 'web-2', since: since(20 * MIN) },
    ];
    expect(plan(group(nodes, { min: 2, unneeded: ripe }), [])?.remove).toBeUndefined();
    expect(plan(group(nodes, { min: 1, unneeded: ripe }), [])?.remove).toBeDefined();
  });

  it('removes one node at a time: none while another retires, one per pass', () => {
    const nodes = [poolNode('web-1'), poolNode('web-2'), poolNode('web-3')];
    const ripe = nodes.map((n) => ({ node: n.metadata.name, since: since(20 * MIN) }));
    const d = plan(group(nodes, { unneeded: ripe }), []);
    expect(d?.remove).toBeDefined();
    expect(d?.target).toBe(2);
    expect(plan(group(nodes, { unneeded: ripe }), [], { retiring: 1 })?.remove).toBeUndefined();
  });

  it('waits scaleDownDelayAfterAddSeconds after the pool last grew', () => {
    const nodes = twoNodes();
    const ripe = [{ node: 'web-1', since: since(20 * MIN) }];
    expect(plan(group(nodes, { unneeded: ripe, lastScaleUpTime: since(5 * MIN) }), [])?.remove).toBeUndefined();
    expect(plan(group(nodes, { unneeded: ripe, lastScaleUpTime: since(11 * MIN) }), [])?.remove).toBeDefined();
  });

  it('waits scaleDownDelayAfterDeleteSeconds after the pool last retired a node (status.autoscaling.lastScaleDownTime)', () => {
    const nodes = twoNodes();
    const ripe = [{ node: 'web-1', since: since(20 * MIN) }];
    const soon = plan(group(nodes, { unneeded: ripe, lastScaleDownTime: since(30_000) }), []);
    expect(soon?.remove).toBeUndefined();
    expect(soon?.target).toBe(2);
    expect(plan(group(nodes, { unneeded: ripe, lastScaleDownTime: since(2 * MIN) }), [])?.remove).toBeDefined();
    // A time that does not parse delays nothing (as no time at all).
    expect(plan(group(nodes, { unneeded: ripe, lastScaleDownTime: 'yesterday' }), [])?.remove).toBeDefined();
  });

  it('keeps a node whose pods fit on no other node', () => {
    const nodes = twoNodes();
    const pods = [running('a', 'web-1', { cpu: '1500m' }), running('b', 'web-2', { cpu: '3' })];
    const d = plan(group(nodes), pods);
    expect(d?.unneeded).toEqual([]);
    expect(d?.conditions[1]?.message).toContain('web-1: pod default/a fits on no other node');
  });

  it('keeps a node a pod with a budget that allows no disruption runs on', () => {
    const nodes = twoNodes();
    const budget = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'keep', namespace: 'default' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
      status: { disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 1 },
    } as PodDisruptionBudget;
    const pods = [running('db', 'web-1', { labels: { app: 'db' } })];
    const d = plan(group(nodes), pods, { budgets: [budget] });
    expect(d?.unneeded.map((u) => u.node)).toEqual(['web-2']);
    expect(d?.conditions[1]?.message).toContain('PodDisruptionBudget keep allows 0 disruption(s)');
    const allowing = { ...budget, status: { ...budget.status, disruptionsAllowed: 1 } } as PodDisruptionBudget;
    expect(plan(group(nodes), pods, { budgets: [allowing] })?.unneeded.map((u) => u.node)).toEqual(['web-1', 'web-2']);
  });

  it('keeps nodes with pods that have no controller, local storage or safe-to-evict "false", or annotated scale-down-disabled', () => {
    const cases: [string, Pod | Node][] = [
      [
        'is not run by a controller',
        { ...running('bare', 'web-1'), metadata: { name: 'bare', namespace: 'default', uid: 'u' } } as Pod,
      ],
      ['emptyDir volume "scratch"', running('tmp', 'web-1', { volumes: [{ name: 'scratch', emptyDir: {} }] })],
      ['hostPath volume "host"', running('hp', 'web-1', { volumes: [{ name: 'host', hostPath: { path: '/var' } }] })],
      [
        'safe-to-evict: "false"',
        running('pin', 'web-1', { annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } }),
      ],
    ];
    for (const [why, pod] of cases) {
      const d = plan(group(twoNodes()), [pod as Pod]);
      expect(
        d?.unneeded.map((u) => u.node),
        why,
      ).toEqual(['web-2']);
      expect(d?.conditions[1]?.message, why).toContain(why);
    }
    const disabled = poolNode('web-1', {
      annotations: { 'cluster-autoscaler.kubernetes.io/scale-down-disabled': 'true' },
    });
    const d = plan(group([disabled, poolNode('web-2')]), []);
    expect(d?.unneeded.map((u) => u.node)).toEqual(['web-2']);
  });

  it('lets safe-to-evict "true" move a pod with local storage, and treats a local-path claim as local storage', () => {
    const safe = running('tmp', 'web-1', {
      volumes: [{ name: 'scratch', emptyDir: {} }],
      annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true' },
    });
    expect(plan(group(twoNodes()), [safe])?.unneeded.map((u) => u.node)).toEqual(['web-1', 'web-2']);

    const claim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'default' },
      spec: { volumeName: 'pv-data', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    } as PersistentVolumeClaim;
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-data' },
      spec: {
        hostPath: { path: '/var/lib/ferry/volumes/pv-data' },
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
      },
    } as PersistentVolume;
    const user = running('db', 'web-1', { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] });
    const d = plan(group(twoNodes()), [user], { claims: [claim], pvs: [pv] });
    expect(d?.conditions[1]?.message).toContain('claim "data" on node-local volume pv-data');
  });

  it('does not count DaemonSet pods as pods to move', () => {
    const daemon = running('agent', 'web-1', { owner: { kind: 'DaemonSet', name: 'agent', uid: 'ds' } });
    daemon.spec.volumes = [{ name: 'host', hostPath: { path: '/' } }];
    expect(plan(group(twoNodes()), [daemon])?.unneeded.map((u) => u.node)).toEqual(['web-1', 'web-2']);
  });

  it('never retires a node when pods are waiting for a scale-up in the same pass', () => {
    const nodes = twoNodes();
    const ripe = [{ node: 'web-1', since: since(20 * MIN) }];
    const g: Group = {
      ...group(nodes, { unneeded: ripe }),
      template: {
        labelsFor: () => ({ 'ferry.dev/pool': 'web' }),
        nextZones: (n) => Array(n).fill('a'),
        zones: ['a'],
        taints: [],
        allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      },
    };
    const big = makePod('big', { owner, cpu: '3500m', nodeSelector: { 'ferry.dev/pool': 'web' } });
    big.metadata.uid = 'uid-big';
    big.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] };
    const both = [running('x', 'web-2', { cpu: '3' }), running('y', 'web-1', { cpu: '1' }), big];
    const d = plan(g, both);
    expect(d?.added).toBe(1);
    expect(d?.remove).toBeUndefined();
  });

  it('simulates at most 30 nodes with pods a pass, keeping the timers of those it does not get to', () => {
    const nodes = Array.from({ length: 40 }, (_, i) => poolNode(`web-${String(i).padStart(2, '0')}`));
    const pods = nodes.map((n, i) => running(`p${i}`, n.metadata.name));
    const first = plan(group(nodes), pods);
    expect(first?.unneeded).toHaveLength(30);

    // The next pass: 31 were unneeded; 30 are simulated again, the one left over keeps its timer.
    const previous = [...(first?.unneeded ?? []), { node: 'web-39', since: since(MIN) }];
    const next = plan(group(nodes, { unneeded: previous }), pods);
    expect(next?.unneeded).toHaveLength(31);
    expect(next?.unneeded).toContainEqual({ node: 'web-39', since: since(MIN) });
  });

  it("keeps a node whose pod's anti-affinity forbids the only other node, and frees it when the other allows", () => {
    const anti = {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'db' } } },
        ],
      },
    };
    const a = running('db-a', 'web-1', { labels: { app: 'db' } });
    a.spec.affinity = anti;
    const b = running('db-b', 'web-2', { labels: { app: 'db' } });
    b.spec.affinity = anti;
    const d = plan(group(twoNodes()), [a, b]);
    expect(d?.unneeded).toEqual([]);
    expect(d?.conditions[1]?.message).toContain('web-1: pod default/db-a fits on no other node');

    const three = [...twoNodes(), poolNode('web-3')];
    expect(plan(group(three), [a, b])?.unneeded.map((u) => u.node)).toEqual(['web-1', 'web-2', 'web-3']);
  });
});
