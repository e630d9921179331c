/**
 * End-to-end on real Docker: an autoscaled NodePool on a local Cloud. A Deployment scaled past the
 * room of the pool's one node leaves a pod Unschedulable; the cluster autoscaler asks for a second
 * node and the local provider starts another agent process, which registers and runs the pod.
 * Scaled back, the idle node is retired (drained, its agent stopped) after the unneeded time.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../functions/log';
import { type LocalControlPlane, startLocalControlPlane } from '../../functions/runtime/local';
import type { Obj } from '../../functions/store/types';
import { LocalProvider } from '../../providers/local';
import type { Cloud, Node, NodePool, Pod } from '../../schemas';
import { applyDefaults } from '../../schemas';
import { buildForSuite } from './helpers/cluster';
import { describeDocker } from './helpers/docker';
import { httpdContainer } from './helpers/workloads';

const ROOT = join(import.meta.dirname, '../..');

describeDocker('cluster autoscaler on the local provider', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-e2e-autoscaler-'));
  let provider: LocalProvider;
  let plane: LocalControlPlane;

  const request = async (method: string, path: string, body: unknown, type = 'application/json') => {
    const res = await fetch(`${plane.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${plane.adminToken}`, 'content-type': type },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const waitFor = async (check: () => Promise<boolean>, timeoutMs: number, what: string) => {
    const start = Date.now();
    while (!(await check().catch(() => false))) {
      if (Date.now() - start > timeoutMs) throw new Error(`e2e: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const poolNodes = async () =>
    (await plane.store.list<Node>('Node')).items.filter((n) => n.metadata.labels?.['ferry.dev/pool'] === 'web');
  const ready = (n: Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const agents = async () => {
    const cloud = (await plane.store.get<Cloud>({ kind: 'Cloud', name: 'local-1' })) as Cloud;
    const list = await provider.listInstances({
      cluster: 'e2e-as',
      cloud: { name: 'local-1', uid: cloud.metadata.uid as string },
    });
    return list.filter((i) => i.state === 'running');
  };
  const appPods = async () =>
    (await plane.store.list<Pod>('Pod', { namespace: 'default' })).items.filter(
      (p) => p.metadata.labels?.app === 'app',
    );

  beforeAll(async () => {
    await buildForSuite();
    provider = new LocalProvider({
      dataDir,
      agentCommand: [process.execPath, join(ROOT, 'dist/agent.js')],
      sandboxImage: 'ferry.local/pause:1',
      cpuPerNode: '1',
      memoryPerNode: '1Gi',
      extraEnv: { FERRY_RESTART_BACKOFF_MS: '1000', FERRY_LOG_LEVEL: 'warn' },
    });
    plane = await startLocalControlPlane({
      dataDir,
      port: 0,
      log: silentLogger,
      provider,
      resyncMs: 1000,
      cluster: 'e2e-as',
    });
    await plane.store.create(
      applyDefaults({
        apiVersion: 'ferry.dev/v1',
        kind: 'Cloud',
        metadata: { name: 'local-1' },
        spec: { type: 'local' },
      }),
    );
  }, 180_000);

  afterAll(async () => {
    for (const i of await agents().catch(() => [])) await provider.deleteInstance(i.id).catch(() => undefined);
    await provider?.close();
    await plane?.close();
  }, 60_000);

  it('refuses desiredNodes on an autoscaled pool through the API, naming the field', async () => {
    const res = await request('POST', '/apis/ferry.dev/v1/nodepools', {
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'bad' },
      spec: {
        cloud: 'local-1',
        instanceType: 'local',
        zones: ['local-a'],
        maxNodes: 2,
        desiredNodes: 1,
        autoscaling: { enabled: true },
      },
    });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('spec.desiredNodes');
    expect(await plane.store.get({ kind: 'NodePool', name: 'bad' })).toBeUndefined();
  });

  it("starts another node agent for a pod the pool's one node has no room for, and retires it once idle", async () => {
    const created = await request('POST', '/apis/ferry.dev/v1/nodepools', {
      apiVersion: 'ferry.dev/v1',
      kind: 'NodePool',
      metadata: { name: 'web' },
      spec: {
        cloud: 'local-1',
        instanceType: 'local',
        zones: ['local-a'],
        minNodes: 1,
        maxNodes: 3,
        autoscaling: { enabled: true, scaleDownUnneededSeconds: 5, scaleDownDelayAfterAddSeconds: 0 },
      },
    });
    expect(created.status).toBe(201);
    await waitFor(async () => (await poolNodes()).filter(ready).length === 1, 60_000, 'the first node Ready');

    // Two pods of 600m on 1-cpu nodes: the second has no room until a second node comes.
    const container = { ...httpdContainer({ reply: 'ok', port: false }), resources: { requests: { cpu: '600m' } } };
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'app' } },
        template: {
          metadata: { labels: { app: 'app' } },
          spec: { terminationGracePeriodSeconds: 1, containers: [container] },
        },
      },
    };
    expect((await request('POST', '/apis/apps/v1/namespaces/default/deployments', deployment)).status).toBe(201);
    await waitFor(
      async () =>
        (await appPods()).filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
          .length === 2,
      120_000,
      'both pods Ready on two nodes',
    );
    expect(await agents()).toHaveLength(2);
    // One more agent, not two: passes while it started (every second) counted it as coming.
    expect(readdirSync(join(dataDir, 'nodes'))).toHaveLength(2);
    const onNodes = new Set((await appPods()).map((p) => p.spec.nodeName));
    expect(onNodes.size).toBe(2);
    const pool = (await plane.store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool;
    expect(pool.status?.autoscaling?.desiredNodes).toBe(2);
    const events = (await plane.store.list<Obj & { reason?: string }>('Event')).items;
    expect(events.some((e) => e.reason === 'TriggeredScaleUp')).toBe(true);

    // Back to one pod: the idle node goes, its agent stopped; the pod left keeps running.
    const scaled = await request(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/app',
      { spec: { replicas: 1 } },
      'application/merge-patch+json',
    );
    expect(scaled.status).toBe(200);
    await waitFor(
      async () => (await agents()).length === 1 && (await poolNodes()).length === 1,
      120_000,
      'the idle node retired',
    );
    const after = (await plane.store.get<NodePool>({ kind: 'NodePool', name: 'web' })) as NodePool;
    expect(after.status?.autoscaling?.desiredNodes).toBe(1);
    await waitFor(
      async () =>
        (await appPods()).filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running').length === 1,
      60_000,
      'the remaining pod Running',
    );
  }, 300_000);
});
