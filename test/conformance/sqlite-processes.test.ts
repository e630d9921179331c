import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../functions/store/sqlite';

const root = join(import.meta.dirname, '../..');
const writer = join(import.meta.dirname, 'sqlite-writer.ts');

/**
 * The writer runs as `node --import tsx`, one process: the tsx binary would start node as a child,
 * so a SIGKILL would hit the wrapper and leave the writer running (and writing) on its own.
 */
function spawnWriter(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', writer, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnWriter(args);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

describe('SqliteStore shared by several processes', () => {
  it('two processes racing conditional updates on one object: each round exactly one wins', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-race-')), 'ferry.db');
    const store = await SqliteStore.open(file);
    await store.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'counter', namespace: 'default' },
      data: { n: '0' },
    });
    await store.close();

    const results = (await Promise.all([run(['race', file, '300']), run(['race', file, '300'])])).map(
      (o) => JSON.parse(o) as { wins: number; conflicts: number },
    );

    const reopened = await SqliteStore.open(file);
    const counter = await reopened.get({ kind: 'ConfigMap', namespace: 'default', name: 'counter' });
    const wins = results.reduce((s, r) => s + r.wins, 0);
    expect((counter?.data as { n: string } | undefined)?.n).toBe(String(wins));
    expect(results.reduce((s, r) => s + r.wins + r.conflicts, 0)).toBe(600);
    await reopened.close();
  }, 60_000);

  it('a process killed mid-write loses nothing it had committed and leaves a file that opens cleanly', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-crash-')), 'ferry.db');
    const acknowledged: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const child = spawnWriter(['append', file]);
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        acknowledged.push(...lines.filter(Boolean));
        if (acknowledged.length >= 300) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });

    const reopened = await SqliteStore.open(file);
    const stored = new Set((await reopened.list('ConfigMap')).items.map((c) => c.metadata.name));
    // The writer is really gone: nothing more lands after it was killed.
    await new Promise((r) => setTimeout(r, 300));
    expect((await reopened.list('ConfigMap')).items.length).toBe(stored.size);
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);
    for (const name of acknowledged) expect(stored.has(name)).toBe(true);
    await reopened.close();
  }, 60_000);
});
