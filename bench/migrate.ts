/**
 * `npm run bench -- migrate` (needs Docker; run it under the Docker lock): moving a live app
 * between two Clouds of one type, the case of issue 17. In this process: a local control plane
 * (SQLite) with two local Clouds, a NodePool of 2 nodes in the first, a 3-replica Deployment
 * behind a LoadBalancer Service; then `spec.cloud` changes to the second Cloud while a client
 * sends requests through the load balancers in a bounded loop.
 *
 * The client resolves the Service as a DNS name with one record per entry of
 * `status.loadBalancer.ingress` (refreshed every 500 ms, as a short TTL would), round-robin, and
 * like a browser with several A records tries the next address when one refuses the connection.
 * Figures: failed requests (target 0), seconds from the change until every pod runs in the new
 * Cloud and the old Cloud's machines are gone, machines made for the move (target: desiredNodes)
 * and the most machines alive at once (target: desiredNodes + maxSurge = 3).
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../functions/log';
import { startLocalControlPlane } from '../functions/runtime/local';
import { LocalProvider } from '../providers/local';
import type { LoadBalancerIngress } from '../providers/types';
import { applyDefaults, type Cloud, type Node, type NodePool, type Pod } from '../schemas';
import type { Service } from '../schemas/service';
import { buildOnce } from '../test/e2e/helpers/cluster';
import { type Row, report } from './report';

const ROOT = join(import.meta.dirname, '..');
const DESIRED = 2;
const MAX_SURGE = 1;
const MOVE_TIMEOUT_MS = 300_000;
const MAX_REQUESTS = 20_000;

buildOnce();
const dataDir = mkdtempSync(join(tmpdir(), 'ferry-migrate-'));
const provider = new LocalProvider({
  dataDir,
  agentCommand: [process.execPath, join(ROOT, 'dist/agent.js')],
  sandboxImage: 'ferry.local/pause:1',
  cpuPerNode: '2',
  memoryPerNode: '2Gi',
  extraEnv: { FERRY_RESTART_BACKOFF_MS: '1000', FERRY_LOG_LEVEL: 'warn' },
});
const plane = await startLocalControlPlane({
  dataDir,
  port: 0,
  log: silentLogger,
  provider,
  resyncMs: 1000,
  cluster: 'bench',
});
const store = plane.store;

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`migrate: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${plane.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${plane.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

const cloudOf = (n: Node) => n.metadata.labels?.['ferry.dev/cloud'];
const isReady = (n: Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const machinesMade = () => readdirSync(join(dataDir, 'nodes')).length;
async function alive(cloud: string): Promise<number> {
  const c = (await store.get<Cloud>({ kind: 'Cloud', name: cloud })) as Cloud;
  const list = await provider.listInstances({
    cluster: 'bench',
    cloud: { name: cloud, uid: c.metadata.uid as string },
  });
  return list.filter((i) => i.state !== 'terminated').length;
}
async function ingress(): Promise<LoadBalancerIngress[]> {
  const svc = await store.get<Service>({ kind: 'Service', namespace: 'default', name: 'web' });
  return (svc?.status?.loadBalancer?.ingress ?? []) as LoadBalancerIngress[];
}
async function webPods(): Promise<Pod[]> {
  return (await store.list<Pod>('Pod', { namespace: 'default' })).items.filter((p) => p.metadata.labels?.app === 'web');
}

/** Why requests failed (error code or HTTP status), for the report. */
const failures: Record<string, number> = {};
function get(host: string, port: number): Promise<'ok' | 'refused' | 'failed'> {
  const fail = (why: string) => {
    failures[why] = (failures[why] ?? 0) + 1;
    return 'failed' as const;
  };
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', timeout: 3000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : fail(`HTTP ${res.statusCode}`)));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(fail(err.code ?? err.message)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : fail(err.code ?? err.message)),
    );
    req.end();
  });
}

