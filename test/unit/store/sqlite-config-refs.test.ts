/**
 * SQLite's index of the ConfigMaps and Secrets pods refer to (functions/store/sqlite.ts,
 * config_refs): a list of the pods referring to one returns exactly those, kept through every
 * kind of pod write, and built from the pods already stored when a file from before it opens.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../functions/store/sqlite';
import type { Obj } from '../../../functions/store/types';

const pod = (name: string, spec: Record<string, unknown>): Obj => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
});
const usesConfig = (name: string, configMap: string) =>
  pod(name, { containers: [{ name: 'c', image: 'busybox', envFrom: [{ configMapRef: { name: configMap } }] }] });
const referring = async (store: SqliteStore, ref: string) =>
  (await store.list('Pod', { namespace: 'default', referringTo: ref })).items.map((p) => p.metadata.name);

describe('SQLite pods by the config they refer to', () => {
  it('returns exactly the pods that refer to it, following creates, edits, batches, transactions and deletes', async () => {
    const store = await SqliteStore.open(':memory:');
    const a = await store.create(usesConfig('a', 'app'));
    await store.create(usesConfig('b', 'app-1'));
    await store.create(pod('c', { imagePullSecrets: [{ name: 'app' }] }));
    expect(await referring(store, 'ConfigMap/default/app')).toEqual(['a']);
    expect(await referring(store, 'Secret/default/app')).toEqual(['c']);

    await store.update({ ...a, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    await store.writeBatch([{ op: 'create', object: usesConfig('d', 'app') }]);
    await store.transact([
      { op: 'create', object: usesConfig('e', 'app') },
      { op: 'delete', ref: { kind: 'Pod', namespace: 'default', name: 'c' } },
    ]);
    expect(await referring(store, 'ConfigMap/default/app')).toEqual(['d', 'e']);
    expect(await referring(store, 'Secret/default/app')).toEqual([]);

    await store.delete({ kind: 'Pod', namespace: 'default', name: 'd' });
    expect(await referring(store, 'ConfigMap/default/app')).toEqual(['e']);
    await store.close();
  });

  it('keeps the index as it was when a write fails (a conflict writes nothing)', async () => {
    const store = await SqliteStore.open(':memory:');
    const a = await store.create(usesConfig('a', 'app'));
    await store.update({ ...a, metadata: { ...a.metadata, labels: { x: 'y' } } });
    await expect(store.update({ ...a, spec: { containers: [{ name: 'c', image: 'x' }] } })).rejects.toThrow();
    expect(await referring(store, 'ConfigMap/default/app')).toEqual(['a']);
    await store.close();
  });

  it('is built from the stored pods when a file written before the index opens', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ferry-refs-')), 'ferry.db');
    const first = await SqliteStore.open(path);
    await first.create(usesConfig('a', 'app'));
    await first.close();
    // As a file from before the index: no rows, no mark.
    const raw = new Database(path);
    raw.exec("DROP TABLE config_refs; DELETE FROM meta WHERE key = 'config_refs'");
    raw.close();

    const reopened = await SqliteStore.open(path);
    expect(await referring(reopened, 'ConfigMap/default/app')).toEqual(['a']);
    await reopened.close();
  });
});
