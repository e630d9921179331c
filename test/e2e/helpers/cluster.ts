/**
 * A real local cluster for end-to-end tests: the control plane in this process (SQLite in a temp
 * dir) and N agent processes from dist/agent.js driving the real Docker Engine, made by the local
 * provider exactly as `ferry up` makes them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { silentLogger } from '../../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../../functions/runtime/local';
import { issueToken } from '../../../functions/tokens';
import { LocalProvider } from '../../../providers/local';
import type { Node, Pod } from '../../../schemas';
import type { Endpoints } from '../../../schemas/service';
import { buildDist } from '../../helpers/build';

type EndpointAddress = NonNullable<NonNullable<Endpoints['subsets']>[number]['addresses']>[number];

const ROOT = join(import.meta.dirname, '../../..');

/** For benches (synchronous: they call it first thing): the test images and a fresh `dist/`. */
export function buildOnce(): void {
  execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
  execFileSync('node', [join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit', cwd: ROOT });
}

/** For suites: the test images (kept when present) and `dist/`, built once per run (helpers/build.ts). */
export async function buildForSuite(): Promise<void> {
  execFileSync('bash', [join(ROOT, 'scripts/build-test-images.sh')], { stdio: 'ignore' });
  await buildDist();
}

export class TestCluster {
  plane!: LocalControlPlane;
  /** Issued by the first start only (a restarted plane finds a non-empty store and issues none). */
  private adminToken = '';
  provider!: LocalProvider;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
  port = 0;
  names: string[] = [];
  private stopped = false;

  async start(nodes: number): Promise<void> {
    this.provider = new LocalProvider({
      dataDir: this.dataDir,
      agentCommand: [process.execPath, join(ROOT, 'dist/agent.js')],
      sandboxImage: 'ferry.local/pause:1',
      cpuPerNode: '2',
      memoryPerNode: '2Gi',
      extraEnv: { FERRY_RESTART_BACKOFF_MS: '1000', FERRY_LOG_LEVEL: 'warn' },
    });
    await this.startControlPlane();
    const { token } = await issueToken(this.plane.deps, {
      role: 'bootstrap',
      ttlSeconds: 600,
      maxUses: nodes,
      nodeLabels: { 'ferry.dev/pool': 'e2e' },
    });
    for (let i = 1; i <= nodes; i++) await this.launch(`e2e-${i}`, `z${i}`, token);
    await this.waitFor(async () => (await this.readyNodes()).length === nodes, 30_000, 'nodes Ready');
  }

  /** One more agent, joining later with a bootstrap token of its own. */
  async addNode(name: string, zone: string): Promise<void> {
    const { token } = await issueToken(this.plane.deps, {
      role: 'bootstrap',
      ttlSeconds: 600,
      maxUses: 1,
      nodeLabels: { 'ferry.dev/pool': 'e2e' },
    });
    await this.launch(name, zone, token);
  }

  /** Starts agent `name` in `zone`, as the local provider starts a pool's instance. */
  private async launch(name: string, zone: string, token: string): Promise<void> {
    this.names.push(name);
    await this.provider.createInstance({
      name,
      cluster: 'e2e',
      cloud: { name: 'e2e', uid: 'e2e' },
      pool: 'e2e',
      instanceType: 'local',
      zone,
      bootstrap: { apiUrl: this.plane.url, token, labels: {} },
      tags: {},
    });
  }

  /** The environment a `ferry` CLI run needs to act as the admin on this cluster. */
  cliEnv(): Record<string, string> {
    return { FERRY_SERVER: this.plane.url, FERRY_TOKEN: this.adminToken, FERRY_CONFIG: join(this.dataDir, 'cli.json') };
  }

  async startControlPlane(): Promise<void> {
    this.plane = await startLocalControlPlane({
      dataDir: this.dataDir,
      port: this.port,
      log: silentLogger,
      provider: this.provider,
    });
    this.port = this.plane.port;
    this.adminToken ||= this.plane.adminToken ?? '';
  }

  async stopControlPlane(): Promise<void> {
    await this.plane.close();
  }

  /** Stops the agents and the control plane; a second call does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const name of this.names) {
      const id = `local-${name}`;
      await this.provider.deleteInstance(id).catch(() => undefined);
    }
    await this.provider.close();
    await this.plane.close().catch(() => undefined);
  }

  /** POSTs an object through the API as a user would (admission, node port allocation); the created object. */
  async post<T>(path: string, body: unknown): Promise<T> {
    const res = await fetch(`${this.plane.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const created = (await res.json()) as T;
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(created)}`);
    return created;
  }

  /** Merge-patches an object through the API as `kubectl patch --type merge` does; the patched object. */
  async patch<T>(path: string, body: unknown): Promise<T> {
    const res = await fetch(`${this.plane.url}${path}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify(body),
    });
    const patched = (await res.json()) as T;
    if (res.status !== 200) throw new Error(`PATCH ${path}: ${res.status} ${JSON.stringify(patched)}`);
    return patched;
  }

  /** GETs a path through the API as the admin; the status and the raw body. */
  async get(path: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.plane.url}${path}`, {
      headers: { authorization: `Bearer ${this.adminToken}` },
    });
    return { status: res.status, text: await res.text() };
  }

  get store() {
    return this.plane.store;
  }

  async readyNodes(): Promise<string[]> {
    const nodes = (await this.store.list<Node>('Node')).items;
    return nodes
      .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((n) => n.metadata.name);
  }

  /** The ready addresses in the Endpoints of Service `name`. */
  async endpointAddresses(name: string, namespace = 'default'): Promise<EndpointAddress[]> {
    const endpoints = await this.store.get<Endpoints>({ kind: 'Endpoints', namespace, name });
    return endpoints?.subsets?.flatMap((s) => s.addresses ?? []) ?? [];
  }

  async pods(prefix = ''): Promise<Pod[]> {
    return (await this.store.list<Pod>('Pod')).items.filter((p) => p.metadata.name.startsWith(prefix));
  }

  async readyPods(prefix = ''): Promise<Pod[]> {
    return (await this.pods(prefix)).filter(
      (p) =>
        !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  }

  async waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, every = 200): Promise<number> {
    const start = Date.now();
    for (;;) {
      if (await check().catch(() => false)) return Date.now() - start;
      if (Date.now() - start > timeoutMs) throw new Error(`e2e: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, every));
    }
  }
}

export interface ClusterOptions {
  /** How long building, `before` and starting may take (default 120 s). */
  setupMs?: number;
  /** Runs after the build, before the cluster starts (the agents inherit the environment it sets). */
  before?: () => Promise<void> | void;
}

/**
 * The suite's cluster of `nodes` agents: built and started before its tests, stopped after them
 * (a test may stop it sooner: `stop` is once). Call it at the top of a `describe`.
 */
export function useCluster(nodes: number, o: ClusterOptions = {}): TestCluster {
  const c = new TestCluster();
  beforeAll(async () => {
    await buildForSuite();
    await o.before?.();
    await c.start(nodes);
  }, o.setupMs ?? 120_000);
  afterAll(() => c.stop(), 60_000);
  return c;
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

/** IDs of the running containers of a pod (its app containers, not the sandbox). */
export function appContainers(pod: Pod): string[] {
  return docker(
    'ps',
    '-q',
    '--no-trunc',
    '--filter',
    `label=ferry.pod.uid=${pod.metadata.uid}`,
    '--filter',
    'label=ferry.role=container',
  )
    .split('\n')
    .filter(Boolean);
}
