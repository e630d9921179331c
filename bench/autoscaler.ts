/**
 * `npm run bench -- autoscaler` (no Docker): how long one cluster autoscaler plan takes over
 * clusters of 100 and 1,000 nodes (one autoscaled pool, 5 pods a node), idle (every node under the
 * threshold: the scale-down simulations) and with 500 unschedulable pods (the scale-up estimate),
 * against a baseline measured in the same run: one scheduler snapshot of the same cluster. A plan
 * is a few snapshots plus at most 30 scale-down simulations (MAX_SIMULATED), each answered in
 * place on one snapshot for pods without affinity: the table says what that costs in snapshots.
 * Each figure is the median of three runs, after one run that is not measured (warm-up).
 */
import { type Group, planAutoscaling } from '../functions/controllers/autoscaler';
import { MAX_SIMULATED } from '../functions/controllers/autoscaler/scale-down';
import { buildSnapshot } from '../functions/scheduler/snapshot';
import type { Node, NodePool, Pod } from '../schemas';
import { makeNode, makePod } from '../test/helpers/objects';
import { type Row, report } from './report';

const RUNS = 3;
const owner = { kind: 'ReplicaSet', name: 'web', uid: 'rs-web' };

function cluster(nodes: number, pending: number): { nodes: Node[]; pods: Pod[]; group: Group } {
  const list = Array.from({ length: nodes }, (_, i) =>
    makeNode(`web-${i}`, { cpu: '4', memory: '8Gi', zone: `z${i % 3}`, labels: { 'ferry.dev/pool': 'web' } }),
  );
  const pods: Pod[] = [];
  for (let i = 0; i < nodes * 5; i++) {
    const p = makePod(`run-${i}`, { owner, cpu: '100m', memory: '128Mi', nodeName: `web-${i % nodes}` });
    p.metadata.uid = `run-${i}`;
    p.status = { phase: 'Running' };
    pods.push(p);
  }
  for (let i = 0; i < pending; i++) {
    // Each running node has 3.5 cpu free: a 3.6-cpu pod fits none of them, only a new node.
    const p = makePod(`wait-${i}`, { owner, cpu: '3600m', memory: '128Mi' });
    p.metadata.uid = `wait-${i}`;
    p.metadata.creationTimestamp = '2026-12-01T00:00:00Z';
    p.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] };
    pods.push(p);
  }
  const zones = ['z0', 'z1', 'z2'];
  const group: Group = {
    name: 'web',
    pool: { metadata: { name: 'web' } } as NodePool,
    settings: {
      unneededMs: 600_000,
      threshold: 0.5,
      delayAfterAddMs: 600_000,
      delayAfterDeleteMs: 10_000,
      priority: 0,
    },
    min: 0,
    max: 1000,
    target: nodes,
    nodes: list,
    booting: [],
    launched: [],
    retiring: 0,
    template: {
      labelsFor: (zone) => ({ 'ferry.dev/pool': 'web', 'topology.kubernetes.io/zone': zone }),
      nextZones: (n) => Array.from({ length: n }, (_, i) => zones[i % 3] as string),
      zones,
      taints: [],
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
    },
    unneeded: [],
  };
  return { nodes: list, pods, group };
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
}

const rows: Row[] = [];
for (const size of [100, 1000]) {
  for (const pending of [0, 500]) {
    const c = cluster(size, pending);
    const snap: number[] = [];
    const plan: number[] = [];
    let added = 0;
    let unneeded = 0;
    // One run first, not measured: the first plan of a process pays for compiling the code.
    for (let run = -1; run < RUNS; run++) {
      let t = performance.now();
      buildSnapshot(c.nodes, c.pods, [], Date.now());
      if (run >= 0) snap.push(performance.now() - t);
      t = performance.now();
      const p = planAutoscaling({
        view: { now: Date.now(), nodes: c.nodes, pods: c.pods, records: [], daemonSets: [] },
        groups: [{ ...c.group, max: size + 10 }],
        budgets: [],
        volumes: { claims: new Map(), pvs: new Map() },
        maxNewNodesPerPass: 10,
        scaleDownParallelism: 1,
        retiring: 0,
      });
      if (run >= 0) plan.push(performance.now() - t);
      added = p.decisions.get('web')?.added ?? 0;
      unneeded = p.decisions.get('web')?.unneeded.length ?? 0;
    }
    rows.push({
      nodes: size,
      pods: c.pods.length,
      unschedulable: pending,
      'snapshot ms': median(snap),
      'plan ms': median(plan),
      'plan / snapshot': median(plan) / median(snap),
      'nodes added': added,
      'unneeded found': unneeded,
    });
  }
}
report('autoscaler', rows, {
  note: `a plan: a few snapshots, at most ${MAX_SIMULATED} scale-down simulations, at most 10 new nodes a pass`,
});
