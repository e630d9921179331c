/**
 * The overdue check (functions/controllers/overdue.ts) on its own: what it reads and how long it
 * waits, with a fake clock, for the table of renewals the Lambda controllers learn late.
 */
import { describe, expect, it } from 'vitest';
import { HeartbeatTable } from '../../../functions/controllers/heartbeats';
import { refreshOverdue } from '../../../functions/controllers/overdue';
import { MemoryStore } from '../../../functions/store/memory';
import type { StateStore } from '../../../functions/store/types';
import type { Lease } from '../../../schemas';

const START = 1_700_000_000_000;
const OPTIONS = { overdueAfterMs: 42_000, graceMs: 48_000 };

function leaseOf(name: string, at: number): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, renewTime: new Date(at).toISOString() },
  };
}

/** `count` nodes the table last saw renewed at START, and a store counting gets and lists. */
async function setUp(count: number) {
  const now = { ms: START };
  const raw = new MemoryStore(() => now.ms);
  const table = new HeartbeatTable();
  const names = Array.from({ length: count }, (_, i) => `n${i}`);
  for (const n of names) {
    await raw.create(leaseOf(n, START));
    table.note(leaseOf(n, START));
  }
  table.seed([], START - 1);
  const reads = { gets: 0, lists: 0 };
  const store = new Proxy(raw, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'get') reads.gets++;
      if (prop === 'list') reads.lists++;
      return value.bind(target);
    },
  }) as StateStore;
  let waited = 0;
  const sleep = async (ms: number) => {
    waited += ms;
    now.ms += ms;
  };
  return { now, raw, table, store, reads, sleep, names, waited: () => waited };
}

describe('the overdue check', () => {
  it('reads nothing while every renewal seen is within the longest gap', async () => {
    const s = await setUp(3);
    s.now.ms = START + 41_000;

    await refreshOverdue(s.store, s.table, new Set(), () => s.now.ms, { ...OPTIONS, sleep: s.sleep });

    expect(s.reads).toEqual({ gets: 0, lists: 0 });
  });

  it('takes a renewal still on its way from the store, with one get, and does not wait', async () => {
    const s = await setUp(1);
    await s.raw.update(leaseOf('n0', START + 40_000));
    s.now.ms = START + 44_000;

    await refreshOverdue(s.store, s.table, new Set(), () => s.now.ms, { ...OPTIONS, sleep: s.sleep });

    expect(s.table.renewals.get('n0')).toBe(START + 40_000);
    expect(s.reads).toEqual({ gets: 1, lists: 0 });
    expect(s.waited()).toBe(0);
  });

  it('waits for a node that missed its renewal until its grace runs out, and no longer', async () => {
    const s = await setUp(1);
    s.now.ms = START + 43_000;

    await refreshOverdue(s.store, s.table, new Set(), () => s.now.ms, { ...OPTIONS, sleep: s.sleep });

    expect(s.now.ms).toBeGreaterThan(START + OPTIONS.graceMs);
    expect(s.now.ms).toBeLessThanOrEqual(START + OPTIONS.graceMs + 1_000);
    expect(s.table.renewals.get('n0')).toBe(START);
  });

  it('leaves NotReady nodes to the stream: it reads no Lease of theirs', async () => {
    const s = await setUp(2);
    s.now.ms = START + 60_000;

    await refreshOverdue(s.store, s.table, new Set(['n0', 'n1']), () => s.now.ms, { ...OPTIONS, sleep: s.sleep });

    expect(s.reads).toEqual({ gets: 0, lists: 0 });
  });

  it('lists the Leases once, rather than a get each, when many are overdue at once (a busy function)', async () => {
    const s = await setUp(20);
    for (const n of s.names) await s.raw.update(leaseOf(n, START + 40_000));
    s.now.ms = START + 50_000;

    await refreshOverdue(s.store, s.table, new Set(), () => s.now.ms, { ...OPTIONS, sleep: s.sleep });

    expect(s.reads).toEqual({ gets: 0, lists: 1 });
    expect([...s.table.renewals.values()].every((at) => at === START + 40_000)).toBe(true);
  });

  it('forgets a node whose Lease is gone', async () => {
    const s = await setUp(1);
    await s.raw.delete({ kind: 'Lease', namespace: 'kube-node-lease', name: 'n0' });
    s.now.ms = START + 44_000;

    await refreshOverdue(s.store, s.table, new Set(), () => s.now.ms, { ...OPTIONS, sleep: s.sleep });

    expect(s.table.renewals.has('n0')).toBe(false);
  });
});
