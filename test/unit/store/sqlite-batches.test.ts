/**
 * SQLite's writeBatch in chunks (functions/store/sqlite.ts): a batch of hundreds of ops (the
 * scheduler's binds) commits a few dozen at a time and lets other work run in between, with the
 * results and events a single transaction gave.
 */
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError } from '../../../functions/errors';
import { BATCH_CHUNK, BATCH_SLICE_MS, SqliteStore } from '../../../functions/store/sqlite';
import type { ChangeEvent, Obj, WriteOp } from '../../../functions/store/types';

const cm = (name: string): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } });

describe('SQLite write batches', () => {
  it('answer each op in order, failures included, and send one event per success, across chunks', async () => {
    const store = await SqliteStore.open(':memory:');
    const existing = await store.create(cm('taken'));
    await store.update({ ...existing, data: { a: '1' } });
    const events: ChangeEvent[] = [];
    store.watch((ev) => events.push(ev));
    const ops: WriteOp[] = Array.from({ length: 3 * BATCH_CHUNK }, (_, i) => ({ op: 'create', object: cm(`c${i}`) }));
    ops[BATCH_CHUNK + 1] = { op: 'create', object: cm('taken') };
    ops[2 * BATCH_CHUNK + 5] = { op: 'update', object: existing }; // stale resourceVersion

    const results = await store.writeBatch(ops);
    await new Promise((r) => setImmediate(r));

    expect(results).toHaveLength(ops.length);
    expect(results[BATCH_CHUNK + 1]).toMatchObject({ ok: false, error: expect.any(AlreadyExistsError) });
    expect(results[2 * BATCH_CHUNK + 5]).toMatchObject({ ok: false, error: expect.any(ConflictError) });
    expect(results.filter((r) => r.ok)).toHaveLength(ops.length - 2);
    expect(events.map((e) => e.object.metadata.name)).toEqual(
      results.flatMap((r) => (r.ok ? [r.object.metadata.name] : [])),
    );
    expect((await store.list('ConfigMap')).items).toHaveLength(ops.length - 2 + 1);
    await store.close();
  });

  it('let other work run between chunks once the batch has held the loop for a slice, not only after it', async () => {
    const store = await SqliteStore.open(':memory:');
    let storedWhenOtherWorkRan = -1;
    setImmediate(() => {
      void store.list('ConfigMap').then((l) => {
        storedWhenOtherWorkRan = l.items.length;
      });
    });

    // Enough ops to take longer than a slice on any machine (each create is tens of µs).
    const total = 64 * BATCH_CHUNK;
    const started = performance.now();
    await store.writeBatch(Array.from({ length: total }, (_, i): WriteOp => ({ op: 'create', object: cm(`c${i}`) })));

    expect(performance.now() - started).toBeGreaterThan(BATCH_SLICE_MS);
    expect(storedWhenOtherWorkRan).toBeGreaterThan(0);
    expect(storedWhenOtherWorkRan).toBeLessThan(total);
    await store.close();
  });
});