try {
  for (const name of ['local-1', 'local-2'])
    await store.create(
      applyDefaults({ apiVersion: 'ferry.dev/v1', kind: 'Cloud', metadata: { name }, spec: { type: 'local' } }),
    );
  await store.create(
    applyDefaults({
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'web' },
      spec: { cloud: 'local-1', instanceType: 'local', zones: ['local-a'], desiredNodes: DESIRED, maxSurge: MAX_SURGE },
    } as NodePool),
  );
  await waitFor(
    async () =>
      (await store.list<Node>('Node')).items.filter((n) => cloudOf(n) === 'local-1' && isReady(n)).length === DESIRED,
    120_000,
    'the pool Ready in local-1',
  );
  await post('/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'httpd',
              image: 'ferry.local/busybox:1',
              command: ['sh', '-c', 'echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'],
              ports: [{ containerPort: 8080 }],
            },
          ],
        },
      },
    },
  });
  await post('/api/v1/namespaces/default/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await waitFor(
    async () =>
      (await webPods()).filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .length === 3 && (await ingress()).length > 0,
    120_000,
    '3 ready pods behind a load balancer',
  );

  // The client: a bounded loop through every address the Service lists.
  let addresses: LoadBalancerIngress[] = await ingress();
  let stop = false;
  const counts = { ok: 0, failed: 0, refusedThenRetried: 0, sent: 0 };
  const seenAddresses = new Set<string>();
  const refresher = setInterval(() => {
    ingress().then(
      (a) => {
        if (a.length > 0) addresses = a;
      },
      () => undefined,
    );
  }, 500);
  const client = (async () => {
    for (let i = 0; !stop && counts.sent < MAX_REQUESTS; i++) {
      counts.sent++;
      const list = addresses;
      let outcome: 'ok' | 'refused' | 'failed' = 'failed';
      for (let k = 0; k < list.length; k++) {
        const a = list[(i + k) % list.length] as LoadBalancerIngress;
        const host = a.ip ?? a.hostname ?? '';
        seenAddresses.add(host);
        outcome = await get(host, a.ports?.[0]?.port ?? 80);
        if (outcome !== 'refused') break;
        counts.refusedThenRetried++;
      }
      if (outcome === 'ok') counts.ok++;
      else counts.failed++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await new Promise((r) => setTimeout(r, 3000)); // traffic before the move

  const madeBefore = machinesMade();
  let peak = 0;
  const sampler = setInterval(() => {
    Promise.all([alive('local-1'), alive('local-2')]).then(
      ([a, b]) => {
        peak = Math.max(peak, a + b);
      },
      () => undefined,
    );
  }, 250);
  const pool = (await store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool;
  const t0 = Date.now();
  await store.update({ ...pool, spec: { ...pool.spec, cloud: 'local-2', zones: ['local-b'] } });
  await waitFor(
    async () => {
      const nodes = new Map((await store.list<Node>('Node')).items.map((n) => [n.metadata.name, n]));
      const pods = (await webPods()).filter((p) => !p.metadata.deletionTimestamp);
      const running = pods.filter(
        (p) => p.status?.phase === 'Running' && cloudOf(nodes.get(p.spec.nodeName ?? '') as Node) === 'local-2',
      );
      return running.length === 3 && pods.length === 3 && (await alive('local-1')) === 0;
    },
    MOVE_TIMEOUT_MS,
    'every pod in local-2 and local-1 empty',
  );
  const moveSeconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 3000)); // traffic after the move
  stop = true;
  await client;
  clearInterval(refresher);
  clearInterval(sampler);
  const made = machinesMade() - madeBefore;
  const finalIngress = await ingress();
  const status = ((await store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool).status;

  const rows: Row[] = [
    { measure: 'requests through the load balancers', ferry: counts.sent, target: '' },
    { measure: 'failed requests', ferry: counts.failed, target: 0 },
    { measure: 'refused on one address, served by the next', ferry: counts.refusedThenRetried, target: '' },
    { measure: 's until every pod runs in local-2 and local-1 has no machine', ferry: moveSeconds, target: '' },
    { measure: 'machines made for the move', ferry: made, target: DESIRED },
    { measure: 'most machines alive at once', ferry: peak, target: DESIRED + MAX_SURGE },
    { measure: 'load balancer addresses the client used', ferry: seenAddresses.size, target: 2 },
  ];
  report('migrate', rows, {
    failedRequests: counts.failed,
    failures: JSON.stringify(failures),
    requests: counts.sent,
    moveSeconds,
    machinesMade: made,
    peakMachines: peak,
    finalIngress: JSON.stringify(finalIngress),
    degraded: status?.conditions?.some((c) => c.type === 'Degraded' && c.status === 'True') ?? false,
  });
} finally {
  for (const name of readdirSync(join(dataDir, 'nodes'), { withFileTypes: true }))
    if (name.isDirectory()) await provider.deleteInstance(`local-${name.name}`).catch(() => undefined);
  await provider.close();
  await plane.close().catch(() => undefined);
}
