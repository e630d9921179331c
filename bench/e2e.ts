/**
 * `npm run bench -- e2e` (needs Docker): on one machine, in one run,
 *  (a) time from creating a 10-replica Deployment on 3 local nodes to all 10 pods Running, against
 *      `docker run -d` of the same 10 containers one after another (the physical floor);
 *  (b) failover: time from SIGKILL of an agent to its pods Running on the other nodes;
 *  (c) resident memory of an idle agent running 10 pods.
 * Targets: (a) ratio <= 1.5; (b) <= 10 s; (c) <= 60 MB.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { applyDefaults, type Deployment } from '../schemas';
import { buildOnce, docker, TestCluster } from '../test/e2e/helpers/cluster';
import { type Row, report } from './report';

const CMD = ['sh', '-c', 'echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'];

function deployment(name: string, replicas: number, nodeSelector?: Record<string, string>): Deployment {
  return applyDefaults({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...(nodeSelector ? { nodeSelector } : {}),
          terminationGracePeriodSeconds: 1,
          containers: [
            { name: 'httpd', image: 'ferry.local/busybox:1', command: CMD, ports: [{ containerPort: 8080 }] },
          ],
        },
      },
    },
  } as Deployment);
}

function dockerFloor(): number {
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < 10; i++)
    ids.push(docker('run', '-d', '--label', 'ferry-bench=1', 'ferry.local/busybox:1', ...CMD));
  const ms = performance.now() - t0;
  execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
  return ms;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

buildOnce();
const floorMs = dockerFloor();
const c = new TestCluster();
await c.start(3);
const rows: Row[] = [];
try {
  const t0 = performance.now();
  await c.store.create(deployment('bench', 10));
  await c.waitFor(
    async () => (await c.pods('bench-')).filter((p) => p.status?.phase === 'Running').length === 10,
    120_000,
    '10 Running',
    50,
  );
  const applyMs = performance.now() - t0;
  rows.push({
    measure: '10 pods Running after create (3 nodes)',
    ferry: `${(applyMs / 1000).toFixed(2)} s`,
    baseline: `${(floorMs / 1000).toFixed(2)} s (docker run -d x10)`,
    ratio: applyMs / floorMs,
  });

  const victim = 'e2e-3';
  const lost = (await c.pods('bench-')).filter((p) => p.spec.nodeName === victim).length;
  process.kill(c.provider.pidOf(victim) as number, 'SIGKILL');
  const failoverMs = await c.waitFor(
    async () => {
      const running = (await c.pods('bench-')).filter(
        (p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp,
      );
      return running.length === 10 && running.every((p) => p.spec.nodeName !== victim);
    },
    60_000,
    'failover',
    50,
  );
  rows.push({
    measure: `failover: ${lost} pods of a SIGKILLed agent Running elsewhere`,
    ferry: `${(failoverMs / 1000).toFixed(2)} s`,
    baseline: 'Kubernetes defaults: ~5 min',
    ratio: '',
  });

  await c.store.delete({ kind: 'Deployment', namespace: 'default', name: 'bench' });
  await c.waitFor(async () => (await c.pods('bench-')).length === 0, 60_000, 'cleanup');
  await c.store.create(deployment('idle', 10, { 'topology.kubernetes.io/zone': 'z1' }));
  await c.waitFor(
    async () => (await c.pods('idle-')).filter((p) => p.status?.phase === 'Running').length === 10,
    120_000,
    '10 idle pods',
  );
  await new Promise((r) => setTimeout(r, 10_000));
  const rss = rssMb(c.provider.pidOf('e2e-1') as number);
  rows.push({
    measure: 'agent resident memory, idle, 10 pods',
    ferry: `${rss.toFixed(1)} MB`,
    baseline: 'target 60 MB',
    ratio: rss / 60,
  });
  report('e2e', rows, {
    'apply ratio (target <= 1.5)': applyMs / floorMs,
    'failover s (target <= 10)': failoverMs / 1000,
    'agent RSS MB (target <= 60)': rss,
  });
} finally {
  await c.stop();
}
