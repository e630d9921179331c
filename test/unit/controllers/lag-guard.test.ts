/**
 * The lag guard on the sync path (issue 12): a control plane whose agents' syncs arrive late
 * because it is itself behind extends node-lifecycle's grace by that lateness instead of marking
 * the nodes NotReady; a node that really stopped is still found once the guard's extension is over.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_SYNC_LAG_MS,
  syncAnswered,
  syncEnded,
  syncHeartbeat,
  syncLagMs,
  syncStarted,
} from '../../../functions/api/agent/sync-lag';
import { createBudget } from '../../../functions/controllers/controller';
import { createControllerManager } from '../../../functions/controllers/manager';
import { reconcileNodes } from '../../../functions/controllers/node-lifecycle';
import { ClusterSnapshot } from '../../../functions/controllers/snapshot';
import { silentLogger } from '../../../functions/log';
import { MemoryStore } from '../../../functions/store/memory';
import type { Lease, Node } from '../../../schemas';
import { makeNode } from '../../helpers/objects';

const readyOf = async (store: MemoryStore, name: string) =>
  (await store.get<Node>({ kind: 'Node', name }))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

async function renew(store: MemoryStore, name: string, at: number): Promise<void> {
  const lease: Lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, renewTime: new Date(at).toISOString() },
  };
  const found = await store.get<Lease>({ kind: 'Lease', namespace: 'kube-node-lease', name });
  if (found) await store.update({ ...found, spec: lease.spec });
  else await store.create(lease);
}

/** One sync of each node: answered at `answeredAt` (call again after `callAgainMs`), the next one taking its heartbeat `late` ms after that. */
function syncLate(store: MemoryStore, names: string[], answeredAt: number, callAgainMs: number, late: number): void {
  for (const name of names) {
    syncAnswered(store, name, answeredAt, callAgainMs);
    syncStarted(store, name, answeredAt + callAgainMs + late);
    syncHeartbeat(store, name, answeredAt + callAgainMs + late);
  }
}

const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('how late syncs arrive', () => {
  it('is how late at least three nodes were: one node 20 s late (its own trouble) moves it not at all', () => {
    const store = new MemoryStore();
    syncLate(store, ['n0'], 1_000, 5_000, 100);
    syncLate(store, ['n1'], 1_000, 5_000, 200);
    syncLate(store, ['n2'], 1_000, 5_000, 20_000);

    expect(syncLagMs(store, 27_000)).toBe(100);
    // Most nodes late: it is the control plane's lateness.
    syncLate(store, names('m', 6), 1_000, 0, 12_000);
    expect(syncLagMs(store, 28_000)).toBe(12_000);
  });

  it('is the lateness of a twentieth of a large cluster: 4% of 1,000 nodes late is theirs, 6% is ours', () => {
    const few = new MemoryStore();
    syncLate(few, names('on-time', 960), 1_000, 0, 50);
    syncLate(few, names('late', 40), 1_000, 0, 20_000);
    const many = new MemoryStore();
    syncLate(many, names('on-time', 940), 1_000, 0, 50);
    syncLate(many, names('late', 60), 1_000, 0, 20_000);

    expect(syncLagMs(few, 25_000)).toBe(50);
    expect(syncLagMs(many, 25_000)).toBe(20_000);
  });

  it('counts syncs in flight that have not taken their heartbeat by their age: a backlog shows before it gets through', () => {
    const store = new MemoryStore();
    for (const name of names('n', 5)) {
      syncAnswered(store, name, 1_000, 0);
      syncStarted(store, name, 1_500);
    }

    expect(syncLagMs(store, 16_000)).toBe(15_000);
    // They failed: no backlog any more, and no lateness was measured.
    for (const name of names('n', 5)) syncEnded(store, name);
    expect(syncLagMs(store, 17_000)).toBe(0);
  });

  it('ignores a sync whose previous answer it never saw (a first sync, a restart)', () => {
    const store = new MemoryStore();
    for (const name of names('n', 3)) {
      syncStarted(store, name, 50_000);
      syncHeartbeat(store, name, 60_000);
    }

    expect(syncLagMs(store, 60_000)).toBe(0);
  });

  it('forgets lateness older than its window: nodes that went quiet (dead) add nothing', () => {
    const store = new MemoryStore();
    syncLate(store, names('n', 3), 1_000, 0, 10_000);

    expect(syncLagMs(store, 12_000)).toBe(10_000);
    expect(syncLagMs(store, 60_000)).toBe(0);
  });

  it('is bounded, so slow syncs cannot hold failure detection off for long', () => {
    const store = new MemoryStore();
    for (const name of names('n', 3)) {
      syncAnswered(store, name, 0, 0);
      syncStarted(store, name, 1);
    }

    expect(syncLagMs(store, 3_600_000)).toBe(MAX_SYNC_LAG_MS);
  });
});

