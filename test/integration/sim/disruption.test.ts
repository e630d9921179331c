/**
 * PodDisruptionBudgets in simulation: a node emptied by repeated evictions (as a drain does) never
 * takes a Deployment below what its budget keeps, and finishes once replacements are Ready.
 */
import { describe, expect, it } from 'vitest';
import { isTooManyRequests } from '../../../functions/errors';
import { evictPod } from '../../../functions/eviction';
import type { Obj } from '../../../functions/store/types';
import type { Node } from '../../../schemas';
import { deployment, Simulation } from './harness';

describe('PodDisruptionBudgets against evictions', () => {
  it('empties a node by evictions without ever going below the budget, then finishes', async () => {
    // prepare: 6 replicas over 3 nodes, at most one unavailable
    const sim = new Simulation({ startDelayMs: 2_000, stopDelayMs: 1_000 });
    for (const n of ['a', 'b', 'c']) await sim.addNode(n, { cpu: '8', pods: 50 });
    await sim.apply(deployment('web', 6));
    await sim.until(async () => (await sim.readyPods('web')).length === 6);
    await sim.store.create({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web', namespace: 'default' },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } },
    } as Obj);
    const node = await sim.node('a');
    await sim.store.update({ ...node, spec: { ...node.spec, unschedulable: true } } as Node);
    await sim.advance(1_000);
    let fewest = 6;
    let refused = 0;

    // act: every step, try to evict what is left on node a
    await sim.until(
      async () => {
        for (const p of (await sim.pods()).filter((x) => x.spec.nodeName === 'a' && !x.metadata.deletionTimestamp)) {
          try {
            await evictPod(sim.deps, { namespace: 'default', name: p.metadata.name });
          } catch (err) {
            if (!isTooManyRequests(err)) throw err;
            refused++;
          }
        }
        fewest = Math.min(fewest, (await sim.readyPods('web')).length);
        return (await sim.pods()).every((p) => p.spec.nodeName !== 'a');
      },
      120_000,
      250,
    );
    await sim.until(async () => (await sim.readyPods('web')).length === 6);

    // assess
    expect(fewest).toBe(5);
    expect(refused).toBeGreaterThan(0);
    expect((await sim.readyPods('web')).every((p) => p.spec.nodeName !== 'a')).toBe(true);
  });
});
