/**
 * The cluster autoscaler's scale-up plan, pure: unschedulable pods against template nodes built
 * from pools, through the scheduler's own filters, with the expander choosing among pools.
 */
import { describe, expect, it } from 'vitest';
import { planAutoscaling } from '../../../functions/controllers/autoscaler';
import type { Group, TemplateSpec } from '../../../functions/controllers/autoscaler/group';
import type { DaemonSet, Node, NodePool, Pod, Taint } from '../../../schemas';
import { makeNode, makePod, type PodOptions } from '../../helpers/objects';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const owner = { kind: 'ReplicaSet', name: 'web', uid: 'rs-web' };

function template(
  pool: string,
  o: { cpu?: string; memory?: string; labels?: Record<string, string>; taints?: Taint[]; zones?: string[] } = {},
): TemplateSpec {
  const zones = o.zones ?? [`${pool}-a`];
  return {
    labelsFor: (zone) => ({ ...o.labels, 'ferry.dev/pool': pool, 'topology.kubernetes.io/zone': zone }),
    nextZones: (n) => Array.from({ length: n }, (_, i) => zones[i % zones.length] as string),
    zones,
    taints: o.taints ?? [],
    allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: '110' },
  };
}

function group(name: string, o: Partial<Group> & { tpl?: Parameters<typeof template>[1] } = {}): Group {
  const { tpl, ...rest } = o;
  return {
    name,
    pool: { metadata: { name } } as NodePool,
    settings: {
      unneededMs: 600_000,
      threshold: 0.5,
      delayAfterAddMs: 600_000,
      delayAfterDeleteMs: 10_000,
      priority: 0,
    },
    min: 0,
    max: 10,
    target: 0,
    nodes: [],
    booting: [],
    launched: [],
    retiring: 0,
    template: template(name, tpl),
    unneeded: [],
    ...rest,
  };
}

/** A pod the scheduler tried and marked Unschedulable. */
function pending(name: string, o: PodOptions & { affinity?: Pod['spec']['affinity'] } = {}): Pod {
  const { affinity, ...rest } = o;
  const pod = makePod(name, { owner, ...rest });
  pod.metadata.uid = `uid-${name}`;
  pod.metadata.creationTimestamp = '2026-12-01T00:00:00Z';
  if (affinity) pod.spec.affinity = affinity;
  pod.status = {
    phase: 'Pending',
    conditions: [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/0 nodes are available.' },
    ],
  };
  return pod;
}

function plan(groups: Group[], pods: Pod[], o: { nodes?: Node[]; maxNew?: number; daemonSets?: DaemonSet[] } = {}) {
  return planAutoscaling({
    view: { now: NOW, nodes: o.nodes ?? [], pods, records: [], daemonSets: o.daemonSets ?? [] },
    groups,
    budgets: [],
    volumes: { claims: new Map(), pvs: new Map() },
    maxNewNodesPerPass: o.maxNew ?? 100,
    scaleDownParallelism: 1,
    retiring: 0,
  });
}

const many = (n: number, o: PodOptions = {}) =>
  Array.from({ length: n }, (_, i) => pending(`p${i}`, { cpu: '1', ...o }));

