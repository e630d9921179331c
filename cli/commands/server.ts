/**
 * `ferry server [--port 7443] [--host 127.0.0.1] [--data-dir .ferry] [--tls-cert F --tls-key F]`: the whole control plane in
 * this process (SQLite under the data dir). On the first start of an empty store the admin token is
 * written to the CLI config (mode 0600) and only the file's path is printed: the token never
 * reaches stdout, stderr or the log. SIGINT/SIGTERM (or `io.signal`) close it cleanly.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Command } from 'commander';
import { createLogger, type LogLevel } from '../../functions/log';
import { configPath, readConfig, writeConfig } from '../config';
import { type CliContext, out } from '../context';
import { UsageError } from '../errors';

interface ServerOptions {
  port: string;
  host: string;
  dataDir: string;
  logLevel: string;
  controllers: boolean;
  tlsCert?: string;
  tlsKey?: string;
  encryptionKeyFile?: string;
  serviceClusterIpRange?: string;
  clusterDomain?: string;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];

export function register(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .description('run the API server and control loops locally (SQLite store)')
    .option('--port <port>', 'port to listen on (0: any free port)', '7443')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--data-dir <dir>', 'where the SQLite store lives', '.ferry')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--no-controllers', 'serve the API only: no scheduler or controllers in this process')
    .option('--tls-cert <file>', 'PEM certificate (chain) to serve HTTPS with (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--encryption-key-file <file>', 'keys for Secrets at rest, NAME:BASE64 per line, the first encrypting')
    .option(
      '--service-cluster-ip-range <cidr>',
      "Services' cluster IPs (default FERRY_SERVICE_CLUSTER_IP_RANGE, else 10.96.0.0/16)",
    )
    .option(
      '--cluster-domain <domain>',
      "the cluster's DNS domain, for NodePools' machines (default FERRY_CLUSTER_DOMAIN, else cluster.local)",
    )
    .action(async (opts: ServerOptions) => {
      await server(ctx, opts);
    });
}

async function server(ctx: CliContext, opts: ServerOptions): Promise<void> {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port "${opts.port}" is not a port number`);
  if (!LOG_LEVELS.includes(opts.logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const dataDir = resolve(ctx.io.cwd ?? process.cwd(), opts.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const log = createLogger(opts.logLevel as LogLevel, { component: 'server' }, (line) =>
    ctx.io.stderr.write(`${line}\n`),
  );

  const tls = await readTls(ctx, opts);

  // Loaded here, not at the top: every other command is HTTP-only and must not load SQLite.
  const { startLocalControlPlane } = await import('../../functions/runtime/local');
  const plane = await startLocalControlPlane({
    dataDir,
    port,
    host: opts.host,
    log,
    controllers: opts.controllers,
    ...(tls ? { tls } : {}),
    ...(opts.serviceClusterIpRange ? { serviceRange: opts.serviceClusterIpRange } : {}),
    ...(opts.clusterDomain ? { clusterDomain: opts.clusterDomain } : {}),
    ...(opts.encryptionKeyFile
      ? { encryptionKeyFile: resolve(ctx.io.cwd ?? process.cwd(), opts.encryptionKeyFile) }
      : {}),
  });
  const stop = stopSignal(ctx);
  try {
    out(ctx, `ferry server listening on ${plane.url} (data in ${dataDir})`);
    const path = configPath(ctx.io.env);
    if (plane.adminToken) {
      const previous = await readConfig(path).catch(() => ({}));
      await writeConfig(path, { ...previous, server: clientUrl(plane.url), token: plane.adminToken });
      out(ctx, `new store: admin token written to ${path} (mode 0600); the ferry CLI reads it from there`);
    } else {
      out(ctx, `existing store: the CLI uses the token in FERRY_TOKEN or ${path}`);
    }
    await stop.promise;
    out(ctx, 'shutting down');
  } finally {
    stop.dispose();
    await plane.close();
  }
}

async function readTls(ctx: CliContext, opts: ServerOptions): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (!opts.tlsCert && !opts.tlsKey) return undefined;
  if (!opts.tlsCert || !opts.tlsKey) throw new UsageError('--tls-cert and --tls-key go together');
  const read = async (file: string, flag: string) => {
    try {
      return await readFile(resolve(ctx.io.cwd ?? process.cwd(), file));
    } catch (err) {
      throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = await read(opts.tlsCert, '--tls-cert');
  const key = await read(opts.tlsKey, '--tls-key');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new UsageError(`--tls-cert/--tls-key: not a usable PEM certificate and key (${(err as Error).message})`);
  }
  return { cert, key };
}

/** A server bound to every interface is still reached over loopback from this machine. */
export function clientUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = '127.0.0.1';
  return u.toString().replace(/\/$/, '');
}

export function stopSignal(ctx: CliContext): { promise: Promise<void>; dispose(): void } {
  const signal = ctx.io.signal;
  if (signal) {
    let onAbort = () => {};
    const promise = new Promise<void>((done) => {
      onAbort = () => done();
      if (signal.aborted) done();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
  }
  // Handlers are removed after the first signal, so a second Ctrl-C kills a stuck shutdown.
  let handler = () => {};
  const promise = new Promise<void>((done) => {
    handler = () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      done();
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
