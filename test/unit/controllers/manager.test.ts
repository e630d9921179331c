import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createControllerManager } from '../../../functions/controllers/manager';
import { silentLogger } from '../../../functions/log';
import { SqliteStore } from '../../../functions/store/sqlite';
import type { Pod } from '../../../schemas';
import { deployment } from '../../integration/sim/harness';

describe('controller manager', () => {
  it('only one manager acts on a store; a second takes over within the lease TTL when the first dies', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-cm-')), 'ferry.db');
    const a = await SqliteStore.open(file);
    const b = await SqliteStore.open(file);
    const first = createControllerManager(
      { store: a, clock: Date.now, log: silentLogger },
      { leaseTtlMs: 1_500, debounceMs: 5 },
    );
    const second = createControllerManager(
      { store: b, clock: Date.now, log: silentLogger },
      { leaseTtlMs: 1_500, debounceMs: 5 },
    );
    first.start();
    await new Promise((r) => setTimeout(r, 200));
    second.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(first.isLeader()).toBe(true);
    expect(second.isLeader()).toBe(false);

    // The first manager dies without releasing its lease (as a killed process would).
    await a.close().catch(() => undefined);
    const died = Date.now();
    await b.create(deployment('web', 2));
    while (!second.isLeader() && Date.now() - died < 5_000) await new Promise((r) => setTimeout(r, 100));
    expect(second.isLeader()).toBe(true);
    expect(Date.now() - died).toBeLessThan(1_500 + 1_500);
    // Acting as leader: the Deployment becomes pods.
    const deadline = Date.now() + 5_000;
    while ((await b.list<Pod>('Pod')).items.length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect((await b.list<Pod>('Pod')).items).toHaveLength(2);
    await first.stop();
    await second.stop();
    await b.close();
  }, 20_000);
});
