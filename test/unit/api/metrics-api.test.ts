/**
 * The resource metrics API end to end over the agent protocol: a `kubectl top` read asks the
 * pod's node for usage through its NodeDesired record, the node's next sync is told to report,
 * its report becomes the answer (metrics-server's shapes), and a node nobody asks reports nothing.
 */
import { describe, expect, it } from 'vitest';
import { POLLED_SYNC } from '../../../functions/api/agent/modes';
import type { UsageReport } from '../../../schemas/agent-protocol';
import { setup } from './agent-protocol-harness';

const METRICS = '/apis/metrics.k8s.io/v1beta1';

async function runningPod(
  s: Awaited<ReturnType<typeof setup>>,
  name: string,
  labels: Record<string, string> = { app: 'web' },
) {
  const created = await s.api.store.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'busybox' }] },
    status: { phase: 'Running' },
  });
  return (created as { metadata: { uid?: string } }).metadata.uid as string;
}

function report(pods: { name: string; uid: string; cores: number }[]): UsageReport {
  return {
    ageMs: 1000,
    windowMs: 15_000,
    node: { cpuNanoCores: 1.5e9, memoryBytes: 2 ** 30 },
    pods: pods.map((p) => ({
      pod: { namespace: 'default', name: p.name, uid: p.uid },
      containers: [{ name: 'app', cpuNanoCores: p.cores * 1e9, memoryBytes: 20 * 2 ** 20 }],
    })),
  };
}

describe('the resource metrics API', () => {
  it('is discoverable where kubectl top looks for it', async () => {
    const s = await setup(POLLED_SYNC);
    const groups = await s.api.send('GET', '/apis');
    expect(JSON.stringify(groups.json.groups)).toContain('"metrics.k8s.io/v1beta1"');
    const list = await s.api.send('GET', METRICS);
    expect(list.json.resources).toEqual([
      expect.objectContaining({ name: 'nodes', kind: 'NodeMetrics', namespaced: false }),
      expect.objectContaining({ name: 'pods', kind: 'PodMetrics', namespaced: true }),
    ]);
  });

  it("answers a pod list with the usage the pod's node reports once asked", async () => {
    const s = await setup(POLLED_SYNC);
    const first = await s.sync();
    expect(first.json.usage).toBeUndefined();
    const uid = await runningPod(s, 'web-1');
    const asking = s.api.send('GET', `${METRICS}/namespaces/default/pods`, { query: { labelSelector: 'app=web' } });
    await new Promise((r) => setTimeout(r, 50));
    const told = await s.syncAfter(first);
    expect(told.json.usage).toEqual({ everySeconds: 15 });
    await s.syncAfter(told, { usage: report([{ name: 'web-1', uid, cores: 0.25 }]) });
    const res = await asking;
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      kind: 'PodMetricsList',
      apiVersion: 'metrics.k8s.io/v1beta1',
      items: [
        {
          metadata: { name: 'web-1', namespace: 'default', labels: { app: 'web' } },
          window: '15s',
          containers: [{ name: 'app', usage: { cpu: '250000000n', memory: '20480Ki' } }],
        },
      ],
    });
    // The node keeps reporting for a while, so the next look answers at once.
    const node = await s.api.send('GET', `${METRICS}/nodes/n1`);
    expect(node.json).toMatchObject({ kind: 'NodeMetrics', usage: { cpu: '1500000000n', memory: '1048576Ki' } });
  });

  it("takes a pod's usage only from the node it is bound to", async () => {
    const s = await setup(POLLED_SYNC);
    const first = await s.sync();
    await s.api.store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'elsewhere', namespace: 'default' },
      spec: { nodeName: 'n2', containers: [{ name: 'app', image: 'busybox' }] },
      status: { phase: 'Running' },
    });
    const elsewhere = await s.api.store.get({ kind: 'Pod', namespace: 'default', name: 'elsewhere' });
    await runningPod(s, 'mine');
    const asking = s.api.send('GET', `${METRICS}/namespaces/default/pods/mine`);
    await new Promise((r) => setTimeout(r, 50));
    const told = await s.syncAfter(first);
    const mineUid = ((await s.api.store.get({ kind: 'Pod', namespace: 'default', name: 'mine' }))?.metadata.uid ??
      '') as string;
    await s.syncAfter(told, {
      usage: report([
        { name: 'mine', uid: mineUid, cores: 0.1 },
        { name: 'elsewhere', uid: elsewhere?.metadata.uid as string, cores: 9 },
      ]),
    });
    expect((await asking).status).toBe(200);
    const other = await s.api.send('GET', `${METRICS}/namespaces/default/pods/elsewhere`);
    expect(other.status).toBe(404);
    expect(other.json.message).toBe('pods.metrics.k8s.io "elsewhere" not found');
  });

  it('lets whoever may read the pods read their metrics, and no one else', async () => {
    const s = await setup(POLLED_SYNC);
    const deployer = await s.api.token({ role: 'deployer', namespaces: ['team'] });
    const res = await s.api.send('GET', `${METRICS}/namespaces/default/pods`, { token: deployer });
    expect(res.status).toBe(403);
    const write = await s.api.send('POST', `${METRICS}/namespaces/default/pods`, { body: {} });
    expect(write.status).toBe(405);
  });
});
