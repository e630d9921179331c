import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../functions/store/sqlite';

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('the SQLite store file', () => {
  it('is created readable by its owner only, with its WAL and shared-memory files', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ferry-mode-')), 'data', 'ferry.db');
    const store = await SqliteStore.open(path);
    await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' } });

    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(`${path}-wal`)).toBe(0o600);
    expect(modeOf(`${path}-shm`)).toBe(0o600);
    expect(modeOf(join(path, '..'))).toBe(0o700);
    await store.close();
  });

  it('narrows a world-readable file from an older ferry to 0600 when it opens it', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ferry-mode-')), 'ferry.db');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const store = await SqliteStore.open(path);
    expect(modeOf(path)).toBe(0o600);
    await store.close();
  });

  it('overwrites a deleted object, so it is not left in free pages after a checkpoint', async () => {
    // prepare
    const path = join(mkdtempSync(join(tmpdir(), 'ferry-wipe-')), 'ferry.db');
    const store = await SqliteStore.open(path);
    const value = 'deleted-value-that-must-not-linger-91c2';
    await store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'gone', namespace: 'default' },
      data: { v: value },
    });
    await store.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kept', namespace: 'default' } });

    // act: delete, then move the WAL into the file and empty it (what a checkpoint does)
    await store.delete({ kind: 'ConfigMap', namespace: 'default', name: 'gone' });
    const other = new Database(path);
    other.pragma('wal_checkpoint(TRUNCATE)');
    other.close();

    // assess
    expect(readFileSync(path).toString('latin1')).not.toContain(value);
    expect(readFileSync(`${path}-wal`).length).toBe(0);
    await store.close();
  });
});
