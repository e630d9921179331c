import { describe, expect, it } from 'vitest';
import type { Pod } from '../../../schemas';
import { deployment, Simulation } from './harness';

/** Nodes (by name) that still have pods of the simulation's workload bound to them. */
async function nodesWithPods(sim: Simulation, names: string[]): Promise<Set<string>> {
  const pods = await sim.pods();
  return new Set(names.filter((n) => pods.some((p: Pod) => p.spec.nodeName === n)));
}

async function cluster(zones: Record<string, number>, replicas: number, options = {}): Promise<Simulation> {
  const sim = new Simulation({ startDelayMs: 500, stopDelayMs: 500, ...options });
  for (const [zone, count] of Object.entries(zones)) {
    for (let i = 1; i <= count; i++) await sim.addNode(`${zone}-${i}`, { zone, cpu: '64', pods: 200 });
  }
  await sim.apply(deployment('web', replicas));
  await sim.until(async () => (await sim.readyPods('web')).length === replicas);
  return sim;
}

function names(zone: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${zone}-${i + 1}`);
}

describe('evictions that cannot storm', () => {
  it('evicts dead nodes one at a time at 0.1 node/s in a healthy zone', async () => {
    const sim = await cluster({ a: 10 }, 20);
    const dead = ['a-1', 'a-2'];
    for (const n of dead) sim.killNode(n);

    // Grace (10 s) + eviction delay (5 s): the first dead node is evicted, the second waits its token.
    await sim.advance(17_000, 500);
    expect((await nodesWithPods(sim, dead)).size).toBe(1);
    await sim.advance(10_000, 500);
    expect((await nodesWithPods(sim, dead)).size).toBe(0);
    expect(await sim.readyPods('web')).toHaveLength(20);
  });

  it('a small zone with more than 55% of its nodes NotReady stops evicting, while another zone still evicts', async () => {
    const sim = await cluster({ a: 5, b: 5 }, 20);
    const zoneA = ['a-1', 'a-2', 'a-3'];
    for (const n of [...zoneA, 'b-1']) sim.killNode(n);

    await sim.advance(120_000, 1_000);
    // Zone a: 3 of 5 NotReady is a partial disruption, and 5 nodes is a small zone: no evictions.
    expect(await nodesWithPods(sim, zoneA)).toEqual(new Set(zoneA));
    // Zone b: 1 of 5 is normal: its dead node was evicted and its pods run elsewhere.
    expect((await nodesWithPods(sim, ['b-1'])).size).toBe(0);
    for (const n of zoneA) expect((await sim.node(n)).status?.conditions?.[0]?.status).toBe('Unknown');
  });

  it('a large zone in partial disruption evicts at the secondary rate of 0.01 node/s', async () => {
    const sim = await cluster({ a: 60, b: 2 }, 62);
    const dead = names('a', 40);
    for (const n of dead) sim.killNode(n);

    await sim.advance(60_000, 2_000);
    // 40 of 60 NotReady: partial disruption in a zone above 50 nodes: one node per 100 s.
    expect(dead.length - (await nodesWithPods(sim, dead)).size).toBe(1);
    await sim.advance(100_000, 2_000);
    expect(dead.length - (await nodesWithPods(sim, dead)).size).toBe(2);
  });

  it('a zone that is entirely down is evicted at the normal rate while other zones are healthy', async () => {
    const sim = await cluster({ a: 3, b: 3 }, 12);
    const zoneA = names('a', 3);
    for (const n of zoneA) sim.killNode(n);

    await sim.advance(16_000, 500);
    expect((await nodesWithPods(sim, zoneA)).size).toBe(2);
    await sim.advance(25_000, 500);
    expect((await nodesWithPods(sim, zoneA)).size).toBe(0);
    expect(await sim.readyPods('web')).toHaveLength(12);
  });

  it('a control plane that stalls for 30 s marks no node NotReady and evicts nothing when it catches up', async () => {
    const sim = await cluster({ a: 2, b: 2 }, 8);
    const before = new Set((await sim.pods()).map((p) => p.metadata.uid));

    // Nothing ran for 30 s, three times the grace period; the controllers look before the agents' backlog lands.
    await sim.stall(30_000);
    for (const n of ['a-1', 'a-2', 'b-1', 'b-2']) {
      expect((await sim.node(n)).status?.conditions?.[0]?.status).toBe('True');
    }
    await sim.advance(30_000, 500);

    const after = await sim.pods();
    expect(after.map((p) => p.metadata.uid).every((uid) => before.has(uid))).toBe(true);
    expect(await sim.readyPods('web')).toHaveLength(8);
  });

  it('after a stall, a node that really died is still found and replaced once the agents had time to catch up', async () => {
    const sim = await cluster({ a: 2, b: 2 }, 8);
    sim.killNode('a-1');

    await sim.stall(30_000);
    expect((await sim.node('a-1')).status?.conditions?.[0]?.status).toBe('True');
    // The grace is extended by the 30 s lag, for one grace period plus the lag.
    await sim.advance(60_000, 500);

    expect((await sim.node('a-1')).status?.conditions?.[0]?.status).toBe('Unknown');
    expect((await nodesWithPods(sim, ['a-1'])).size).toBe(0);
    expect(await sim.readyPods('web')).toHaveLength(8);
  });
});
