/**
 * `kubectl drain` against ferry: kubectl finds `pods/eviction` in discovery, evicts through it,
 * retries while a PodDisruptionBudget answers 429, and skips DaemonSet pods with
 * --ignore-daemonsets. Where kubectl does not run this suite skips, saying why (under CI it fails
 * instead: test/helpers/kubectl.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalControlPlane } from '../../../functions/runtime/local';
import type { Pod } from '../../../schemas';
import { describeKubectl, runKubectl, startKubectlPlane } from '../../helpers/kubectl';

const manifests = [
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'guarded' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'guarded' } },
      template: {
        metadata: { labels: { app: 'guarded' } },
        spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      },
    },
  },
  {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'guarded' },
    spec: { minAvailable: 1, selector: { matchLabels: { app: 'guarded' } } },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: { containers: [{ name: 'c', image: 'ferry.local/busybox:1' }] },
      },
    },
  },
];

describeKubectl('kubectl drain against ferry', () => {
  let plane: LocalControlPlane;
  let dir: string;
  let kubeconfig: string;
  let stop = async () => {};

  beforeAll(async () => {
    ({ plane, dir, kubeconfig, stop } = await startKubectlPlane('ferry-kubectl-drain-', {
      cpu: '4',
      startDelayMs: 1_500,
    }));
  });

  afterAll(() => stop());

  const kubectl = (args: string[], timeout = 20_000) => runKubectl(kubeconfig, args, timeout);
  const ready = async (app: string) =>
    (await plane.store.list<Pod>('Pod', { labelSelector: `app=${app}` })).items.filter(
      (p) =>
        !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  const until = async (done: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000;
    while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  };

  it('drains a node through evictions, waiting for the budget, and leaves the DaemonSet pod', async () => {
    // prepare: both guarded replicas on node-1
    await kubectl(['cordon', 'node-2']);
    const file = join(dir, 'manifests.json');
    await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }));
    const created = await kubectl(['apply', '-f', file]);
    expect(created.code, created.stderr).toBe(0);
    // The DaemonSet tolerates the cordon (as in Kubernetes), so node-2 gets its pod too: waiting
    // for one agent pod here never ended before the 30 s bound.
    await until(async () => (await ready('guarded')).length === 2 && (await ready('agent')).length === 2);
    await kubectl(['uncordon', 'node-2']);
    await until(async () => (await ready('agent')).length === 2);
    const pdb = await kubectl(['get', 'pdb']);

    let fewest = 2;
    const watch = setInterval(async () => {
      fewest = Math.min(fewest, (await ready('guarded')).length);
    }, 100);

    // act
    const refused = await kubectl(['drain', 'node-1']);
    const drained = await kubectl(['drain', 'node-1', '--ignore-daemonsets', '--timeout=60s'], 70_000);
    clearInterval(watch);

    // assess
    expect(pdb.stdout).toMatch(/^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\n/);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/cannot delete DaemonSet-managed Pods/);
    expect(drained.code, drained.stderr).toBe(0);
    // The second eviction got 429s until the first pod's replacement was Ready on node-2 (client-go
    // retries a 429 that carries Retry-After by itself, so kubectl prints nothing while it waits).
    expect(fewest).toBeGreaterThanOrEqual(1);
    expect(drained.stdout).toMatch(/pod\/guarded-\S+ evicted/);
    expect(drained.stdout).toMatch(/node\/node-1 drained/);
    await until(async () => (await ready('guarded')).length === 2);
    expect((await ready('guarded')).map((p) => p.spec.nodeName)).toEqual(['node-2', 'node-2']);
    expect((await ready('agent')).map((p) => p.spec.nodeName).sort()).toEqual(['node-1', 'node-2']);
  }, 120_000);
});
