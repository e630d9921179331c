/**
 * `ferry up [--nodes 2]`: a working multi-node cluster on this machine. Starts the control plane
 * (SQLite under .ferry/) and N local nodes — agent processes with their own names and loopback
 * addresses (127.0.1.N), made by the `local` cloud provider — waits until they are Ready, writes the
 * CLI config and prints what to do next. Ctrl-C stops the agents and the control plane; containers
 * keep running until `ferry down` removes them (as pods on a real VM outlive an agent restart).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { createLogger, type LogLevel } from '../../functions/log';
import { configPath, readConfig, writeConfig } from '../config';
import { type CliContext, out } from '../context';
import { CliError, UsageError } from '../errors';
import { clientUrl, stopSignal } from './server';

const run = promisify(execFile);

interface UpOptions {
  nodes: string;
  port: string;
  dataDir: string;
  cpu: string;
  memory: string;
  logLevel: string;
  firstAddress: string;
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
    .option('--first-address <n>', 'nodes get 127.0.1.N from this N up (a second cluster on this machine)', '1')
    .action(async (opts: UpOptions) => up(ctx, opts));
  program
    .command('down')
    .description('remove every container the local nodes of this data dir created')
    .option('--data-dir <dir>', 'where the store and node state live', '.ferry')
    .action(async (opts: { dataDir: string }) => down(ctx, opts));
}

async function up(ctx: CliContext, opts: UpOptions): Promise<void> {
  const count = Number(opts.nodes);
  if (!Number.isInteger(count) || count < 1 || count > 50)
    throw new UsageError(`--nodes "${opts.nodes}" must be a whole number from 1 to 50`);
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port "${opts.port}" is not a port number`);
  const firstAddress = Number(opts.firstAddress);
  if (!Number.isInteger(firstAddress) || firstAddress < 1 || firstAddress + count - 1 > 254)
    throw new UsageError(
      `--first-address "${opts.firstAddress}" must be a whole number from 1 to ${255 - count} (127.0.1.N, ${count} node(s))`,
    );
  await requireDocker();
  await ensureLocalImages(ctx);
  const dataDir = resolve(ctx.io.cwd ?? process.cwd(), opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const log = createLogger(opts.logLevel as LogLevel, { component: 'up' }, (line) => ctx.io.stderr.write(`${line}\n`));

  const { startLocalCluster } = await import('../../functions/runtime/local-cluster');
  const stop = stopSignal(ctx);
  try {
    out(ctx, `starting the control plane and ${count} node(s) (data in ${dataDir})`);
    const cluster = await startLocalCluster({
      dataDir,
      port,
      log,
      nodes: count,
      agentCommand: agentCommand(),
      sandboxImage: 'ferry.local/pause:1',
      cpuPerNode: opts.cpu,
      memoryPerNode: opts.memory,
      agentLogLevel: opts.logLevel === 'silent' ? 'error' : opts.logLevel,
      apiUrlFor: clientUrl,
      firstAddress,
    });
    try {
      const { plane } = cluster;
      out(ctx, `control plane listening on ${plane.url} (cluster ${cluster.clusterId})`);
      const path = configPath(ctx.io.env);
      if (plane.adminToken) {
        const previous = await readConfig(path).catch(() => ({}));
        await writeConfig(path, { ...previous, server: clientUrl(plane.url), token: plane.adminToken });
        out(ctx, `admin token written to ${path} (mode 0600)`);
      }
      out(ctx, `${count} node(s) Ready: ${cluster.nodeNames.join(', ')}`);
      out(
        ctx,
        'next: ferry apply -f examples/ && ferry get pods -o wide   (Ctrl-C stops ferry; `ferry down` removes its containers)',
      );
      await stop.promise;
      out(ctx, 'stopping nodes and control plane');
    } finally {
      await cluster.close();
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('nodes not Ready')) throw new CliError(err.message);
    throw err;
  } finally {
    stop.dispose();
  }
}

/**
 * Removes the containers, pod networks and volumes (memory-medium emptyDirs) of the cluster of
 * this data dir only (their `ferry.cluster` label is the id in `<data-dir>/cluster-id`); another
 * cluster on this machine keeps its pods. A network still used by another cluster's containers
 * stays; volumes go after the containers that held them.
 */
async function down(ctx: CliContext, opts: { dataDir: string }): Promise<void> {
  const dataDir = resolve(ctx.io.cwd ?? process.cwd(), opts.dataDir);
  const clusterId = (await readFile(join(dataDir, 'cluster-id'), 'utf8').catch(() => '')).trim();
  if (!/^[a-z0-9]{1,32}$/.test(clusterId))
    throw new CliError(`${dataDir} holds no ferry cluster (no cluster-id file): nothing was removed`);
  await requireDocker();
  const scope = ['--filter', 'label=ferry.managed=true', '--filter', `label=ferry.cluster=${clusterId}`];
  const ids = (await run('docker', ['ps', '-aq', ...scope])).stdout.split('\n').filter(Boolean);
  if (ids.length) await run('docker', ['rm', '-f', ...ids]);
  const nets = (await run('docker', ['network', 'ls', '-q', ...scope])).stdout.split('\n').filter(Boolean);
  let removedNets = 0;
  for (const id of nets) {
    if (
      await run('docker', ['network', 'rm', id]).then(
        () => true,
        () => false,
      )
    )
      removedNets++;
  }
  const volumes = (await run('docker', ['volume', 'ls', '-q', ...scope])).stdout.split('\n').filter(Boolean);
  if (volumes.length) await run('docker', ['volume', 'rm', '-f', ...volumes]);
  out(
    ctx,
    `removed ${ids.length} container(s), ${removedNets} pod network(s) and ${volumes.length} volume(s) of cluster ${clusterId} (${dataDir})`,
  );
  const labelled = await run('docker', [
    'ps',
    '-a',
    '--filter',
    'label=ferry.managed=true',
    '--format',
    '{{.ID}} {{.Label "ferry.cluster"}}',
  ]);
  const legacy = labelled.stdout.split('\n').filter((l) => l.trim() && l.trim().split(' ').length === 1);
  if (legacy.length)
    out(
      ctx,
      `left ${legacy.length} ferry container(s) with no cluster label (made before cluster ids): docker rm -f them by hand if they are yours`,
    );
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
