/**
 * `dist/` built once per test run, for every suite that runs the built CLI, agent or Lambda
 * bundle. Each of those suites used to run `scripts/build.mjs` itself (about 6 s each, 19 times
 * in a full run), and with files in parallel one build deleted `dist/chunks` while another
 * suite's `dist/cli.js` was loading a chunk from it. Here the first suite to ask builds, under a
 * lock file, and stamps `dist/` with the run's id (`provide` in vitest.config.ts); the others
 * wait for the lock and find the stamp. Without an id (another config) it always builds.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** One id per `vitest` invocation (vitest.config.ts). */
    ferryRunId: string;
  }
}

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const DIST = join(ROOT, 'dist');
const LOCK = join(DIST, '.test-build.lock');
const STAMP = join(DIST, '.test-build-run');
/** A build takes 6-12 s on a loaded 2-core machine; waiting longer than this means a lost holder. */
const LOCK_WAIT_MS = 180_000;

/** Builds `dist/` unless this run already has; resolves once it is complete. */
export async function buildDist(): Promise<void> {
  const runId = runIdOf();
  await mkdir(DIST, { recursive: true });
  await withLock(async () => {
    if (runId && (await readFile(STAMP, 'utf8').catch(() => '')) === runId) return;
    await rm(STAMP, { force: true });
    await run(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT });
    if (runId) await writeFile(STAMP, runId);
  });
}

/** This run's id; undefined outside a vitest worker (a script importing a helper). */
function runIdOf(): string | undefined {
  try {
    return inject('ferryRunId');
  } catch {
    return undefined;
  }
}

async function withLock(fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await writeFile(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // A holder killed mid-build (a cancelled run) leaves its file: take it over once its process is gone.
    const holder = Number(await readFile(LOCK, 'utf8').catch(() => ''));
    if (holder > 0 && !alive(holder)) {
      await rm(LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`waited ${LOCK_WAIT_MS} ms for ${LOCK} (held by pid ${holder})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    await fn();
  } finally {
    await rm(LOCK, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
