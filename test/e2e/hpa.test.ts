/**
 * End-to-end on real Docker: a CPU-burning pod (busybox spinning a shell loop, 100m requested)
 * makes its HorizontalPodAutoscaler scale the Deployment up, from usage the agent reads from
 * Docker's stats API and sends only once asked; `kubectl top pods` prints that usage. kubectl
 * sends a token only over TLS, so it talks to the plain-HTTP local control plane through a TLS
 * relay in this process (the test certificate). kubectl missing: that check skips, saying why.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Deployment, HorizontalPodAutoscaler } from '../../schemas';
import { kubectlProblem } from '../helpers/kubectl';
import { useCluster } from './helpers/cluster';
import { describeDocker } from './helpers/docker';

const TLS = join(import.meta.dirname, '../fixtures/tls');
const run = promisify(execFile);

describeDocker('e2e: HorizontalPodAutoscaler on real Docker', () => {
  const c = useCluster(1);
  let relay: Server | undefined;
  let kubeconfig = '';

  beforeAll(async () => {
    // A TLS front for kubectl: every request piped to the plane as it is.
    relay = createServer(
      { cert: readFileSync(join(TLS, 'cert.pem')), key: readFileSync(join(TLS, 'key.pem')) },
      (req, res) => {
        const target = new URL(c.plane.url);
        const upstream = httpRequest(
          { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      },
    );
    await new Promise<void>((resolve) => relay?.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as AddressInfo).port;
    kubeconfig = join(c.dataDir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'e2e',
            cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority': join(TLS, 'cert.pem') },
          },
        ],
        users: [{ name: 'admin', user: { token: c.cliEnv().FERRY_TOKEN } }],
        contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'admin' } }],
        'current-context': 'e2e',
      }),
    );
  }, 30_000);

  afterAll(async () => {
    await new Promise((r) => relay?.close(r));
  });

  it('scales a CPU-burning Deployment up and kubectl top prints its usage', async () => {
    // prepare: one replica spinning a core, requesting 100m; the HPA aims at 50% of the request
    await c.post<Deployment>('/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'burn' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'burn' } },
        template: {
          metadata: { labels: { app: 'burn' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'burn',
                image: 'ferry.local/busybox:1',
                command: ['sh', '-c', 'while :; do :; done'],
                resources: { requests: { cpu: '100m' }, limits: { cpu: '300m' } },
              },
            ],
          },
        },
      },
    });
    await c.waitFor(async () => (await c.readyPods('burn')).length === 1, 60_000, 'the burner Ready');

    // act
    await c.post<HorizontalPodAutoscaler>('/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers', {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'burn' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'burn' },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } },
        ],
      },
    });

    // assess: the HPA saw the burn (far above 50% of 100m) and scaled to the maximum
    const hpaPath = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/burn';
    await c.waitFor(
      async () => {
        const d = JSON.parse((await c.get('/apis/apps/v1/namespaces/default/deployments/burn')).text) as Deployment;
        return d.spec.replicas === 3;
      },
      120_000,
      'the HPA to scale burn to 3',
      1_000,
    );
    const hpa = JSON.parse((await c.get(hpaPath)).text) as HorizontalPodAutoscaler;
    expect(hpa.status?.currentMetrics?.[0]?.resource?.current.averageUtilization).toBeGreaterThan(100);
    expect(hpa.status?.lastScaleTime).toBeDefined();
    const metrics = JSON.parse(
      (await c.get('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dburn')).text,
    ) as {
      items: { containers: { usage: { cpu: string; memory: string } }[] }[];
    };
    const busiest = Math.max(...metrics.items.map((p) => Number.parseInt(p.containers[0]?.usage.cpu ?? '0', 10) / 1e6));
    // limited to 300m by its CPU limit; well above the 50m target either way
    expect(busiest).toBeGreaterThan(100);

    const problem = kubectlProblem();
    if (problem) {
      console.warn(`\n!!! kubectl top not checked: ${problem}\n`);
      return;
    }
    const top = await run('kubectl', ['--kubeconfig', kubeconfig, 'top', 'pods', '-l', 'app=burn'], {
      timeout: 60_000,
    });
    expect(top.stdout).toMatch(/NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);
    expect(top.stdout).toMatch(/burn-\S+\s+[1-9]\d{2}m\s+\d+Mi/);
  }, 300_000);
});
