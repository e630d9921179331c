/**
 * Runs the ferry CLI in-process against a real local control plane (SQLite in a temp dir, port 0).
 * Each test file starts its own plane; FERRY_CONFIG always points into the temp dir so no test
 * reads or writes the user's real config.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/main';
import { silentLogger } from '../../../functions/log';
import { type LocalControlPlaneOptions, startLocalControlPlane } from '../../../functions/runtime/local';
import { makeNode, type NodeOptions } from '../../helpers/objects';
import { SimulatedAgents } from '../sim/harness';

export const EXAMPLES = join(import.meta.dirname, '../../../examples');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  stdin?: string;
  signal?: AbortSignal;
  cwd?: string;
  /** Called with everything written so far, on every write (to wait for a long-running command). */
  onOutput?: (stdout: string, stderr: string) => void;
}

export async function ferry(args: string[], options: RunOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const stdin = options.stdin;
  const code = await run(args, {
    stdout: {
      write: (s: string) => {
        stdout += s;
        options.onOutput?.(stdout, stderr);
      },
    },
    stderr: {
      write: (s: string) => {
        stderr += s;
        options.onOutput?.(stdout, stderr);
      },
    },
    ...(stdin !== undefined
      ? {
          stdin: (async function* () {
            yield stdin;
          })(),
        }
      : {}),
    env: options.env ?? {},
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, stdout, stderr };
}

export interface TestPlane {
  url: string;
  adminToken: string;
  dir: string;
  env: Record<string, string>;
  plane: Awaited<ReturnType<typeof startLocalControlPlane>>;
  /** Runs the CLI as the admin against this plane. */
  ferry(args: string[], options?: RunOptions): Promise<CliResult>;
  close(): Promise<void>;
}

/** Without options: the API alone (no scheduler or controllers). */
export async function startTestPlane(
  options: Pick<LocalControlPlaneOptions, 'controllers' | 'resyncMs'> = {},
): Promise<TestPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-cli-'));
  const plane = await startLocalControlPlane({
    dataDir: join(dir, 'data'),
    port: 0,
    host: '127.0.0.1',
    log: silentLogger,
    controllers: false,
    ...options,
  });
  if (!plane.adminToken) throw new Error('a fresh store must yield an admin token');
  const env = { FERRY_SERVER: plane.url, FERRY_TOKEN: plane.adminToken, FERRY_CONFIG: join(dir, 'config.json') };
  return {
    url: plane.url,
    adminToken: plane.adminToken,
    dir,
    env,
    plane,
    ferry: (args, options = {}) => ferry(args, { ...options, env: { ...env, ...options.env } }),
    close: async () => {
      await plane.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** stderr lines, without the trailing empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

export interface SimulatedNodes {
  stop(): void;
}

/**
 * Nodes for a plane with controllers: each is registered Ready and played by SimulatedAgents on a
 * real-time timer (pods Running `startDelayMs` after binding, terminating pods gone `stopDelayMs`
 * after), so `apply --wait`, `rollout` and `drain` see real progress without Docker.
 */
export async function startSimulatedNodes(
  plane: TestPlane,
  names: string[],
  options: NodeOptions & { startDelayMs?: number; stopDelayMs?: number } = {},
): Promise<SimulatedNodes> {
  const store = plane.plane.store;
  const agents = new SimulatedAgents(store, Date.now, {
    startDelayMs: options.startDelayMs ?? 300,
    stopDelayMs: options.stopDelayMs ?? 300,
  });
  for (const name of names) {
    await store.create(makeNode(name, options));
    await agents.heartbeat(name);
  }
  let stopped = false;
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      for (const name of names) if (!stopped) await agents.run(name).catch(() => undefined);
    });
  }, 150);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
