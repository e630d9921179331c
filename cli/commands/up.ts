/**
 * `ferry up [--nodes 2]`: a working multi-node cluster on this machine. Starts the control plane
 * (SQLite under .ferry/) and N local nodes — agent processes with their own names and loopback
 * addresses (127.0.1.N), made by the `local` cloud provider — waits until they are Ready, writes the
 * CLI config and prints what to do next. Ctrl-C stops the agents and the control plane; containers
 * keep running until `ferry down` removes them (as pods on a real VM outlive an agent restart).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { createLogger, type LogLevel } from '../../functions/log';
import type { StateStore } from '../../functions/store/types';
import type { Node } from '../../schemas';
import { configPath, readConfig, writeConfig } from '../config';
import { type CliContext, out } from '../context';
import { CliError, UsageError } from '../errors';
import { clientUrl, stopSignal } from './server';

const run = promisify(execFile);
/** The Cloud `ferry up`'s own local nodes are tagged with (they belong to no Cloud object). */
const UP_NODES = { name: 'ferry-up', uid: 'ferry-up' };

interface UpOptions {
  nodes: string;
  port: string;
  dataDir: string;
  cpu: string;
  memory: string;
  logLevel: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description('start the control plane and N local nodes (agents on this machine, containers on Docker)')
    .option('--nodes <n>', 'number of local nodes', '2')
    .option('--port <port>', 'API port', '7443')
    .option('--data-dir <dir>', 'where the store and node state live', '.ferry')
    .option('--cpu <n>', 'CPU each local node reports', '2')
    .option('--memory <q>', 'memory each local node reports', '2Gi')
    .option('--log-level <level>', 'debug, info, warn, error or silent', 'warn')
    .action(async (opts: UpOptions) => up(ctx, opts));
  program
    .command('down')
    .description('remove every container the local nodes of this data dir created')
    .option('--data-dir <dir>', 'where the store and node state live', '.ferry')
    .action(async () => down(ctx));
}

async function up(ctx: CliContext, opts: UpOptions): Promise<void> {
  const count = Number(opts.nodes);
  if (!Number.isInteger(count) || count < 1 || count > 50)
    throw new UsageError(`--nodes "${opts.nodes}" must be a whole number from 1 to 50`);
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port "${opts.port}" is not a port number`);
  await requireDocker();
  await ensureLocalImages(ctx);
  const dataDir = resolve(ctx.io.cwd ?? process.cwd(), opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const log = createLogger(opts.logLevel as LogLevel, { component: 'up' }, (line) => ctx.io.stderr.write(`${line}\n`));

  const { startLocalControlPlane } = await import('../../functions/runtime/local');
  const { issueToken } = await import('../../functions/api/tokens');
  const { LocalProvider } = await import('../../providers/local');
  const provider = new LocalProvider({
    dataDir,
    agentCommand: agentCommand(),
    sandboxImage: 'ferry.local/pause:1',
    cpuPerNode: opts.cpu,
    memoryPerNode: opts.memory,
    extraEnv: { FERRY_LOG_LEVEL: opts.logLevel === 'silent' ? 'error' : opts.logLevel },
  });
  const plane = await startLocalControlPlane({ dataDir, port, log, provider });
  const stop = stopSignal(ctx);
  const names = Array.from({ length: count }, (_, i) => `local-${i + 1}`);
  try {
    out(ctx, `control plane listening on ${plane.url} (data in ${dataDir})`);
    const path = configPath(ctx.io.env);
    if (plane.adminToken) {
      const previous = await readConfig(path).catch(() => ({}));
      await writeConfig(path, { ...previous, server: clientUrl(plane.url), token: plane.adminToken });
      out(ctx, `admin token written to ${path} (mode 0600)`);
    }
    const { token } = await issueToken(plane.deps, {
      role: 'bootstrap',
      ttlSeconds: 3600,
      description: 'ferry up: local nodes',
    });
    const apiUrl = clientUrl(plane.url);
    for (const [i, name] of names.entries()) {
      await provider.createInstance({
        name,
        cluster: 'local',
        cloud: UP_NODES,
        pool: 'local',
        instanceType: 'local',
        zone: `local-${String.fromCharCode(97 + (i % 3))}`,
        bootstrap: { apiUrl, token, labels: {} },
        tags: {},
      });
    }
    await waitReady(plane.store, names, 60_000);
    out(ctx, `${count} node(s) Ready: ${names.join(', ')}`);
    out(
      ctx,
      'next: ferry apply -f examples/ && ferry get pods -o wide   (Ctrl-C stops ferry; `ferry down` removes its containers)',
    );
    await stop.promise;
    out(ctx, 'stopping nodes and control plane');
  } finally {
    stop.dispose();
    for (const instance of await provider.listInstances({ cluster: 'local', cloud: UP_NODES })) {
      const pid = provider.pidOf(instance.name);
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
      }
    }
    await provider.close();
    await plane.close();
  }
}

async function down(ctx: CliContext): Promise<void> {
  await requireDocker();
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', 'label=ferry.managed=true']);
  const ids = stdout.split('\n').filter(Boolean);
  if (ids.length) await run('docker', ['rm', '-f', ...ids]);
  // Each node's pod network (ferry-<node>) goes too, once its containers are gone.
  const nets = (await run('docker', ['network', 'ls', '-q', '--filter', 'label=ferry.managed=true'])).stdout
    .split('\n')
    .filter(Boolean);
  for (const id of nets) await run('docker', ['network', 'rm', id]).catch(() => undefined);
  out(ctx, `removed ${ids.length} container(s) and ${nets.length} pod network(s)`);
}

async function requireDocker(): Promise<void> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 });
  } catch {
    throw new CliError(
      'Docker Engine is not reachable: install and start it (Debian: apt-get install docker.io && dockerd &, or run scripts/install-docker.sh as root)',
    );
  }
}

/** The package root: where scripts/ and dist/ live, from dist/cli.js or from cli/commands/ under tsx. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function agentCommand(): string[] {
  const agent = join(packageRoot(), 'dist', 'agent.js');
  if (!existsSync(agent)) throw new CliError(`the agent bundle ${agent} is missing: run npm run build`);
  return [process.execPath, agent];
}

async function ensureLocalImages(ctx: CliContext): Promise<void> {
  try {
    await run('docker', ['image', 'inspect', 'ferry.local/pause:1', 'ferry.local/busybox:1']);
    return;
  } catch {}
  out(ctx, 'building the local images (ferry.local/pause:1, ferry.local/busybox:1) from busybox-static');
  try {
    await run('bash', [join(packageRoot(), 'scripts', 'build-test-images.sh')]);
  } catch (err) {
    throw new CliError(`building local images failed: ${((err as { stderr?: string }).stderr ?? String(err)).trim()}`);
  }
}

async function waitReady(store: StateStore, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await store.list<Node>('Node')).items;
    const ready = names.filter((n) =>
      nodes
        .find((x) => x.metadata.name === n)
        ?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length === names.length) return;
    if (Date.now() > deadline)
      throw new CliError(
        `nodes not Ready after ${timeoutMs / 1000}s: ${names.filter((n) => !ready.includes(n)).join(', ')} (see the agent logs under the data dir's nodes/)`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
