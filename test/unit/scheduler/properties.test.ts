import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { schedulePass } from '../../../functions/scheduler';
import { MemoryStore } from '../../../functions/store/memory';
import { cpuMillis, type Node, type Pod } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';

const nodeArb = fc.record({
  cpu: fc.integer({ min: 1, max: 8 }),
  pods: fc.integer({ min: 1, max: 12 }),
  ready: fc.boolean(),
  zone: fc.constantFrom('a', 'b', 'c'),
  ssd: fc.boolean(),
});
const podArb = fc.record({
  cpuMilli: fc.integer({ min: 0, max: 3000 }),
  wantsSsd: fc.boolean(),
  owner: fc.constantFrom('rs-1', 'rs-2', undefined),
});

type NodeCase = { cpu: number; pods: number; ready: boolean; zone: string; ssd: boolean };
type PodCase = { cpuMilli: number; wantsSsd: boolean; owner: string | undefined };

async function run(nodes: NodeCase[], pods: PodCase[]) {
  const store = new MemoryStore(() => 0);
  const deps: Deps = { store, clock: () => 0, log: silentLogger };
  for (const [i, n] of nodes.entries()) {
    await store.create(
      makeNode(`n${i}`, {
        cpu: String(n.cpu),
        pods: n.pods,
        ready: n.ready,
        zone: n.zone,
        labels: n.ssd ? { disk: 'ssd' } : {},
      }),
    );
  }
  for (const [i, p] of pods.entries()) {
    await store.create(
      makePod(`p${i}`, {
        ...(p.cpuMilli ? { cpu: `${p.cpuMilli}m` } : {}),
        ...(p.wantsSsd ? { nodeSelector: { disk: 'ssd' } } : {}),
        ...(p.owner ? { owner: { kind: 'ReplicaSet', name: p.owner, uid: p.owner } } : {}),
      }),
    );
  }
  await schedulePass(deps, { events: false });
  return { nodes: (await store.list<Node>('Node')).items, pods: (await store.list<Pod>('Pod')).items };
}

describe('scheduler properties', () => {
  it('no node is ever over allocatable and every placed pod satisfies its filters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(nodeArb, { minLength: 1, maxLength: 8 }),
        fc.array(podArb, { maxLength: 40 }),
        async (ns, ps) => {
          const { nodes, pods } = await run(ns, ps);
          for (const node of nodes) {
            const mine = pods.filter((p) => p.spec.nodeName === node.metadata.name);
            const cpu = mine.reduce((s, p) => s + cpuMillis(p.spec.containers[0]?.resources?.requests?.cpu ?? 0), 0);
            expect(cpu).toBeLessThanOrEqual(cpuMillis(node.status?.allocatable?.cpu ?? 0));
            expect(mine.length).toBeLessThanOrEqual(Number(node.status?.allocatable?.pods));
            if (mine.length) expect(node.status?.conditions?.[0]?.status).toBe('True');
            for (const p of mine) if (p.spec.nodeSelector) expect(node.metadata.labels?.disk).toBe('ssd');
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('spreads identical pods on identical nodes within one pod per node of even', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 60 }),
        async (nodeCount, podCount) => {
          const ns = Array.from({ length: nodeCount }, () => ({
            cpu: 64,
            pods: 110,
            ready: true,
            zone: 'a' as const,
            ssd: false,
          }));
          const ps = Array.from({ length: podCount }, () => ({
            cpuMilli: 100,
            wantsSsd: false,
            owner: 'rs-1' as const,
          }));
          const { pods } = await run(ns, ps);
          const counts = Array.from(
            { length: nodeCount },
            (_, i) => pods.filter((p) => p.spec.nodeName === `n${i}`).length,
          );
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
          expect(counts.reduce((a, b) => a + b, 0)).toBe(podCount);
        },
      ),
      { numRuns: 40 },
    );
  });
});
