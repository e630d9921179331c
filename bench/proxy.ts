/**
 * `npm run bench -- proxy` (needs Docker): HTTP load through the service proxy against the same
 * load sent straight to the container's published port, in one run on one machine.
 *
 * Two local nodes; one busybox httpd pod on the first, behind a Service. `CONCURRENCY` request
 * loops in this process send GET / for `DURATION_S` seconds to
 *   direct      the pod's host port (Docker's port publishing: its userland proxy, then the pod);
 *   proxy-local the Service's node port on the pod's own node (the agent's proxy goes straight to
 *               the pod IP, as kube-proxy does);
 *   proxy-remote the node port on the other node (that node's proxy, then the pod's host port:
 *               one extra hop over `direct`, the worst case).
 * Rounds alternate the paths so drift hits all alike.
 *
 * Why not autocannon (used by `bench api`): busybox httpd closes every connection after one
 * answer, and autocannon's latency figures are wrong for such servers (it reported a 1.2 s mean
 * at 1,000 req/s over 4 connections). Each request here opens its own connection and is timed
 * from before connect to the end of the body with performance.now().
 * Target: proxy rate >= 70% of direct, proxy p99 <= 2x direct.
 * Then DNS lookups/s and p99 from a pod through the C library (lib/dns-load.ts, its own baseline).
 * Loopback only; bounded by duration.
 */
import { request } from 'node:http';
import { applyDefaults, type Deployment, type Pod } from '../schemas';
import type { Service } from '../schemas/service';
import { buildOnce, TestCluster } from '../test/e2e/helpers/cluster';
import { dnsLoad } from './lib/dns-load';
import { type Row, report } from './report';

const CONCURRENCY = 8;
const DURATION_S = 6;
const ROUNDS = 3;

buildOnce();
const c = new TestCluster();
await c.start(2);
try {
  await c.store.create(
    applyDefaults({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'target', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'target' } },
        template: {
          metadata: { labels: { app: 'target' } },
          spec: {
            nodeSelector: { 'topology.kubernetes.io/zone': 'z1' },
            containers: [
              {
                name: 'httpd',
                image: 'ferry.local/busybox:1',
                command: ['sh', '-c', 'echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    } as unknown as Deployment),
  );
  const svc = await c.post<Service>('/api/v1/namespaces/default/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'target' },
    spec: { selector: { app: 'target' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  const nodePort = svc.spec.ports?.[0]?.nodePort as number;
  await c.waitFor(
    async () =>
      ((
        await c.store.get<{ subsets?: { addresses?: unknown[] }[] } & Service>({
          kind: 'Endpoints',
          namespace: 'default',
          name: 'target',
        })
      )?.subsets?.[0]?.addresses?.length ?? 0) === 1,
    60_000,
    'the pod in the endpoints',
  );
  const pod = (await c.readyPods('target-'))[0] as Pod;
  const host = pod.status?.hostIP as string;
  const hostPort = (pod.status as { portMappings?: { hostPort: number }[] }).portMappings?.[0]?.hostPort as number;
  const other = '127.0.1.2';
  if (host === other) throw new Error('bench proxy: the pod should run on the first node');
  // The agents' proxies listen once their sync delivered the route.
  for (const h of [host, other]) {
    await c.waitFor(async () => (await fetch(`http://${h}:${nodePort}/`)).ok, 20_000, `node port on ${h} answering`);
  }

  const paths = [
    ['direct', host, hostPort],
    ['proxy-local', host, nodePort],
    ['proxy-remote', other, nodePort],
  ] as const;
  for (const [, h, port] of paths) await load(h, port, CONCURRENCY, 2000);
  const rows: Row[] = [];
  const totals = Object.fromEntries(paths.map(([p]) => [p, { rps: 0, p99: 0 }])) as Record<
    (typeof paths)[number][0],
    { rps: number; p99: number }
  >;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [path, h, port] of paths) {
      const r = await load(h, port, CONCURRENCY, DURATION_S * 1000);
      totals[path].rps += r.rps / ROUNDS;
      totals[path].p99 += r.p99 / ROUNDS;
      rows.push({ round, path, target: `${h}:${port}`, 'req/s': r.rps, 'p99 ms': r.p99, errors: r.errors });
    }
  }
  const ratio = (path: 'proxy-local' | 'proxy-remote') => ({
    rate: totals[path].rps / totals.direct.rps,
    p99: totals[path].p99 / Math.max(totals.direct.p99, 0.001),
  });
  const dns = await dnsLoad(c, { service: 'target', namespace: 'default', node: c.names[0] as string });
  rows.push(...dns.rows);
  report('proxy', rows, {
    'direct req/s (mean)': totals.direct.rps,
    'proxy-local req/s (mean)': totals['proxy-local'].rps,
    'proxy-remote req/s (mean)': totals['proxy-remote'].rps,
    'rate ratio proxy-local/direct (target >= 0.7)': ratio('proxy-local').rate,
    'rate ratio proxy-remote/direct (target >= 0.7)': ratio('proxy-remote').rate,
    'p99 ratio proxy-local/direct (target <= 2)': ratio('proxy-local').p99,
    'p99 ratio proxy-remote/direct (target <= 2)': ratio('proxy-remote').p99,
    concurrency: CONCURRENCY,
    'seconds per run': DURATION_S,
    ...dns.summary,
  });
} finally {
  await c.stop();
}

/** `concurrency` loops of one-connection GETs for `ms`; rate, p99 latency and failures. */
async function load(host: string, port: number, concurrency: number, ms: number) {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request({ host, port, path: '/', agent: false, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
          else errors++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0;
  return { rps: latencies.length / seconds, p99, errors };
}
