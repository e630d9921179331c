/**
 * The loop that makes billed machines is bounded: a controller pass creates at most
 * MAX_NEW_NODES_PER_PASS machines over every pool together, autoscaled or not, and the passes
 * after make the rest.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_NEW_NODES_PER_PASS } from '../../../functions/controllers/autoscaler/settings';
import { reconcileNodePools } from '../../../functions/controllers/nodepool';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import { FakeProvider } from '../../../providers/fake';

describe('node pool controller: machines created per pass', () => {
  let store: MemoryStore;
  let deps: Deps;
  let fake: FakeProvider;
  const options = { cluster: 'prod', apiUrl: 'https://ferry.example.com', providerFor: async () => fake };
  const createPool = (name: string, desiredNodes: number, maxSurge = 1) =>
    store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name },
      spec: { cloud: 'c', instanceType: 'm5.large', zones: ['z-a', 'z-b'], desiredNodes, maxSurge, maxUnavailable: 1 },
    });
  const creates = () => fake.calls.filter((c) => c.method === 'createInstance').length;

  beforeEach(async () => {
    fake = new FakeProvider();
    const now = Date.parse('2026-11-25T00:00:00Z');
    store = new MemoryStore(() => now);
    deps = { store, clock: () => now, log: silentLogger };
    await store.create({ apiVersion: 'ferry.dev/v1', kind: 'Cloud', metadata: { name: 'c' }, spec: { type: 'local' } });
  });

  it('makes a pool without autoscaling and a large desiredNodes ten machines a pass, and the rest in the passes after', async () => {
    expect(MAX_NEW_NODES_PER_PASS).toBe(10);
    await createPool('big', 25);

    await reconcileNodePools(deps, options);
    expect(creates()).toBe(10);
    await reconcileNodePools(deps, options);
    expect(creates()).toBe(20);
    await reconcileNodePools(deps, options);
    await reconcileNodePools(deps, options);
    expect(creates()).toBe(25); // never more than desired, however many passes
    expect(fake.live()).toHaveLength(25);
  });

  it('shares the bound between pools: two pools of eight get ten machines in the first pass, not sixteen', async () => {
    await createPool('a', 8);
    await createPool('b', 8);

    await reconcileNodePools(deps, options);
    expect(creates()).toBe(10);
    await reconcileNodePools(deps, options);
    expect(fake.live()).toHaveLength(16);
  });

  it("honours the operator's bound (NodePoolOptions.autoscaler.maxNewNodesPerPass) for every pool", async () => {
    await createPool('big', 25);
    await reconcileNodePools(deps, { ...options, autoscaler: { maxNewNodesPerPass: 3 } });
    expect(creates()).toBe(3);
  });

  it('keeps the surge bound under the per-pass bound: a large maxSurge does not lift it', async () => {
    await createPool('big', 1000, 100);
    await reconcileNodePools(deps, options);
    expect(creates()).toBe(10);
  });
});
