/**
 * The scale bench's `ferry server`: a child process on SQLite in its own data dir, with the loop
 * probe and the server probe preloaded (bench/scale/loop-probe.ts, server-probe.ts), optionally
 * under `node --cpu-prof`. Resolves once it listens, with its URL and the admin token it wrote.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './proc';

export interface Server {
  child: ChildProcess;
  url: string;
  token: string;
  /** The last lines it wrote to stderr, and how it ended if it did. */
  stderr(): string;
  exit?: string;
}

const ROOT = join(import.meta.dirname, '..', '..');

export async function startServer(dataDir: string, profileDir?: string): Promise<Server> {
  const config = join(dataDir, 'cli-config.json');
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      ...['--import', 'tsx'],
      ...['--import', join(import.meta.dirname, 'loop-probe.ts')],
      ...['--import', join(import.meta.dirname, 'server-probe.ts')],
      join(ROOT, 'cli', 'main.ts'),
      ...['server', '--port', '0', '--data-dir', dataDir, '--log-level', 'error'],
    ],
    {
      env: {
        ...process.env,
        FERRY_CONFIG: config,
        FERRY_LOOP_PROBE: join(dataDir, 'loop-server.jsonl'),
        FERRY_SYNC_PROBE: join(dataDir, 'syncs-server.jsonl'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ferry server did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve((m[1] as string).replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => reject(new Error(`ferry server exited (${code}): ${stderr}`)));
  });
  await sleep(200);
  const token = (JSON.parse(readFileSync(config, 'utf8')) as { token: string }).token;
  const server: Server = { child, url, token, stderr: () => stderr };
  child.on('exit', (code, signal) => {
    server.exit = `exited with ${signal ?? `code ${code}`}`;
  });
  return server;
}
