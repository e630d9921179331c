/**
 * The lag guard on the sync path (issue 12): a control plane whose agents' syncs arrive late
 * because it is itself behind extends node-lifecycle's grace by that lateness instead of marking
 * the nodes NotReady; a node that really stopped is still found once the guard's extension is over.
 */
import { describe, expect, it } from 'vitest';
import { syncAnswered, syncLagMs, syncStarted } from '../../../functions/api/agent/sync-lag';
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

describe('how late syncs arrive', () => {
  it('is the median lateness of the last syncs against when each node was told to call again', () => {
    const store = new MemoryStore();
    for (const [i, late] of [100, 200, 30_000].entries()) {
      syncAnswered(store, `n${i}`, 1_000, 5_000);
      syncStarted(store, `n${i}`, 6_000 + late);
    }

    // One node 30 s late (its own trouble) does not move it; most nodes late do.
    expect(syncLagMs(store)).toBe(200);
    for (let i = 3; i < 9; i++) {
      syncAnswered(store, `n${i}`, 1_000, 0);
      syncStarted(store, `n${i}`, 13_000);
    }
    expect(syncLagMs(store)).toBe(12_000);
  });

  it('ignores a sync whose previous answer it never saw (a first sync, a restart)', () => {
    const store = new MemoryStore();
    syncStarted(store, 'n1', 50_000);

    expect(syncLagMs(store)).toBe(0);
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
