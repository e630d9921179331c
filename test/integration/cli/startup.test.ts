/**
 * The built CLI starts without the heavy packages: `ferry version --client` and `ferry get pods`
 * against a running server must not load a cloud SDK or the SQLite driver (each cloud SDK costs
 * up to seconds at start; issue 19 measured 2 s per command when the bundle loaded them all).
 * Runs `dist/cli.js` as a user does, in a child process, with a module-resolution hook that lists
 * every module it loads.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from '../../helpers/build';
import { startTestPlane, type TestPlane } from './harness';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const HOOK = join(ROOT, 'test/fixtures/module-trace/register.mjs');
const HEAVY = /node_modules\/(@aws-sdk|@google-cloud|@azure|google-gax|better-sqlite3)\//;

let plane: TestPlane;
let dir: string;

beforeAll(async () => {
  await buildDist();
  plane = await startTestPlane();
  dir = await mkdtemp(join(tmpdir(), 'ferry-startup-'));
}, 120_000);

afterAll(async () => {
  await plane?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function modulesLoadedBy(name: string, args: string[]): Promise<{ stdout: string; modules: string[] }> {
  const trace = join(dir, `${name}.txt`);
  const { stdout } = await run(process.execPath, ['--import', HOOK, join(ROOT, 'dist/cli.js'), ...args], {
    env: { ...process.env, ...plane.env, FERRY_TRACE_MODULES: trace },
  });
  const modules = (await readFile(trace, 'utf8')).split('\n').filter(Boolean);
  return { stdout, modules };
}

describe('the built CLI at start', () => {
  it('prints its version without loading a cloud SDK or SQLite', async () => {
    const { stdout, modules } = await modulesLoadedBy('version', ['version', '--client']);
    expect(stdout).toContain('Client Version');
    expect(modules.length).toBeGreaterThan(0);
    expect(modules.filter((m) => HEAVY.test(m))).toEqual([]);
  });

  it('lists pods from a running server without loading a cloud SDK or SQLite', async () => {
    const { stdout, modules } = await modulesLoadedBy('get-pods', ['get', 'pods']);
    expect(stdout).toBe('');
    expect(modules.filter((m) => HEAVY.test(m))).toEqual([]);
  });

  it('sees a heavy package when a command does load one (the trace is not blind)', async () => {
    const trace = join(dir, 'probe.txt');
    await run(process.execPath, ['--import', HOOK, '-e', "await import('@aws-sdk/client-ec2')"], {
      env: { ...process.env, FERRY_TRACE_MODULES: trace },
    });
    expect((await readFile(trace, 'utf8')).split('\n').some((m) => HEAVY.test(m))).toBe(true);
  });
});
