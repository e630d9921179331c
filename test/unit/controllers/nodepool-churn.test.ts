/**
 * The node pool controller with two Clouds of one type served by one provider (as the local
 * provider serves every local Cloud, or one AWS account two regions' Clouds): the loop of issue 17,
 * and the churn guard that bounds how many machines any provider, honest or not, can make it create.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileNodePools } from '../../../functions/controllers/nodepool';
import type { Deps } from '../../../functions/deps';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';
import { FakeProvider } from '../../../providers/fake';
import type { Cloud, NodePool } from '../../../schemas';
import { applyDefaults } from '../../../schemas/defaults';
import { validate } from '../../../schemas/validate';
import { makeNode } from '../../helpers/objects';

describe('node pool controller with two Clouds of one type', () => {
  let store: MemoryStore;
  let deps: Deps;
  let now: number;
  let fake: FakeProvider;
  const pass = () =>
    reconcileNodePools(deps, { cluster: 'prod', apiUrl: 'https://ferry.example.com', providerFor: async () => fake });
  const pool = async () => (await store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool;
  const uidOf = async (name: string) =>
    ((await store.get<Cloud>({ kind: 'Cloud', name })) as Cloud).metadata.uid as string;
  const events = async () => (await store.list<Obj & { reason: string; type: string }>('Event')).items;

  /** Every live machine without a Node registers one, labelled as its user-data says. */
  async function registerAll(): Promise<void> {
    for (const m of fake.live()) {
      if (await store.get({ kind: 'Node', name: m.name })) continue;
      await store.create(makeNode(m.name, { labels: m.spec.bootstrap.labels }));
    }
  }

  async function movePool(cloud: string): Promise<void> {
    const p = await pool();
    await store.update({ ...p, spec: { ...p.spec, cloud, zones: [`${cloud}-a`] } });
  }

  beforeEach(async () => {
    fake = new FakeProvider();
    now = Date.parse('2026-11-25T00:00:00Z');
    store = new MemoryStore(() => now);
    deps = { store, clock: () => now, log: silentLogger };
    for (const name of ['local-1', 'local-2'])
      await store.create({ apiVersion: 'ferry.dev/v1', kind: 'Cloud', metadata: { name }, spec: { type: 'local' } });
    await store.create({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'web' },
      spec: { cloud: 'local-1', instanceType: 'local', zones: ['local-1-a'], desiredNodes: 2, maxUnavailable: 1 },
    });
  });

  it('moves a pool between two Clouds of one provider and converges with desired + surge machines at most', async () => {
    await pass();
    await registerAll();
    await pass();
    expect(fake.live()).toHaveLength(2);

    await movePool('local-2');
    let peak = 0;
    for (let round = 0; round < 20; round++) {
      await pass();
      await registerAll();
      peak = Math.max(peak, fake.live().length);
      now += 5_000;
    }

    const uid2 = await uidOf('local-2');
    expect(fake.live().map((m) => m.cloudUid)).toEqual([uid2, uid2]);
    expect(fake.made).toBe(4); // two in each Cloud: nothing made and retired again
    expect(peak).toBeLessThanOrEqual(3); // desiredNodes + maxSurge (default 1)
    const status = (await pool()).status;
    expect(status?.conditions?.some((c) => c.type === 'Migrating')).toBe(false);
    expect(status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('never deletes a machine of another Cloud it does not know: each Cloud lists only its own', async () => {
    const stranger = await fake.createInstance({
      name: 'stranger',
      cluster: 'prod',
      cloud: { name: 'gone', uid: 'uid-of-a-deleted-cloud' },
      pool: 'web',
      instanceType: 'local',
      zone: 'local-1-a',
      tags: {},
      bootstrap: { apiUrl: 'x', token: 'y', labels: {} },
    });
    for (let round = 0; round < 5; round++) await pass();

    expect(fake.calls.filter((c) => c.method === 'deleteInstance').map((c) => c.arg)).not.toContain(stranger.id);
    expect(fake.live().filter((m) => m.name !== 'stranger')).toHaveLength(2);
  });

  it('stops at once, Degraded, when a provider lists one machine under two Clouds', async () => {
    await pass();
    await registerAll();
    await pass();
    fake.listsEveryCloud = true;
    await movePool('local-2');
    for (let round = 0; round < 20; round++) {
      await pass();
      await registerAll();
      now += 5_000;
    }

    expect(fake.made).toBe(2); // nothing created, nothing retired
    expect(fake.calls.some((c) => c.method === 'deleteInstance')).toBe(false);
    expect((await pool()).status?.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'AmbiguousListing',
    });
  });

  it('bounds the machines a lying provider makes it create, then stops with a Degraded condition and a Warning', async () => {
    await pass();
    await registerAll();
    await pass();
    // The old Cloud's listing shows the new Cloud's machines as its own (the loop of issue 17).
    fake.listsAs.set(await uidOf('local-2'), await uidOf('local-1'));
    await movePool('local-2');

    for (let round = 0; round < 200; round++) {
      await pass();
      await registerAll();
      now += 5_000;
    }

    const made = fake.made;
    expect(made).toBeLessThanOrEqual(2 + 3 * 3); // the first two, then at most three turns of desired + surge
    const p = await pool();
    expect(p.status?.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'EarlyRetirement',
    });
    expect((await events()).some((e) => e.type === 'Warning' && e.reason === 'Degraded')).toBe(true);

    // Stopped: more time makes no more machines.
    for (let round = 0; round < 50; round++) {
      await pass();
      now += 60_000;
    }
    expect(fake.made).toBe(made);
  });

  it('backs off and then degrades when machines never register, deleting each after its deadline', async () => {
    const made: number[] = [];
    for (let minute = 0; minute < 180; minute++) {
      await pass();
      made.push(fake.made);
      now += 60_000;
    }

    const p = await pool();
    const degraded = p.status?.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'RegistrationTimeout' });
    expect(fake.made).toBe(2 * 3); // three turns of the desired count, then nothing
    expect(fake.live()).toHaveLength(0); // the unregistered machines were deleted
    expect(made.at(-1)).toBe(made.at(-60)); // nothing in the last hour
    // Each turn waited longer than the one before (exponential back-off).
    const turns = made.flatMap((n, i) => (i > 0 && n > (made[i - 1] as number) ? [i] : []));
    const gaps = turns.slice(1).map((t, i) => t - (turns[i] as number));
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1] as number);
  });

  it('backs off when creates fail, and a spec change or the clear annotation lets it try again', async () => {
    for (let i = 0; i < 20; i++) fake.nextCreateErrors.push(new Error('fake: the API is down'));
    for (let round = 0; round < 120; round++) {
      await pass();
      now += 10_000;
    }
    const tries = fake.calls.filter((c) => c.method === 'createInstance').length;
    expect(tries).toBeLessThanOrEqual(6);
    expect((await pool()).status?.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'CreateFailed',
    });

    fake.nextCreateErrors.length = 0;
    const p = await pool();
    await store.update({
      ...p,
      metadata: { ...p.metadata, annotations: { ...p.metadata.annotations, 'ferry.dev/clear-degraded': 'true' } },
    });
    await pass();
    expect(fake.live()).toHaveLength(2);
    const cleared = await pool();
    expect(cleared.metadata.annotations?.['ferry.dev/clear-degraded']).toBeUndefined();
    expect(cleared.status?.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True')).toBe(false);
  });

  it('two passes racing on one pool create the desired count once, not twice', async () => {
    await Promise.all([pass(), pass()]);
    await Promise.all([pass(), pass()]);
    expect(fake.live()).toHaveLength(2);
  });
});

describe('NodePool spec.maxSurge', () => {
  const poolWith = (maxSurge: unknown) => ({
    apiVersion: 'ferry.dev/v1',
    kind: 'NodePool',
    metadata: { name: 'web' },
    spec: { cloud: 'local-1', instanceType: 'local', maxSurge },
  });

  it('defaults to 1', () => {
    expect((applyDefaults(poolWith(undefined)) as NodePool).spec.maxSurge).toBe(1);
  });

  it('refuses a negative, fractional or non-numeric surge, naming the field', () => {
    for (const bad of [-1, 1.5, '2', 101]) {
      expect(validate(poolWith(bad)).map((c) => c.field)).toContain('spec.maxSurge');
    }
    expect(validate(poolWith(0))).toEqual([]);
  });
});
