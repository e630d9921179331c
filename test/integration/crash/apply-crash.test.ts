/**
 * Apply survives a crash (issue 18 finding 11): a process applying a 500-object bundle on SQLite is
 * killed with SIGKILL at random points of the apply, and the store it leaves, reopened, holds the
 * whole bundle with its node port claims or nothing of it. Before the bundle committed in one
 * transaction, 17 of 49 such kills left part of it stored.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../functions/store/sqlite';
import type { Obj } from '../../../functions/store/types';

const root = join(import.meta.dirname, '../../..');
const child = join(import.meta.dirname, 'apply-child.ts');
const TRIALS = 12;
const BUNDLE_CONFIGMAPS = 480;
const BUNDLE_SERVICES = 20;

/**
 * Runs the child on `file`; kills it `killAfterMs` after it said `ready` (never, if undefined).
 * Resolves with the apply's duration when it finished, undefined when killed first.
 */
function runChild(file: string, killAfterMs?: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    // node --import tsx, one process: a SIGKILL to the tsx wrapper would leave the writer running.
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', child, file, String(BUNDLE_CONFIGMAPS), String(BUNDLE_SERVICES)],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.on('data', (d) => {
      out += d;
      if (killAfterMs !== undefined && timer === undefined && out.includes('ready\n'))
        timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    });
    proc.stderr.on('data', (d) => (err += d));
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const done = /done (\d+)/.exec(out);
      if (done) resolve(Number(done[1]));
      else if (signal === 'SIGKILL') resolve(undefined);
      else reject(new Error(`apply child exited ${code}: ${err}`));
    });
  });
}

/** How much of the bundle the file holds: ConfigMaps, Services and their node port claims. */
async function bundleIn(file: string): Promise<{ configMaps: number; services: number; claims: number }> {
  const store = await SqliteStore.open(file);
  try {
    const count = async (kind: string, labelSelector?: string) =>
      (await store.list(kind, labelSelector ? { labelSelector } : {})).items.length;
    return {
      configMaps: await count('ConfigMap', 'bundle=crash'),
      services: await count('Service', 'bundle=crash'),
      // The bundle's: the built-in kubernetes Service holds a node port of its own from the start.
      claims: (await store.list<Obj & { spec: { service: string } }>('NodePortClaim')).items.filter(
        (c) => c.spec.service !== 'default/kubernetes',
      ).length,
    };
  } finally {
    await store.close();
  }
}

const NONE = { configMaps: 0, services: 0, claims: 0 };
const ALL = { configMaps: BUNDLE_CONFIGMAPS, services: BUNDLE_SERVICES, claims: BUNDLE_SERVICES };

describe('apply killed mid-bundle', () => {
  it('leaves the whole bundle or none of it, at a dozen random kill points', async () => {
    // prepare: one apply that runs to the end, to know how long an apply takes here
    const dir = mkdtempSync(join(tmpdir(), 'ferry-apply-crash-'));
    const duration = await runChild(join(dir, 'whole.db'));
    expect(duration).toBeDefined();
    expect(await bundleIn(join(dir, 'whole.db'))).toEqual(ALL);

    // act: kill at random points from the request's start to a little past its measured end
    const outcomes: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const file = join(dir, `trial-${trial}.db`);
      const killAfter = Math.floor(Math.random() * (duration as number) * 1.1);
      const finished = await runChild(file, killAfter);
      const stored = await bundleIn(file);

      // assess
      expect([NONE, ALL], `trial ${trial}, killed after ${killAfter} ms`).toContainEqual(stored);
      if (finished !== undefined) expect(stored).toEqual(ALL);
      outcomes.push(stored.configMaps === 0 ? 'none' : 'all');
    }
    expect(outcomes).toHaveLength(TRIALS);
  }, 180_000);
});
