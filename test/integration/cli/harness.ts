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
import { startLocalControlPlane } from '../../../functions/runtime/local';

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

export async function startTestPlane(): Promise<TestPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-cli-'));
  const plane = await startLocalControlPlane({
    dataDir: join(dir, 'data'),
    port: 0,
    host: '127.0.0.1',
    log: silentLogger,
    controllers: false,
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
