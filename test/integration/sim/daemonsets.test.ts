/**
 * DaemonSets in simulation: one pod per eligible node, bound by the scheduler, following nodes
 * that join, leave, change labels or taints; rolling updates within maxUnavailable and maxSurge,
 * OnDelete, and the status counts `kubectl get ds` prints.
 */
import { describe, expect, it } from 'vitest';
import type { DaemonSet, Node, Pod } from '../../../schemas';
import { Simulation } from './harness';

function daemonSet(
  extra: {
    nodeSelector?: Record<string, string>;
    strategy?: DaemonSet['spec']['updateStrategy'];
    image?: string;
    minReadySeconds?: number;
    tolerations?: unknown[];
  } = {},
): DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'logs', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'logs' } },
      ...(extra.strategy ? { updateStrategy: extra.strategy } : {}),
      ...(extra.minReadySeconds ? { minReadySeconds: extra.minReadySeconds } : {}),
      template: {
        metadata: { labels: { app: 'logs' } },
        spec: {
          containers: [
            { name: 'c', image: extra.image ?? 'ferry.local/busybox:1', resources: { requests: { cpu: '100m' } } },
          ],
          ...(extra.nodeSelector ? { nodeSelector: extra.nodeSelector } : {}),
          ...(extra.tolerations ? { tolerations: extra.tolerations } : {}),
        },
      },
    },
  } as DaemonSet;
}

async function daemonPods(sim: Simulation): Promise<Pod[]> {
  return (await sim.pods()).filter((p) => p.metadata.name.startsWith('logs-') && !p.metadata.deletionTimestamp);
}

async function boundNodes(sim: Simulation): Promise<string[]> {
  return (await daemonPods(sim)).map((p) => p.spec.nodeName ?? '<unbound>').sort();
}

async function status(sim: Simulation) {
  return (await sim.store.get<DaemonSet>({ kind: 'DaemonSet', namespace: 'default', name: 'logs' }))?.status;
}

async function cluster(nodes: string[], ds = daemonSet()): Promise<Simulation> {
  const sim = new Simulation({ startDelayMs: 500, stopDelayMs: 500 });
  for (const n of nodes) await sim.addNode(n, { cpu: '4', pods: 50 });
  await sim.apply(ds);
  await sim.until(async () => (await sim.readyPods('logs-')).length === nodes.length);
  return sim;
}

