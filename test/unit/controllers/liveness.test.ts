/**
 * Failure detection on Lambda (issue 12): the controllers function, played as AWS plays it (the
 * one-minute schedule, and the lease stream's records in batches of up to 6 s as serverless.yml
 * configures, the function's own lease tick among them), over a memory store with a fake clock.
 * Agents renew their Leases every 40 s (every other 20 s sync, at most 42 s apart:
 * functions/api/agent/modes.ts); one stops.
 */
import { describe, expect, it } from 'vitest';
import { POLLED_SYNC } from '../../../functions/api/agent/modes';
import { silentLogger } from '../../../functions/log';
import { createControllersHandler, leaseOfRecord, streamRecordTriggers } from '../../../functions/runtime/lambda';
import { MemoryStore } from '../../../functions/store/memory';
import type { StateStore } from '../../../functions/store/types';
import type { Lease, Node } from '../../../schemas';
import { makeNode, makePod } from '../../helpers/objects';

const BATCH_WINDOW_MS = 6_000;
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

interface Play {
  /** Nodes in the cluster (the last one dies). */
  nodes: number;
  /** The dead node renews no more after this (ms into the play). */
  diesAt: number;
  /** Gap between one node's renewals (40 s; at most 42 s: api/agent/modes.ts). */
  renewEveryMs?: number;
  /** How late a renewal's record reaches the stream after its write. */
  streamDelayMs?: number;
}

/**
 * `nodes` nodes renewing at staggered phases; the last stops after `diesAt`. Every Lease write (the
 * agents' renewals and the function's own lease tick) reaches the lease mapping, which invokes the
 * handler with what it gathered `BATCH_WINDOW_MS` after the first record; the schedule runs every
 * minute. Plays 3 minutes (the fake clock also moves when the check waits) and says when the dead
 * node was seen Unknown and its pod evicted, whether a live node ever left Ready, what the lease
 * batches that ran no pass listed, and how long the checks waited in all.
 */
async function play({ nodes, diesAt, renewEveryMs = RENEW_EVERY_MS, streamDelayMs = 0 }: Play) {
  const start = 1_700_000_000_000;
  const now = { ms: start };
  const raw = new MemoryStore(() => now.ms);
  const { store, lists } = counting(raw);
  const names = Array.from({ length: nodes }, (_, i) => `n${i}`);
  const dead = names[names.length - 1] as string;
  const phase = (i: number) => (i * renewEveryMs) / nodes;
  const nextRenewal = new Map(names.map((n, i) => [n, start + phase(i)]));
  let lastRenewal: number | undefined;
  /** The agents: each renews when due (also while the function waits: they do not wait for it). */
  const renew = async () => {
    for (const n of names) {
      if (now.ms < (nextRenewal.get(n) as number)) continue;
      nextRenewal.set(n, now.ms + renewEveryMs);
      if (n === dead && now.ms - start > diesAt) continue;
      if (n === dead) lastRenewal = now.ms;
      await raw.update(leaseOf(n, now.ms));
    }
  };
  let waitedMs = 0;
  const handler = createControllersHandler(
    { store, clock: () => now.ms, log: silentLogger },
    {
      sleep: async (ms) => {
        waitedMs += ms;
        for (const end = now.ms + ms; now.ms < end; ) {
          now.ms = Math.min(end, now.ms + 100);
          await renew();
        }
      },
    },
  );
  for (const n of names) await raw.create(makeNode(n));
  for (const [i, n] of names.entries()) await raw.create(leaseOf(n, start - renewEveryMs + phase(i)));
  await raw.create(makePod('on-dead', { nodeName: dead }));

  // The lease stream: every Lease write, as its record, `streamDelayMs` after it.
  const inFlight: { at: number; record: ReturnType<typeof leaseRecord> }[] = [];
  raw.watch((ev) => {
    if (ev.object.kind !== 'Lease') return;
    inFlight.push({ at: now.ms + streamDelayMs, record: leaseRecord(ev.object as Lease) });
  });
  await handler({ source: 'aws.events' }, {} as never);

  let batch: ReturnType<typeof leaseRecord>[] = [];
  let batchDue: number | undefined;
  let unknownAt: number | undefined;
  let evictedAt: number | undefined;
  let liveLeftReady = false;
  let nextSchedule = start + 60_000;
  const listsInQuietBatches = new Map<string, number>();
  while (now.ms < start + 180_000) {
    now.ms += 100;
    await renew();
    while (inFlight.length > 0 && (inFlight[0] as { at: number }).at <= now.ms) {
      batch.push((inFlight.shift() as { record: ReturnType<typeof leaseRecord> }).record);
      batchDue ??= now.ms + BATCH_WINDOW_MS;
    }
    if (batchDue !== undefined && now.ms >= batchDue) {
      const before = new Map(lists);
      const records = batch;
      batch = [];
      batchDue = undefined;
      const { ran } = (await handler({ Records: records }, {} as never)) as { ran: boolean };
      if (!ran)
        for (const [k, v] of lists)
          if (v !== (before.get(k) ?? 0)) listsInQuietBatches.set(k, v - (before.get(k) ?? 0));
    }
    if (now.ms >= nextSchedule) {
      nextSchedule += 60_000;
      await handler({ source: 'aws.events' }, {} as never);
    }
    for (const n of (await raw.list<Node>('Node')).items) {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      if (n.metadata.name === dead && ready === 'Unknown') unknownAt ??= now.ms;
      if (n.metadata.name !== dead && ready !== 'True') liveLeftReady = true;
    }
    if (!(await raw.get({ kind: 'Pod', namespace: 'default', name: 'on-dead' }))) evictedAt ??= now.ms;
  }
  // The dead node renewed in the play (before that, the new leader's own grace would count).
  expect(lastRenewal).toBeDefined();
  return { lastRenewal: lastRenewal as number, unknownAt, evictedAt, liveLeftReady, listsInQuietBatches, waitedMs };
}

