/**
 * What one agent process talks to, faked for a Docker-free churn (bench/agent-churn.ts): a Docker
 * Engine API on a unix socket (containers are records that "run" once started; inspect, stop,
 * remove, logs, the pod network) and the agent protocol of the API (register, sync with the pods
 * bound to the node, token, logs). The sync is held while nothing changed, as `ferry up` holds
 * it, and the pods a sync reports terminated leave the bound set, as the API drops them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

interface FakeContainer {
  id: string;
  labels: Record<string, string>;
  running: boolean;
  n: number;
  startedAt?: string;
}

interface BoundPod {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string; [k: string]: unknown };
  spec: Record<string, unknown>;
  status?: { phase?: string };
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined));
    req.on('error', reject);
  });
}

/** The Docker Engine API calls agent/runtime/docker.ts makes, on `socketPath`. */
export function fakeDocker(socketPath: string, gateway: string): Promise<Server> {
  const containers = new Map<string, FakeContainer>();
  let next = 0;
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://docker').pathname.replace(/^\/v1\.\d+/, '');
    const body = await readBody(req);
    const id = /^\/containers\/(\w+)(\/\w+)?$/.exec(path);
    const c = id ? containers.get(id[1] as string) : undefined;
    if (path === '/version') return send(res, 200, { Version: 'fake' });
    if (path === '/containers/json')
      return send(
        res,
        200,
        [...containers.values()].map((x) => ({ Id: x.id, Labels: x.labels, State: x.running ? 'running' : 'exited' })),
      );
    if (path.startsWith('/networks/') && req.method === 'GET')
      return send(res, 200, {
        Id: 'fa4e0000000000000000',
        Name: decodeURIComponent(path.slice('/networks/'.length)),
        Options: { 'com.docker.network.bridge.name': 'fake0' },
        IPAM: { Config: [{ Gateway: gateway }] },
      });
    if (path.startsWith('/images/')) return send(res, 200, { Config: { User: '' } });
    if (path === '/volumes') return send(res, 200, { Volumes: [] });
    if (path === '/containers/create') {
      const x = { id: `fake${++next}`.padEnd(64, '0'), labels: (body?.Labels ?? {}) as FakeContainer['labels'] };
      containers.set(x.id, { ...x, running: false, n: next });
      return send(res, 201, { Id: x.id });
    }
    if (!c) return send(res, 404, { message: `no such container or call: ${req.method} ${path}` });
    const action = id?.[2];
    if (action === '/start') {
      c.running = true;
      c.startedAt = new Date().toISOString();
      return send(res, 204);
    }
    if (action === '/stop') {
      c.running = false;
      return send(res, 204);
    }
    if (action === '/logs') return send(res, 200);
    if (action === '/json')
      return send(res, 200, {
        Id: c.id,
        State: {
          Running: c.running,
          ExitCode: 0,
          OOMKilled: false,
          StartedAt: c.startedAt ?? '0001-01-01T00:00:00Z',
          FinishedAt: '0001-01-01T00:00:00Z',
        },
        Config: { Labels: c.labels },
        NetworkSettings: { IPAddress: '', Networks: { fake: { IPAddress: `10.98.${(c.n >> 8) & 255}.${c.n & 255}` } } },
      });
    if (!action && req.method === 'DELETE') {
      containers.delete(c.id);
      return send(res, 204);
    }
    send(res, 404, { message: `not faked: ${req.method} ${path}` });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

/** The agent protocol's side of the API for one node, with the pods bound to it. */
export class FakeApi {
  readonly bound = new Map<string, BoundPod>();
  syncs = 0;
  private version = 0;
  private seq = 0;
  private waiting: (() => void)[] = [];
  readonly server: Server;

  constructor(private readonly node: string) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => resolve()));
  }

  close(): void {
    for (const w of this.waiting.splice(0)) w();
    this.server.closeAllConnections();
    this.server.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readBody(req)) ?? {};
    if (req.url === '/agent/v1/register') return send(res, 200, { nodeName: this.node, token: 'node-token' });
    if (req.url === '/agent/v1/token') return send(res, 200, { automount: false });
    if (req.url === '/agent/v1/logs') return send(res, 200, {});
    if (req.url !== '/agent/v1/sync') return send(res, 404, {});
    this.syncs++;
    for (const t of (body.terminated ?? []) as { uid: string }[]) this.bound.delete(t.uid);
    for (const s of (body.podStatuses ?? []) as { pod: { uid: string }; status: BoundPod['status'] }[]) {
      const p = this.bound.get(s.pod.uid);
      if (p) p.status = s.status;
    }
    const held = (body.versions as { pods?: string } | undefined)?.pods;
    if (body.waitSeconds && held === String(this.version)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Number(body.waitSeconds) * 1000);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
        req.on('close', () => clearTimeout(timer));
      });
    }
    const v = String(this.version);
    send(res, 200, {
      versions: { pods: v, config: '1', logs: '1', routes: '1' },
      ...(held === v ? {} : { pods: [...this.bound.values()], routes: { full: true, services: [] } }),
      nodeStatusUpdateSeconds: 60,
      leaseRenewedAt: Date.now(),
    });
  }

  private changed(): void {
    this.version++;
    for (const w of this.waiting.splice(0)) w();
  }

  private live(): BoundPod[] {
    return [...this.bound.values()].filter((p) => !p.metadata.deletionTimestamp);
  }

  private add(round: number): void {
    const n = ++this.seq;
    const uid = `uid-${n}`;
    this.bound.set(uid, {
      metadata: { name: `fp-${n}`, namespace: 'default', uid, labels: { app: 'fp' } },
      spec: {
        nodeName: this.node,
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        containers: [{ name: 'httpd', image: 'img', env: [{ name: 'ROUND', value: String(round) }] }],
      },
    });
  }

  private remove(p: BoundPod): void {
    p.metadata.deletionTimestamp = new Date().toISOString();
    p.metadata.deletionGracePeriodSeconds = 1;
  }

  /** Replaces every live pod with a new one (a rolling update at 100% surge). */
  replaceAll(round: number): void {
    const live = this.live();
    for (const p of live) this.remove(p);
    for (let i = 0; i < live.length; i++) this.add(round);
    this.changed();
  }

  scaleTo(n: number, round: number): void {
    const live = this.live();
    for (const p of live.slice(n)) this.remove(p);
    for (let i = live.length; i < n; i++) this.add(round);
    this.changed();
  }

  /** Until exactly `n` pods are bound and all of them Running (terminating ones reported gone). */
  async settle(n: number, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.bound.size === n && this.live().every((p) => p.status?.phase === 'Running')) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the agent did not settle at ${n} pods in ${timeoutMs} ms (${this.bound.size} bound)`);
  }
}