describe('cluster autoscaler scale-up', () => {
  it('asks for as many nodes as the pending pods need, packed first-fit', () => {
    const p = plan([group('web')], many(20)); // 4 pods of 1 cpu per 4-cpu node
    const d = p.decisions.get('web');
    expect(d).toMatchObject({ added: 5, target: 5 });
    expect(d?.triggered).toHaveLength(20);
    expect(p.notTriggered).toEqual([]);
    expect(d?.conditions.find((c) => c.type === 'ScaleUp')).toMatchObject({ status: 'True', reason: 'InProgress' });
  });

  it('stops at maxNodes and tells the pods left why they stay pending', () => {
    const p = plan([group('web', { max: 3, target: 1, nodes: [] })], many(20));
    expect(p.decisions.get('web')).toMatchObject({ added: 2, target: 3 });
    // One upcoming node (target 1, none registered) holds 4, two new ones 8: 8 are left.
    expect(p.notTriggered).toHaveLength(8);
    expect(p.notTriggered[0]?.message).toBe("pod didn't trigger scale-up: 1 max node group size reached");
    expect(p.decisions.get('web')?.conditions[0]).toMatchObject({ reason: 'InProgress' });
  });

  it('asks for nothing while the nodes it asked for are still coming', () => {
    const p = plan([group('web', { target: 5 })], many(20));
    expect(p.decisions.get('web')).toMatchObject({ added: 0, target: 5 });
    expect(p.notTriggered).toEqual([]);
    expect(p.decisions.get('web')?.conditions[0]).toMatchObject({ reason: 'InProgress' });
  });

  it('counts room on the nodes that are there before asking for more', () => {
    const node = makeNode('web-1', { cpu: '4', labels: { 'ferry.dev/pool': 'web' } });
    const p = plan([group('web', { target: 1, nodes: [node] })], many(6), { nodes: [node] });
    expect(p.decisions.get('web')).toMatchObject({ added: 1, target: 2 });
  });

  it('never asks for more nodes in one pass than the per-pass cap, over every pool', () => {
    const p = plan([group('a'), group('b', { tpl: { cpu: '2' } })], many(40), { maxNew: 3 });
    const added = [...p.decisions.values()].reduce((s, d) => s + d.added, 0);
    expect(added).toBe(3);
    expect(p.notTriggered.some((n) => n.message.includes('max new nodes per pass reached'))).toBe(true);
  });

  it('refuses a pod no template node could hold, with the scheduler reason', () => {
    const p = plan([group('web', { tpl: { cpu: '2' } })], [pending('big', { cpu: '3' })]);
    expect(p.decisions.get('web')?.added).toBe(0);
    expect(p.notTriggered).toEqual([
      {
        pod: expect.objectContaining({ metadata: expect.objectContaining({ name: 'big' }) }),
        message: "pod didn't trigger scale-up: 1 Insufficient cpu",
      },
    ]);
  });

  it('grows only the pool whose taints the pod tolerates and whose labels its selector names', () => {
    const gpu = group('gpu', {
      tpl: { labels: { accel: 'gpu' }, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] },
    });
    const web = group('web');
    const tolerating = pending('t', {
      cpu: '1',
      nodeSelector: { accel: 'gpu' },
      tolerations: [{ key: 'gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }],
    });
    const p = plan(
      [gpu, web],
      [tolerating, pending('plain', { cpu: '1' }), pending('picky', { cpu: '1', nodeSelector: { accel: 'gpu' } })],
    );
    expect(p.decisions.get('gpu')?.triggered.map((x) => x.metadata.name)).toEqual(['t']);
    expect(p.decisions.get('web')?.triggered.map((x) => x.metadata.name)).toEqual(['plain']);
    expect(p.notTriggered.map((n) => n.message)).toEqual([
      "pod didn't trigger scale-up: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {gpu: yes}",
    ]);
  });

  it('honours required node affinity and pod anti-affinity on the template nodes', () => {
    const spread = {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'db' } } },
        ],
      },
    };
    const pods = ['a', 'b', 'c'].map((n) => pending(n, { cpu: '100m', labels: { app: 'db' }, affinity: spread }));
    expect(plan([group('web')], pods).decisions.get('web')?.added).toBe(3); // one per node, not one node

    const zoned = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In' as const, values: ['eu-b'] }] },
          ],
        },
      },
    };
    const p = plan(
      [group('a', { tpl: { zones: ['eu-a'] } }), group('b', { tpl: { zones: ['eu-b'] } })],
      [pending('z', { cpu: '1', affinity: zoned })],
    );
    expect(p.decisions.get('b')?.added).toBe(1);
    expect(p.decisions.get('a')?.added).toBe(0);
  });

  it('counts the pods per node and memory, not only cpu', () => {
    const small = group('web', { tpl: { cpu: '64', memory: '1Gi' } });
    expect(plan([small], many(4, { cpu: '10m', memory: '512Mi' })).decisions.get('web')?.added).toBe(2);
    const few: Group = {
      ...group('few'),
      template: { ...template('few'), allocatable: { cpu: '64', memory: '64Gi', pods: '3' } },
    };
    expect(plan([few], many(7, { cpu: '10m' })).decisions.get('few')?.added).toBe(3);
  });

  it('leaves room on a new node for the DaemonSets that would run there', () => {
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'kube-system' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '1' } } }] },
        },
      },
    } as DaemonSet;
    // 4-cpu nodes with 1 cpu taken by the daemon: three 1-cpu pods a node, not four.
    expect(plan([group('web')], many(6), { daemonSets: [ds] }).decisions.get('web')?.added).toBe(2);
  });

  it('chooses the pool that wastes least, unless another has a higher priority', () => {
    const small = group('small', { tpl: { cpu: '2', memory: '4Gi' } });
    const big = group('big', { tpl: { cpu: '32', memory: '128Gi' } });
    const pods = many(2, { cpu: '1', memory: '1Gi' });
    let p = plan([big, small], pods);
    expect(p.decisions.get('small')?.added).toBe(1);
    expect(p.decisions.get('big')?.added).toBe(0);

    p = plan([{ ...big, settings: { ...big.settings, priority: 10 } }, small], pods);
    expect(p.decisions.get('big')?.added).toBe(1);
    expect(p.decisions.get('small')?.added).toBe(0);
  });

  it('passes over a pool that is backing off after churn, for another that can take the pods', () => {
    const held = group('held', { hold: 'backing off until later after 1 turn(s) of churn (CreateFailed)', target: 3 });
    const spare = group('spare', { tpl: { cpu: '2' } });
    const p = plan([held, spare], many(2));
    expect(p.decisions.get('held')).toMatchObject({ added: 0 });
    expect(p.decisions.get('held')?.conditions[0]).toMatchObject({ status: 'False', reason: 'Backoff' });
    expect(p.decisions.get('spare')?.added).toBe(1);

    const alone = plan([held], many(1));
    expect(alone.notTriggered[0]?.message).toBe(`pod didn't trigger scale-up: 1 in backoff after failed scale-up`);
  });

  it('cannot grow a pool whose machine size is unknown, and says so', () => {
    const g: Group = {
      ...group('web'),
      template: { unknown: 'pool web: the size of instance type "x1" is not known' },
    };
    const p = plan([g], many(1));
    expect(p.decisions.get('web')?.added).toBe(0);
    expect(p.notTriggered[0]?.message).toContain('the size of instance type "x1" is not known');
    expect(p.decisions.get('web')?.conditions[0]).toMatchObject({ reason: 'UnknownTemplate' });
  });

  it('ignores pods the scheduler has not tried, pods being preempted for, and pods bound already', () => {
    const fresh = makePod('fresh', { cpu: '1', owner });
    fresh.metadata.uid = 'uid-fresh';
    const nominated = pending('nom');
    nominated.status = { ...nominated.status, nominatedNodeName: 'n1' };
    const bound = pending('bound', { nodeName: 'elsewhere' });
    const p = plan([group('web')], [fresh, nominated, bound]);
    expect(p.decisions.get('web')?.added).toBe(0);
    expect(p.notTriggered).toEqual([]);
  });

  it("puts a new node in the zone a pending pod needs, not the pool's next zone", () => {
    const zoned = { nodeSelector: { 'topology.kubernetes.io/zone': 'eu-b' } };
    const g = group('web', { tpl: { zones: ['eu-a', 'eu-b'] } });
    const p = plan([g], [pending('z', { cpu: '1', ...zoned }), pending('any', { cpu: '1' })]);
    expect(p.decisions.get('web')).toMatchObject({ added: 1, zones: ['eu-b'] }); // both fit the one node in eu-b
    expect(p.notTriggered).toEqual([]);
  });

  it('counts a node that registered but is not Ready yet as coming, and a long NotReady one as no room', () => {
    const booting = makeNode('web-1', { cpu: '4', ready: false, labels: { 'ferry.dev/pool': 'web' } });
    const waiting = plan([group('web', { target: 1, nodes: [booting], booting: [booting] })], many(4), {
      nodes: [booting],
    });
    expect(waiting.decisions.get('web')?.added).toBe(0);
    const broken = plan([group('web', { target: 1, nodes: [booting], booting: [] })], many(4), { nodes: [booting] });
    expect(broken.decisions.get('web')).toMatchObject({ added: 1, target: 2 });
  });
});
