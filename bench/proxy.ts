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
 * and from inside pods (client pods running node's http in `ferry.local/node:1`, the same loop):
 *   pod-direct             a client on the pod's node to the pod IP (same bridge: no proxy at all);
 *   pod-clusterip-local    another client on that node to clusterIP:80 (the node's nat chain DNATs
 *                          it to the pod IP: kernel only, agent/proxy/nat-rules.ts). Another client,
 *                          because after the DNAT both paths are the same 4-tuples at the pod:
 *                          one client cycling its ports through both at thousands of connections a
 *                          second meets the pod's TIME_WAIT sockets of the other path with TCP
 *                          timestamps of another offset (Linux keys the offset on the address pair),
 *                          and the pod drops those SYNs (1 s retransmits: measured, each path's rate
 *                          halved the later it ran). No application alternates like that;
 *   pod-clusterip-remote   the client on the other node to clusterIP:80 (its node's nat chain DNATs
 *                          it straight to the pod IP on the first node's bridge, which is on this
 *                          machine too, and its FERRY-XB chain lets that flow cross Docker's bridge
 *                          isolation: kernel only; it used to go to the pod's host port on 127.0.1.1,
 *                          Docker's userland proxy, at 0.31 of direct). A pod on one node
 *                          cannot dial the other node's published ports itself (they are on
 *                          127.0.1.N, the container's own loopback), so both cluster IP paths are held
 *                          against pod-direct, the fastest path there is.
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
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { applyDefaults, type Deployment, type Pod } from '../schemas';
import type { Service } from '../schemas/service';
import { appContainers, buildOnce, TestCluster } from '../test/e2e/helpers/cluster';
import { dnsLoad } from './lib/dns-load';
import { type Row, report } from './report';

const CONCURRENCY = 8;
const DURATION_S = 6;
const ROUNDS = 3;

/** `load` below, as a script for node inside a client pod's container; prints its result as JSON. */
const IN_POD = `const http=require('http');const [host,port,conc,ms]=process.argv.slice(1);const lat=[];let errors=0;
const end=performance.now()+Number(ms);const one=()=>new Promise((done)=>{const t0=performance.now();
const req=http.request({host,port:Number(port),path:'/',agent:false,timeout:10000},(res)=>{res.resume();res.on('end',()=>{
if(res.statusCode===200)lat.push(performance.now()-t0);else errors++;done();});});req.on('timeout',()=>req.destroy(new Error('timeout')));
req.on('error',()=>{errors++;done();});req.end();});const started=performance.now();
Promise.all(Array.from({length:Number(conc)},async()=>{while(performance.now()<end)await one();})).then(()=>{
const s=(performance.now()-started)/1000;lat.sort((a,b)=>a-b);
console.log(JSON.stringify({rps:lat.length/s,p99:lat[Math.min(lat.length-1,Math.floor(lat.length*0.99))]??0,errors}));});`;

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

  const clusterIP = svc.spec.clusterIP as string;
  const podIP = pod.status?.podIP as string;
  // Client pods: two on the pod's node (one per path: see the file comment), one on the other node.
  const [first, second] = c.names as [string, string];
  const clientNodes = { 'client-direct': first, 'client-local': first, 'client-remote': second };
  for (const [name, node] of Object.entries(clientNodes)) {
    await c.store.create(
      applyDefaults({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: {
          nodeName: node,
          containers: [{ name: 'node', image: 'ferry.local/node:1', command: ['sh', '-c', 'exec sleep 3600'] }],
        },
      } as unknown as Pod),
    );
  }
  await c.waitFor(async () => (await c.readyPods('client-')).length === 3, 60_000, 'client pods ready');
  /** Container id -> where the client runs, and the container of each client by name. */
  const clientHost = new Map<string, string>();
  const client = new Map<string, string>();
  for (const p of await c.readyPods('client-')) {
    const id = appContainers(p).join('\n');
    client.set(p.metadata.name, id);
    clientHost.set(id, p.status?.hostIP as string);
  }
  const paths = [
    ['direct', host, hostPort, undefined],
    ['proxy-local', host, nodePort, undefined],
    ['proxy-remote', other, nodePort, undefined],
    ['pod-direct', podIP, 8080, client.get('client-direct')],
    ['pod-clusterip-local', clusterIP, 80, client.get('client-local')],
    ['pod-clusterip-remote', clusterIP, 80, client.get('client-remote')],
  ] as const;
  for (const [, h, port, inPod] of paths) await load(h, port, CONCURRENCY, 2000, inPod);
  const rows: Row[] = [];
  const totals = Object.fromEntries(paths.map(([p]) => [p, { rps: 0, p99: 0 }])) as Record<
    (typeof paths)[number][0],
    { rps: number; p99: number }
  >;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [path, h, port, inPod] of paths) {
      const r = await load(h, port, CONCURRENCY, DURATION_S * 1000, inPod);
      totals[path].rps += r.rps / ROUNDS;
      totals[path].p99 += r.p99 / ROUNDS;
      const from = inPod ? `pod on ${clientHost.get(inPod)}` : 'host';
      rows.push({ round, path, from, target: `${h}:${port}`, 'req/s': r.rps, 'p99 ms': r.p99, errors: r.errors });
    }
  }
  const ratio = (path: keyof typeof totals, base: keyof typeof totals = 'direct') => ({
    rate: totals[path].rps / totals[base].rps,
    p99: totals[path].p99 / Math.max(totals[base].p99, 0.001),
  });
  // The DNS part has its own baseline; when it fails (a loaded machine), the proxy figures still count.
  const dns = await dnsLoad(c, { service: 'target', namespace: 'default', node: c.names[0] as string }).catch(
    (err: Error) => {
      process.stderr.write(`bench proxy: the DNS part failed: ${err.message}\n`);
      return { rows: [], summary: { 'dns part failed': 1 } };
    },
  );
  rows.push(...dns.rows);
  report('proxy', rows, {
    'direct req/s (mean)': totals.direct.rps,
    'proxy-local req/s (mean)': totals['proxy-local'].rps,
    'proxy-remote req/s (mean)': totals['proxy-remote'].rps,
    'rate ratio proxy-local/direct (target >= 0.7)': ratio('proxy-local').rate,
    'rate ratio proxy-remote/direct (target >= 0.7)': ratio('proxy-remote').rate,
    'p99 ratio proxy-local/direct (target <= 2)': ratio('proxy-local').p99,
    'p99 ratio proxy-remote/direct (target <= 2)': ratio('proxy-remote').p99,
    'pod-direct req/s (mean)': totals['pod-direct'].rps,
    'pod-clusterip-local req/s (mean)': totals['pod-clusterip-local'].rps,
    'pod-clusterip-remote req/s (mean)': totals['pod-clusterip-remote'].rps,
    'rate ratio pod-clusterip-local/pod-direct (target >= 0.7)': ratio('pod-clusterip-local', 'pod-direct').rate,
    'rate ratio pod-clusterip-remote/pod-direct (target >= 0.7)': ratio('pod-clusterip-remote', 'pod-direct').rate,
    'p99 ratio pod-clusterip-local/pod-direct (target <= 2)': ratio('pod-clusterip-local', 'pod-direct').p99,
    'p99 ratio pod-clusterip-remote/pod-direct (target <= 2)': ratio('pod-clusterip-remote', 'pod-direct').p99,
    concurrency: CONCURRENCY,
    'seconds per run': DURATION_S,
    ...dns.summary,
  });
} finally {
  await c.stop();
}

/**
 * `concurrency` loops of one-connection GETs for `ms`; rate, p99 latency and failures. From this
 * process, or from inside the container `inPod` (the same loop, run by the pod's node).
 */
async function load(host: string, port: number, concurrency: number, ms: number, inPod?: string) {
  if (inPod) {
    const args = ['exec', inPod, 'node', '-e', IN_POD, host, String(port), String(concurrency), String(ms)];
    // Not execFileSync: the control plane runs in this process and must keep answering meanwhile.
    const out = await new Promise<string>((resolve, reject) =>
      execFile('docker', args, { encoding: 'utf8', timeout: ms + 30_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    return JSON.parse(out.trim().split('\n').at(-1) as string) as { rps: number; p99: number; errors: number };
  }
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
