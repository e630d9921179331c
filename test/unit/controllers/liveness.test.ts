/**
 * Failure detection on Lambda (issue 12): the controllers function, played as AWS plays it (the
 * one-minute schedule, and the lease stream's records in batches of up to 8 s as serverless.yml
 * configures), over a memory store with a fake clock. Agents renew their Leases every 40 s (every
 * other 20 s sync, functions/api/agent/modes.ts); one stops.
 */
import { describe, expect, it } from 'vitest';
import { POLLED_SYNC } from '../../../functions/api/agent/modes';
import { silentLogger } from '../../../functions/log';
import { createControllersHandler, leaseOfRecord, streamRecordTriggers } from '../../../functions/runtime/lambda';
import { MemoryStore } from '../../../functions/store/memory';
import type { StateStore } from '../../../functions/store/types';
import type { Lease, Node } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';

const BATCH_WINDOW_MS = 8_000;
const RENEW_EVERY_MS = 40_000;

function leaseOf(name: string, at: number): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: {
      holderIdentity: name,
      leaseDurationSeconds: POLLED_SYNC.leaseDurationSeconds,
      renewTime: new Date(at).toISOString(),
    },
  };
}

function leaseRecord(lease: Lease, eventName: 'INSERT' | 'MODIFY' | 'REMOVE' = 'MODIFY') {
  const image = { body: { S: JSON.stringify(lease) } };
  return {
    eventSource: 'aws:dynamodb',
    eventName,
    dynamodb: {
      Keys: { pk: { S: 'Lease#1' }, sk: { S: `kube-node-lease/${lease.metadata.name}` } },
      ...(eventName === 'REMOVE' ? { OldImage: image } : { NewImage: image }),
    },
  };
}

/** Counts the store's lists by kind. */
function counting(store: MemoryStore): { store: StateStore; lists: Map<string, number> } {
  const lists = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'list')
        return (kind: string, ...rest: unknown[]) => {
          lists.set(kind, (lists.get(kind) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).call(target, kind, ...rest);
        };
      return value.bind(target);
    },
  }) as StateStore;
  return { store: proxy, lists };
}

/**
 * Six nodes renewing at staggered phases; `dead` stops after its renewal at `diesAt`. Plays 3
 * minutes second by second and says when the dead node was seen Unknown and its pod was evicted,
 * whether a live node ever left Ready, and what the lease batches that ran no pass listed.
 */
async function play(diesAt: number) {
  const start = 1_700_000_000_000;
  const now = { ms: start };
  const raw = new MemoryStore(() => now.ms);
  const { store, lists } = counting(raw);
  const handler = createControllersHandler({ store, clock: () => now.ms, log: silentLogger });
  const names = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
  const dead = 'n5';
  const phase = (i: number) => i * 6_000;
  for (const n of names) await raw.create(makeNode(n));
  for (const [i, n] of names.entries()) await raw.create(leaseOf(n, start - RENEW_EVERY_MS + phase(i)));
  await raw.create(makePod('on-dead', { nodeName: dead }));
  await handler({ source: 'aws.events' }, {} as never);

  let batch: ReturnType<typeof leaseRecord>[] = [];
  let batchDue: number | undefined;
  let unknownAt: number | undefined;
  let evictedAt: number | undefined;
  let lastRenewal = start;
  let liveLeftReady = false;
  const listsInQuietBatches = new Map<string, number>();
  for (let t = 1000; t <= 180_000; t += 1000) {
    now.ms = start + t;
    for (const [i, n] of names.entries()) {
      if ((t - phase(i)) % RENEW_EVERY_MS !== 0) continue;
      if (n === dead && t > diesAt) continue;
      if (n === dead) lastRenewal = now.ms;
      const lease = leaseOf(n, now.ms);
      await raw.update(lease);
      batch.push(leaseRecord(lease));
      batchDue ??= now.ms + BATCH_WINDOW_MS;
    }
    if (batchDue !== undefined && now.ms >= batchDue) {
      const before = new Map(lists);
      const { ran } = (await handler({ Records: batch }, {} as never)) as { ran: boolean };
      if (!ran)
        for (const [k, v] of lists)
          if (v !== (before.get(k) ?? 0)) listsInQuietBatches.set(k, v - (before.get(k) ?? 0));
      batch = [];
      batchDue = undefined;
    }
    if (t % 60_000 === 0) await handler({ source: 'aws.events' }, {} as never);
    for (const n of (await raw.list<Node>('Node')).items) {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      if (n.metadata.name === dead && ready === 'Unknown') unknownAt ??= now.ms;
      if (n.metadata.name !== dead && ready !== 'True') liveLeftReady = true;
    }
    if (!(await raw.get({ kind: 'Pod', namespace: 'default', name: 'on-dead' }))) evictedAt ??= now.ms;
  }
  return { lastRenewal, unknownAt, evictedAt, liveLeftReady, listsInQuietBatches };
}

describe('failure detection on Lambda', () => {
  it('finds a node that stops renewing NotReady within 60 s of its last renewal, and evicts its pods soon after', async () => {
    const r = await play(30_000);

    expect(r.unknownAt).toBeDefined();
    expect((r.unknownAt as number) - r.lastRenewal).toBeGreaterThanOrEqual(POLLED_SYNC.leaseDurationSeconds * 1000);
    expect((r.unknownAt as number) - r.lastRenewal).toBeLessThanOrEqual(60_000);
    expect((r.evictedAt as number) - r.lastRenewal).toBeLessThanOrEqual(75_000);
    expect(r.liveLeftReady).toBe(false);
  });

  it('judges liveness in a lease batch from the renewals it carries: a batch that runs no pass lists nothing', async () => {
    const r = await play(100_000);

    expect(r.unknownAt).toBeDefined();
    expect([...r.listsInQuietBatches]).toEqual([]);
  });

  it('never marks a node NotReady while it renews every other 20 s sync', async () => {
    const r = await play(Number.POSITIVE_INFINITY);

    expect(r.unknownAt).toBeUndefined();
    expect(r.liveLeftReady).toBe(false);
  });
});

describe('the lease stream records', () => {
  it('are read as the Lease they wrote, a removal by its old image, and never trigger a full pass', () => {
    const lease = leaseOf('n1', 1_700_000_000_000);

    expect(leaseOfRecord(leaseRecord(lease))).toEqual({ lease, deleted: false });
    expect(leaseOfRecord(leaseRecord(lease, 'REMOVE'))).toEqual({ lease, deleted: true });
    expect(streamRecordTriggers(leaseRecord(lease))).toBe(false);
  });

  it('ignore a write without its image, and a record of another kind', () => {
    const bare = {
      eventSource: 'aws:dynamodb',
      eventName: 'MODIFY',
      dynamodb: { Keys: { pk: { S: 'Lease#0' }, sk: { S: 'kube-node-lease/n1' } } },
    };
    const pod = { ...bare, dynamodb: { Keys: { pk: { S: 'Pod#0' }, sk: { S: 'default/p' } } } };

    expect(leaseOfRecord(bare)).toBeUndefined();
    expect(leaseOfRecord(pod)).toBeUndefined();
    expect(streamRecordTriggers(pod)).toBe(true);
  });
});