describe('node-lifecycle behind a slow sync path', () => {
  it('keeps nodes Ready whose heartbeats are late by the lag the sync path shows, and finds a dead one after', async () => {
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    let lag = 0;
    const manager = createControllerManager(
      { store, clock: () => now.ms, log: silentLogger },
      // Passes on time (a minute expected): only the sync path shows the lag.
      { lagProbe: () => lag, nodeGracePeriodMs: 10_000, expectedIntervalMs: 60_000 },
    );
    await store.create(makeNode('n1'));
    await renew(store, 'n1', now.ms);
    await manager.runLeased();

    // The server falls 15 s behind: n1's renewals stop reaching the store for 20 s.
    lag = 15_000;
    now.ms += 1_000;
    await manager.runLeased();
    now.ms += 19_000;
    await manager.runLeased();
    const whileBehind = await readyOf(store, 'n1');

    // It never comes back: once the extension (grace + lag) is over, it is Unknown.
    lag = 0;
    now.ms += 30_000;
    await manager.runLeased();

    expect(whileBehind).toBe('True');
    expect(await readyOf(store, 'n1')).toBe('Unknown');
  });

  it('keeps nodes Ready while their syncs are stuck in the server, and finds a dead one once the backlog clears', async () => {
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    const manager = createControllerManager(
      { store, clock: () => now.ms, log: silentLogger },
      // The real tracker behind the probe, as the local runtime wires it.
      { lagProbe: () => syncLagMs(store, now.ms), nodeGracePeriodMs: 10_000, expectedIntervalMs: 60_000 },
    );
    const all = names('n', 5);
    for (const name of all) {
      await store.create(makeNode(name));
      await renew(store, name, now.ms);
      syncAnswered(store, name, now.ms, 0);
    }
    await manager.runLeased();

    // Every node's next sync reaches the server and waits there (a backlog) for 20 s.
    for (const name of all) syncStarted(store, name, now.ms + 100);
    now.ms += 20_000;
    await manager.runLeased();
    const whileStuck = await Promise.all(all.map((n) => readyOf(store, n)));

    // The backlog clears: four nodes sync on, n4's agent is gone.
    for (const name of all) syncEnded(store, name);
    for (let t = 0; t < 4; t++) {
      now.ms += 10_000;
      for (const name of all.slice(0, 4)) {
        syncStarted(store, name, now.ms);
        await renew(store, name, now.ms);
        syncHeartbeat(store, name, now.ms);
        syncAnswered(store, name, now.ms, 0);
      }
      await manager.runLeased();
    }

    expect(whileStuck).toEqual(['True', 'True', 'True', 'True', 'True']);
    expect(await Promise.all(all.map((n) => readyOf(store, n)))).toEqual(['True', 'True', 'True', 'True', 'Unknown']);
  });

  it('without the lag, the same silence marks the node Unknown', async () => {
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    const manager = createControllerManager(
      { store, clock: () => now.ms, log: silentLogger },
      { nodeGracePeriodMs: 10_000, expectedIntervalMs: 60_000 },
    );
    await store.create(makeNode('n1'));
    await renew(store, 'n1', now.ms);
    await manager.runLeased();

    now.ms += 20_000;
    await manager.runLeased();

    expect(await readyOf(store, 'n1')).toBe('Unknown');
  });
});

describe('node-lifecycle in a long pass', () => {
  it('judges heartbeats by when the Leases were listed, not by the clock at a late round', async () => {
    const now = { ms: 1_700_000_000_000 };
    const store = new MemoryStore(() => now.ms);
    await store.create(makeNode('n1'));
    await renew(store, 'n1', now.ms);
    const deps = { store, clock: () => now.ms, log: silentLogger };
    const snapshot = new ClusterSnapshot(store, () => undefined, deps.clock);
    const ctx = {
      deps: { ...deps, store: snapshot.store },
      snapshot,
      wakeAt: () => undefined,
      takeCreates: createBudget(),
    };
    await snapshot.list('Lease');

    // The pass's rounds take 30 s (a slow store): renewals meanwhile are not in its snapshot.
    now.ms += 30_000;
    await reconcileNodes(ctx, { gracePeriodMs: 10_000, evictionDelayMs: 5_000 });

    expect(await readyOf(store, 'n1')).toBe('True');
  });
});