describe('DaemonSets', () => {
  it('runs one pod on every node, each bound by the scheduler to its node, and reports the counts', async () => {
    // act
    const sim = await cluster(['n1', 'n2', 'n3']);
    await sim.advance(1_000);

    // assess
    expect(await boundNodes(sim)).toEqual(['n1', 'n2', 'n3']);
    const pod = (await daemonPods(sim))[0] as Pod;
    expect(pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: [pod.spec.nodeName] }] },
    ]);
    expect(pod.spec.tolerations?.map((t) => t.key)).toContain('node.kubernetes.io/unschedulable');
    expect(await status(sim)).toMatchObject({
      desiredNumberScheduled: 3,
      currentNumberScheduled: 3,
      numberReady: 3,
      numberAvailable: 3,
      updatedNumberScheduled: 3,
      numberMisscheduled: 0,
      observedGeneration: 1,
    });
  });

  it('puts a pod on a node that joins later within one pass', async () => {
    // prepare
    const sim = await cluster(['n1', 'n2']);

    // act
    await sim.addNode('n3', { cpu: '4', pods: 50 });
    await sim.manager.runOnce();

    // assess: created and bound in the same pass
    expect(await boundNodes(sim)).toEqual(['n1', 'n2', 'n3']);
  });

  it('removes the pod of a node that leaves, and of a node that stops matching the nodeSelector', async () => {
    // prepare
    const sim = new Simulation({ startDelayMs: 500, stopDelayMs: 500 });
    for (const n of ['n1', 'n2', 'n3']) await sim.addNode(n, { cpu: '4', pods: 50, labels: { disk: 'ssd' } });
    await sim.addNode('plain', { cpu: '4', pods: 50 });
    await sim.apply(daemonSet({ nodeSelector: { disk: 'ssd' } }));
    await sim.until(async () => (await sim.readyPods('logs-')).length === 3);
    expect(await boundNodes(sim)).toEqual(['n1', 'n2', 'n3']);

    // act
    await sim.store.delete({ kind: 'Node', name: 'n1' });
    sim.nodes.delete('n1');
    const n2 = await sim.node('n2');
    await sim.store.update({ ...n2, metadata: { ...n2.metadata, labels: { ...n2.metadata.labels, disk: 'hdd' } } });
    await sim.advance(3_000);

    // assess
    expect(await boundNodes(sim)).toEqual(['n3']);
    expect(await status(sim)).toMatchObject({
      desiredNumberScheduled: 1,
      currentNumberScheduled: 1,
      numberMisscheduled: 0,
    });
  });

  it('skips a node whose taint it does not tolerate, and covers a cordoned node (daemon pods tolerate unschedulable)', async () => {
    // prepare
    const sim = new Simulation({ startDelayMs: 500, stopDelayMs: 500 });
    await sim.addNode('n1', { cpu: '4', pods: 50 });
    await sim.addNode('gpu', { cpu: '4', pods: 50, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] });
    await sim.addNode('cordoned', { cpu: '4', pods: 50, unschedulable: true });

    // act
    await sim.apply(daemonSet());
    await sim.advance(3_000);

    // assess
    expect(await boundNodes(sim)).toEqual(['cordoned', 'n1']);
    expect((await status(sim))?.desiredNumberScheduled).toBe(2);
  });

  it('removes its pod from a node that gets a NoExecute taint it does not tolerate', async () => {
    // prepare
    const sim = await cluster(['n1', 'n2']);
    const n2 = await sim.node('n2');

    // act
    await sim.store.update({
      ...n2,
      spec: { ...n2.spec, taints: [{ key: 'maintenance', effect: 'NoExecute' }] },
    } as Node);
    await sim.advance(3_000);

    // assess
    expect(await boundNodes(sim)).toEqual(['n1']);
  });

  it('rolls a new image out with maxUnavailable 1: never two nodes without an available pod', async () => {
    // prepare
    const nodes = ['n1', 'n2', 'n3', 'n4'];
    const sim = await cluster(nodes);
    let worst = 0;

    // act
    await sim.apply(daemonSet({ image: 'ferry.local/busybox:2' }));
    await sim.advance(30_000, 250, async () => {
      const ready = (await sim.readyPods('logs-')).length;
      worst = Math.max(worst, nodes.length - ready);
    });

    // assess
    expect(worst).toBe(1);
    const pods = await daemonPods(sim);
    expect(pods.map((p) => p.spec.containers[0]?.image)).toEqual(Array(4).fill('ferry.local/busybox:2'));
    expect(await status(sim)).toMatchObject({ updatedNumberScheduled: 4, numberAvailable: 4, observedGeneration: 2 });
  });

  it('rolls out with maxSurge 1 and maxUnavailable 0: every node keeps an available pod throughout', async () => {
    // prepare
    const nodes = ['n1', 'n2', 'n3'];
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    const sim = await cluster(nodes, daemonSet({ strategy }));
    let fewest = nodes.length;
    let most = 0;

    // act
    await sim.apply(daemonSet({ strategy, image: 'ferry.local/busybox:2' }));
    await sim.advance(30_000, 250, async () => {
      const ready = await sim.readyPods('logs-');
      fewest = Math.min(fewest, new Set(ready.map((p) => p.spec.nodeName)).size);
      most = Math.max(most, (await daemonPods(sim)).length);
    });

    // assess
    expect(fewest).toBe(nodes.length);
    expect(most).toBe(nodes.length + 1);
    expect((await daemonPods(sim)).map((p) => p.spec.containers[0]?.image)).toEqual(
      Array(3).fill('ferry.local/busybox:2'),
    );
  });

  it('with OnDelete, replaces nothing on a new template until a pod is deleted', async () => {
    // prepare
    const strategy = { type: 'OnDelete' as const };
    const sim = await cluster(['n1', 'n2'], daemonSet({ strategy }));

    // act
    await sim.apply(daemonSet({ strategy, image: 'ferry.local/busybox:2' }));
    await sim.advance(5_000);
    const untouched = (await daemonPods(sim)).map((p) => p.spec.containers[0]?.image);
    const victim = (await daemonPods(sim)).find((p) => p.spec.nodeName === 'n1') as Pod;
    await sim.store.delete({ kind: 'Pod', namespace: 'default', name: victim.metadata.name });
    await sim.advance(5_000);

    // assess
    expect(untouched).toEqual(['ferry.local/busybox:1', 'ferry.local/busybox:1']);
    const after = await daemonPods(sim);
    expect(after.find((p) => p.spec.nodeName === 'n1')?.spec.containers[0]?.image).toBe('ferry.local/busybox:2');
    expect(after.find((p) => p.spec.nodeName === 'n2')?.spec.containers[0]?.image).toBe('ferry.local/busybox:1');
    expect((await status(sim))?.updatedNumberScheduled).toBe(1);
  });

  it('counts a pod available only minReadySeconds after it is ready', async () => {
    // prepare
    const sim = new Simulation({ startDelayMs: 500, stopDelayMs: 500 });
    await sim.addNode('n1', { cpu: '4', pods: 50 });

    // act
    await sim.apply(daemonSet({ minReadySeconds: 10 }));
    await sim.until(async () => (await sim.readyPods('logs-')).length === 1);
    const early = await status(sim);
    await sim.advance(11_000);

    // assess
    expect(early).toMatchObject({ numberReady: 1, numberAvailable: 0, numberUnavailable: 1 });
    expect(await status(sim)).toMatchObject({ numberReady: 1, numberAvailable: 1, numberUnavailable: 0 });
  });

  it("counts daemon pods in the node's allocation: a Deployment pod that no longer fits stays pending", async () => {
    // prepare
    const sim = new Simulation({ startDelayMs: 500, stopDelayMs: 500 });
    await sim.addNode('small', { cpu: '1', pods: 50 });
    const ds = daemonSet();
    (ds.spec.template.spec.containers[0] as { resources: unknown }).resources = { requests: { cpu: '700m' } };
    await sim.apply(ds);
    await sim.until(async () => (await sim.readyPods('logs-')).length === 1);

    // act
    const { deployment } = await import('./harness');
    await sim.apply(deployment('web', 1, { cpu: '500m' }));
    await sim.advance(3_000);

    // assess
    const web = (await sim.pods()).filter((p) => p.metadata.name.startsWith('web-'));
    expect(web).toHaveLength(1);
    expect(web[0]?.spec.nodeName).toBeUndefined();
  });
});