const GRACE_MS = POLLED_SYNC.leaseDurationSeconds * 1000;
/** The bound README "On AWS Lambda" states: the grace, plus a second for the check's own work. */
const BOUND_MS = GRACE_MS + 1_000;

describe('failure detection on Lambda', () => {
  it('finds a node that stops renewing NotReady at its 48 s grace, within 50 s of its last renewal, and evicts its pods soon after', async () => {
    const r = await play({ nodes: 6, diesAt: 40_000 });

    expect(r.unknownAt).toBeDefined();
    expect((r.unknownAt as number) - r.lastRenewal).toBeGreaterThan(GRACE_MS);
    expect((r.unknownAt as number) - r.lastRenewal).toBeLessThanOrEqual(BOUND_MS);
    expect((r.evictedAt as number) - r.lastRenewal).toBeLessThanOrEqual(BOUND_MS + 15_000);
    expect(r.liveLeftReady).toBe(false);
  });

  it('keeps that bound in a one-node cluster, where no other node renews (the lease tick brings the checks)', async () => {
    const r = await play({ nodes: 1, diesAt: 30_000 });

    expect((r.unknownAt as number) - r.lastRenewal).toBeGreaterThan(GRACE_MS);
    expect((r.unknownAt as number) - r.lastRenewal).toBeLessThanOrEqual(BOUND_MS);
  });

  it('keeps it when records reach the stream late and renewals come 42 s apart, the longest gap', async () => {
    const r = await play({ nodes: 3, diesAt: 50_000, renewEveryMs: 42_000, streamDelayMs: 1_500 });

    expect((r.unknownAt as number) - r.lastRenewal).toBeLessThanOrEqual(BOUND_MS);
    expect(r.liveLeftReady).toBe(false);
  });

  it('leaves a node that renews late but within its grace (44 s apart) Ready, waiting no longer than it is late', async () => {
    const r = await play({ nodes: 6, diesAt: Number.POSITIVE_INFINITY, renewEveryMs: 44_000 });
    const lateRenewals = (180_000 / 44_000) * 6;

    expect(r.unknownAt).toBeUndefined();
    expect(r.liveLeftReady).toBe(false);
    expect(r.waitedMs / lateRenewals).toBeLessThanOrEqual(3_000);
  });

  it('judges liveness in a lease batch from the renewals it carries: a batch that runs no pass lists nothing', async () => {
    const r = await play({ nodes: 6, diesAt: 100_000 });

    expect(r.unknownAt).toBeDefined();
    expect([...r.listsInQuietBatches]).toEqual([]);
  });

  it('never marks a node NotReady, nor waits, while every node renews at most 42 s apart, even with its records 1.5 s late', async () => {
    const r = await play({
      nodes: 6,
      diesAt: Number.POSITIVE_INFINITY,
      renewEveryMs: 42_000,
      streamDelayMs: 1_500,
    });

    expect(r.unknownAt).toBeUndefined();
    expect(r.liveLeftReady).toBe(false);
    expect(r.waitedMs).toBe(0);
  });
});

describe('the lease tick', () => {
  const tick = { kind: 'Lease', namespace: 'kube-system', name: 'ferry-controllers-tick' };

  it('is not written by a cluster without nodes, so an idle cluster pays for no check but the schedule', async () => {
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    const handler = createControllersHandler({ store, clock: () => now.ms, log: silentLogger });

    await handler({ source: 'aws.events' }, {} as never);
    now.ms += 60_000;
    await handler({ source: 'aws.events' }, {} as never);

    expect(await store.get(tick)).toBeUndefined();
  });

  it('is renewed in one write per check while a node is watched, and stops once every node is NotReady', async () => {
    const now = { ms: 1_700_000_000_000 };
    const raw = new MemoryStore(() => now.ms);
    const writes: string[] = [];
    const store = new Proxy(raw, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const ref = args[0] as { kind?: string; metadata?: { name?: string }; name?: string };
          if (
            ['create', 'update', 'renewLeaseObject'].includes(String(prop)) &&
            (ref.metadata?.name ?? ref.name) === tick.name
          )
            writes.push(String(prop));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as StateStore;
    const handler = createControllersHandler({ store, clock: () => now.ms, log: silentLogger });
    await raw.create(makeNode('n1'));
    await raw.create(leaseOf('n1', now.ms));
    await handler({ source: 'aws.events' }, {} as never);
    for (let i = 0; i < 3; i++) {
      now.ms += 6_000;
      await handler({ Records: [leaseRecord(leaseOf('n1', now.ms - 6_000))] }, {} as never);
    }
    const watched = [...writes];
    now.ms += 120_000; // n1 stopped renewing: NotReady at the next check
    await handler({ source: 'aws.events' }, {} as never);
    await handler({ source: 'aws.events' }, {} as never);
    writes.length = 0;
    await handler({ source: 'aws.events' }, {} as never);

    // The first one creates it (an update that finds none, then a create); then one write each.
    expect(watched).toEqual(['update', 'create', 'renewLeaseObject', 'renewLeaseObject', 'renewLeaseObject']);
    expect((await raw.get<Node>({ kind: 'Node', name: 'n1' }))?.status?.conditions?.[0]?.status).toBe('Unknown');
    expect(writes).toEqual([]);
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
