/**
 * kubectl against ferry's autoscaling: `kubectl autoscale` makes an HPA, `kubectl get hpa` prints
 * its columns, and `kubectl top pod` / `kubectl top node` read the resource metrics API. The
 * simulated nodes play the agent's part in usage: whenever their NodeDesired record asks
 * (`usageUntil`), they store a report as a sync would. Where kubectl does not run this suite
 * skips, saying why (under CI it fails instead: test/helpers/kubectl.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type NodeDesired, nodeDesiredRef } from '../../../functions/node-desired';
import { storeUsage, usageRecord } from '../../../functions/node-usage';
import type { LocalControlPlane } from '../../../functions/runtime/local';
import type { Pod } from '../../../schemas';
import { describeKubectl, runKubectl, startKubectlPlane } from '../../helpers/kubectl';

describeKubectl('kubectl autoscale, get hpa and top against ferry', () => {
  let plane: LocalControlPlane;
  let kubeconfig: string;
  let dir: string;
  let stop = async () => {};
  let reporter: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    ({ plane, kubeconfig, dir, stop } = await startKubectlPlane('ferry-kubectl-hpa-', { cpu: '4' }));
    reporter = setInterval(() => void report().catch(() => undefined), 300);
  });

  afterAll(async () => {
    clearInterval(reporter);
    await stop();
  });

  /** What an asked agent sends: 200m and 32Mi per pod, half a core and 1Gi for the node. */
  async function report(): Promise<void> {
    for (const node of ['node-1', 'node-2']) {
      const desired = await plane.store.get<NodeDesired>(nodeDesiredRef(node));
      if ((desired?.spec.usageUntil ?? 0) <= Date.now()) continue;
      const pods = (await plane.store.list<Pod>('Pod', { nodeName: node })).items;
      const usage = {
        ageMs: 0,
        windowMs: 15_000,
        node: { cpuNanoCores: 5e8, memoryBytes: 2 ** 30 },
        pods: pods.map((p) => ({
          pod: { namespace: p.metadata.namespace as string, name: p.metadata.name, uid: p.metadata.uid as string },
          containers: [{ name: 'c', cpuNanoCores: 2e8, memoryBytes: 32 * 2 ** 20 }],
        })),
      };
      await storeUsage(plane.store, usageRecord(node, usage, Date.now()));
    }
  }

  const kubectl = (args: string[], timeout = 40_000) => runKubectl(kubeconfig, args, timeout);

  it('makes an HPA with kubectl autoscale and prints it with kubectl get hpa', async () => {
    const created = await kubectl(['create', 'deployment', 'web', '--image=ferry.local/busybox:1', '--replicas=1']);
    expect(created.code, created.stderr).toBe(0);
    const autoscaled = await kubectl(['autoscale', 'deployment', 'web', '--min=1', '--max=4', '--cpu-percent=60']);
    expect(autoscaled.code, autoscaled.stderr).toBe(0);
    expect(autoscaled.stdout).toContain('horizontalpodautoscaler.autoscaling/web autoscaled');
    const got = await kubectl(['get', 'hpa', 'web']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(/NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE/);
    expect(got.stdout).toMatch(/web\s+Deployment\/web\s+cpu: .+\/60%\s+1\s+4\s+/);
  });

  it('applies a v2 HPA with behavior twice (kubectl apply) and describes it', async () => {
    const manifest = join(dir, 'hpa.json');
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'applied', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [
          { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '64Mi' } } },
        ],
        behavior: {
          scaleDown: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }] },
        },
      },
    };
    await writeFile(manifest, JSON.stringify(hpa));
    const first = await kubectl(['apply', '-f', manifest]);
    expect(first.code, first.stderr).toBe(0);
    await writeFile(manifest, JSON.stringify({ ...hpa, spec: { ...hpa.spec, maxReplicas: 4 } }));
    const second = await kubectl(['apply', '-f', manifest]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('horizontalpodautoscaler.autoscaling/applied configured');
    const described = await kubectl(['describe', 'hpa', 'applied']);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toMatch(/Reference:\s+Deployment\/web/);
    expect(described.stdout).toMatch(/Max replicas:\s+4/);
  });

  it('applies an autoscaling/v1 manifest twice (kubectl apply patches the v1 view)', async () => {
    const manifest = join(dir, 'hpa-v1.json');
    const hpa = {
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'old-style', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        maxReplicas: 3,
        targetCPUUtilizationPercentage: 70,
      },
    };
    await writeFile(manifest, JSON.stringify(hpa));
    const first = await kubectl(['apply', '-f', manifest]);
    expect(first.code, first.stderr).toBe(0);
    await writeFile(manifest, JSON.stringify({ ...hpa, spec: { ...hpa.spec, targetCPUUtilizationPercentage: 40 } }));
    const second = await kubectl(['apply', '-f', manifest]);
    expect(second.code, second.stderr).toBe(0);
    const got = await kubectl(['get', 'hpa', 'old-style']);
    expect(got.stdout).toMatch(/cpu: .+\/40%/);
  });

  it('prints pod and node usage with kubectl top', { timeout: 90_000 }, async () => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const running = (await plane.store.list<Pod>('Pod', { labelSelector: 'app=web' })).items.filter(
        (p) => p.status?.phase === 'Running',
      );
      if (running.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const pods = await kubectl(['top', 'pod', '-l', 'app=web']);
    expect(pods.code, pods.stderr).toBe(0);
    expect(pods.stdout).toMatch(/NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);
    expect(pods.stdout).toMatch(/web-\S+\s+200m\s+32Mi/);
    const nodes = await kubectl(['top', 'node']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(nodes.stdout).toMatch(/node-1\s+500m\s+12%\s+1024Mi\s+12%/);
  });
});
