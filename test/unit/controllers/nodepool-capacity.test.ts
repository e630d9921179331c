/**
 * The node pool controller asks its provider what a machine of the pool's type is before it makes
 * one, and records the answer in that machine's bootstrap token, so registration can refuse a
 * node claiming to be bigger than its machine. Unknown (no answer, a failing lookup) records
 * nothing and the pool still makes machines.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileNodePools } from '../../../functions/controllers/nodepool';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { TokenRecord } from '../../../functions/tokens';
import { FakeProvider } from '../../../providers/fake';

const GIB = 2 ** 30;

describe('node pool controller: the expected capacity of a machine', () => {
  let store: MemoryStore;
  let deps: Deps;
  let fake: FakeProvider;
  const pass = () =>
    reconcileNodePools(deps, { cluster: 'prod', apiUrl: 'https://ferry.example.com', providerFor: async () => fake });
  const bootstrapTokens = async () =>
    (await store.list<TokenRecord>('Token')).items.filter((t) => t.spec.role === 'bootstrap');

  beforeEach(async () => {
    fake = new FakeProvider();
    const now = Date.parse('2026-11-25T00:00:00Z');
    store = new MemoryStore(() => now);
    deps = { store, clock: () => now, log: silentLogger };
    await store.create({ apiVersion: 'ferry.dev/v1', kind: 'Cloud', metadata: { name: 'c' }, spec: { type: 'local' } });
    await store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'web' },
      spec: { cloud: 'c', instanceType: 'm5.large', zones: ['z-a', 'z-b'], desiredNodes: 2, maxUnavailable: 1 },
    });
  });

  it("records what the provider says the pool's type is in each machine's bootstrap token, asked before the create", async () => {
    fake.machineTypes.set('m5.large', { cpu: 2, memory: 8 * GIB });
    await pass();

    const tokens = await bootstrapTokens();
    expect(tokens).toHaveLength(2);
    for (const t of tokens) expect(t.spec.expectedCapacity).toEqual({ cpu: 2, memory: 8 * GIB });
    const order = fake.calls.map((c) => c.method).filter((m) => m !== 'listInstances');
    expect(order).toEqual(['machineCapacity', 'createInstance', 'machineCapacity', 'createInstance']);
    expect(fake.calls.find((c) => c.method === 'machineCapacity')?.arg).toMatchObject({ instanceType: 'm5.large' });
  });

  it('records nothing when the provider does not know the type, and still makes the machines', async () => {
    await pass();
    expect(fake.live()).toHaveLength(2);
    for (const t of await bootstrapTokens()) expect(t.spec.expectedCapacity).toBeUndefined();
  });

  it('records nothing when the lookup throws, and still makes the machines', async () => {
    fake.machineCapacityThrows = true;
    await pass();
    expect(fake.live()).toHaveLength(2);
    for (const t of await bootstrapTokens()) expect(t.spec.expectedCapacity).toBeUndefined();
  });
});
