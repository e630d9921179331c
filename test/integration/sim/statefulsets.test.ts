/**
 * StatefulSets and node-local volumes in the simulated cluster (real controllers and scheduler):
 * stable names in order, claims per pod bound to a directory on the node that first ran the pod,
 * the pod scheduled back there, scale down in reverse keeping claims, rolling updates by partition,
 * retention policies, PVC protection and reclaim.
 */
import { describe, expect, it } from 'vitest';
import type { PersistentVolume, PersistentVolumeClaim, Pod, StatefulSet } from '../../../schemas';
import { Simulation } from './harness';

const CLASS = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: 'local-path', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
  provisioner: 'ferry.dev/local-path',
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'WaitForFirstConsumer',
};

function statefulSet(replicas: number, extra: Record<string, unknown> = {}, image = 'app:1') {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas,
      serviceName: 'web',
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image }] } },
      volumeClaimTemplates: [
        {
          metadata: { name: 'www' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        },
      ],
      ...extra,
    },
  };
}

async function cluster(nodes = 2): Promise<Simulation> {
  const sim = new Simulation({ startDelayMs: 1_000, stopDelayMs: 500 });
  for (let i = 1; i <= nodes; i++) await sim.addNode(`n${i}`);
  await sim.apply(CLASS);
  return sim;
}

const live = async (sim: Simulation) => (await sim.pods()).filter((p) => !p.metadata.deletionTimestamp);
const names = async (sim: Simulation) => (await live(sim)).map((p) => p.metadata.name).sort();
const claims = async (sim: Simulation) => (await sim.store.list<PersistentVolumeClaim>('PersistentVolumeClaim')).items;
const volumes = async (sim: Simulation) => (await sim.store.list<PersistentVolume>('PersistentVolume')).items;
const pod = async (sim: Simulation, name: string) =>
  (await sim.store.get<Pod>({ kind: 'Pod', namespace: 'default', name })) as Pod;
const sts = async (sim: Simulation) =>
  (await sim.store.get<StatefulSet>({ kind: 'StatefulSet', namespace: 'default', name: 'web' })) as StatefulSet;

describe('StatefulSet in simulation', () => {
  it('creates web-0, web-1, web-2 one at a time, each after the one before is ready', async () => {
    const sim = await cluster();
    await sim.apply(statefulSet(3));
    const seen: string[][] = [];
    await sim.until(async () => {
      const ready = (await sim.readyPods('web-')).map((p) => p.metadata.name).sort();
      const all = await names(sim);
      seen.push(all);
      // never a pod whose predecessor is not ready yet
      for (const n of all) {
        const i = Number(n.slice(4));
        if (i > 0) expect(ready).toContain(`web-${i - 1}`);
      }
      return ready.length === 3;
    });
    expect(await names(sim)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(seen.some((s) => s.length === 1)).toBe(true);
    const p = await pod(sim, 'web-1');
    expect(p.spec.hostname).toBe('web-1');
    expect(p.spec.subdomain).toBe('web');
    expect(p.metadata.labels).toMatchObject({
      'statefulset.kubernetes.io/pod-name': 'web-1',
      'apps.kubernetes.io/pod-index': '1',
    });
    expect(p.spec.volumes).toEqual([{ name: 'www', persistentVolumeClaim: { claimName: 'www-web-1' } }]);
    const set = await sts(sim);
    expect(set.status).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentReplicas: 3 });
    expect(set.status?.currentRevision).toBe(set.status?.updateRevision);
  });

  it('binds each claim to a directory on the node that first ran its pod, and schedules the pod back there', async () => {
    const sim = await cluster(3);
    await sim.apply(statefulSet(2));
    await sim.until(async () => (await sim.readyPods('web-')).length === 2);
    const claim = (await claims(sim)).find((c) => c.metadata.name === 'www-web-0') as PersistentVolumeClaim;
    expect(claim.status?.phase).toBe('Bound');
    expect(claim.spec.storageClassName).toBe('local-path');
    const pv = (await volumes(sim)).find((v) => v.metadata.name === claim.spec.volumeName) as PersistentVolume;
    const first = (await pod(sim, 'web-0')).spec.nodeName as string;
    expect(pv.spec.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values).toEqual([first]);
    expect(pv.status?.phase).toBe('Bound');
    expect(pv.spec.capacity?.storage).toBe('1Gi');

    for (let round = 0; round < 3; round++) {
      await sim.crashPod('web-0');
      await sim.until(async () => (await sim.readyPods('web-0')).length === 1);
      expect((await pod(sim, 'web-0')).spec.nodeName).toBe(first);
    }
  });

  it('scales down from the highest ordinal, keeps the claims, and reuses them when it scales up', async () => {
    const sim = await cluster();
    await sim.apply(statefulSet(3));
    await sim.until(async () => (await sim.readyPods('web-')).length === 3);
    const before = new Map((await claims(sim)).map((c) => [c.metadata.name, c.spec.volumeName]));
    await sim.apply(statefulSet(1));
    const order: string[] = [];
    await sim.until(async () => {
      const present = await names(sim);
      if (!present.includes('web-2') && !order.includes('web-2')) order.push('web-2');
      if (!present.includes('web-1') && !order.includes('web-1')) {
        expect(order).toContain('web-2');
        order.push('web-1');
      }
      return (await sim.pods()).length === 1;
    });
    expect(order).toEqual(['web-2', 'web-1']);
    expect((await claims(sim)).map((c) => c.metadata.name).sort()).toEqual(['www-web-0', 'www-web-1', 'www-web-2']);
    await sim.apply(statefulSet(3));
    await sim.until(async () => (await sim.readyPods('web-')).length === 3);
    for (const c of await claims(sim)) expect(c.spec.volumeName).toBe(before.get(c.metadata.name));
    expect(await volumes(sim)).toHaveLength(3);
  });

  it('creates every pod at once under Parallel', async () => {
    const sim = await cluster();
    await sim.apply(statefulSet(3, { podManagementPolicy: 'Parallel' }));
    await sim.advance(500);
    expect(await names(sim)).toEqual(['web-0', 'web-1', 'web-2']);
  });

  it('updates only the ordinals at and above the partition, highest first, one ready pod at a time', async () => {
    const sim = await cluster();
    await sim.apply(statefulSet(3));
    await sim.until(async () => (await sim.readyPods('web-')).length === 3);
    const image = async (n: string) => (await pod(sim, n)).spec.containers[0]?.image;
    await sim.apply(
      statefulSet(3, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } }, 'app:2'),
    );
    await sim.until(async () => (await image('web-2')) === 'app:2' && (await sim.readyPods('web-')).length === 3);
    await sim.advance(5_000);
    expect(await image('web-1')).toBe('app:1');
    expect(await image('web-0')).toBe('app:1');
    // A pod below the partition, deleted, comes back at the old revision.
    await sim.crashPod('web-0');
    await sim.until(async () => (await sim.readyPods('web-0')).length === 1);
    expect(await image('web-0')).toBe('app:1');

    await sim.apply(
      statefulSet(3, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } } }, 'app:2'),
    );
    let web0UpdatedWhileWeb1Old = false;
    await sim.until(async () => {
      if ((await image('web-0')) === 'app:2' && (await image('web-1')) !== 'app:2') web0UpdatedWhileWeb1Old = true;
      return (await image('web-0')) === 'app:2' && (await sim.readyPods('web-')).length === 3;
    });
    expect(web0UpdatedWhileWeb1Old).toBe(false);
    const set = await sts(sim);
    expect(set.status?.currentRevision).toBe(set.status?.updateRevision);
    expect((await sim.store.list('ControllerRevision')).items).toHaveLength(2);
  });

  it('leaves pods alone under OnDelete until they are deleted', async () => {
    const sim = await cluster();
    await sim.apply(statefulSet(2, { updateStrategy: { type: 'OnDelete' } }));
    await sim.until(async () => (await sim.readyPods('web-')).length === 2);
    await sim.apply(statefulSet(2, { updateStrategy: { type: 'OnDelete' } }, 'app:2'));
    await sim.advance(5_000);
    expect((await pod(sim, 'web-1')).spec.containers[0]?.image).toBe('app:1');
  });

  it('deletes the claims of removed ordinals under whenScaled: Delete, and all of them under whenDeleted: Delete', async () => {
    const sim = await cluster();
    const policy = { persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete', whenDeleted: 'Delete' } };
    await sim.apply(statefulSet(2, policy));
    await sim.until(async () => (await sim.readyPods('web-')).length === 2);
    await sim.apply(statefulSet(1, policy));
    await sim.until(async () => (await claims(sim)).length === 1);
    expect((await claims(sim))[0]?.metadata.name).toBe('www-web-0');
    // Its PV (reclaim Delete) goes with it.
    await sim.until(async () => (await volumes(sim)).length === 1);
    await sim.store.delete({ kind: 'StatefulSet', namespace: 'default', name: 'web' });
    await sim.until(async () => (await claims(sim)).length === 0 && (await sim.pods()).length === 0);
  });

  it('gives a claim back to the set when a scale up wants its ordinal before the collector removed it', async () => {
    const sim = await cluster();
    const policy = { persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete', whenDeleted: 'Retain' } };
    await sim.apply(statefulSet(2, policy));
    await sim.until(async () => (await sim.readyPods('web-')).length === 2);
    const claim = (await claims(sim)).find((c) => c.metadata.name === 'www-web-1') as PersistentVolumeClaim;
    const old = await pod(sim, 'web-1');
    // As the controller leaves it when it condemns web-1, with the pod gone and the scale back up.
    await sim.store.update({
      ...claim,
      metadata: {
        ...claim.metadata,
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: old.metadata.uid as string }],
      },
    });
    await sim.store.delete({ kind: 'Pod', namespace: 'default', name: 'web-1' });
    await sim.until(async () => (await sim.readyPods('web-1')).length === 1);
    await sim.advance(3_000);
    const after = (await claims(sim)).find((c) => c.metadata.name === 'www-web-1');
    expect(after?.metadata.deletionTimestamp).toBeUndefined();
    expect(after?.metadata.ownerReferences).toBeUndefined();
    expect(after?.spec.volumeName).toBe(claim.spec.volumeName);
  });

  it('keeps a claim in use until its pod is gone (pvc-protection), then reclaims its volume', async () => {
    const sim = await cluster();
    await sim.apply(statefulSet(1));
    await sim.until(async () => (await sim.readyPods('web-')).length === 1);
    const claim = (await claims(sim))[0] as PersistentVolumeClaim;
    expect(claim.metadata.finalizers).toContain('kubernetes.io/pvc-protection');
    await sim.store.update({
      ...claim,
      metadata: { ...claim.metadata, deletionTimestamp: new Date(sim.now).toISOString() },
    });
    await sim.advance(3_000);
    expect(await claims(sim)).toHaveLength(1);
    await sim.store.delete({ kind: 'StatefulSet', namespace: 'default', name: 'web' });
    await sim.until(async () => (await claims(sim)).length === 0);
    await sim.until(async () => (await volumes(sim)).length === 0);
  });
});

describe('PersistentVolumeClaims in simulation', () => {
  const podWithClaim = (claimName: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'db', namespace: 'default' },
    spec: {
      containers: [{ name: 'app', image: 'db:1' }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
    },
  });
  const claimOf = (name: string, size: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...extra },
  });
  const localPv = (name: string, size: string, node: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: {
      capacity: { storage: size },
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'manual',
      local: { path: `/mnt/${name}` },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
      ...extra,
    },
  });

  it('keeps a pod whose claim does not exist Pending, saying so', async () => {
    const sim = await cluster();
    await sim.apply(podWithClaim('nope'));
    await sim.advance(2_000);
    const p = await pod(sim, 'db');
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message).toBe(
      '0/2 nodes are available: persistentvolumeclaim "nope" not found.',
    );
  });

  it('never binds a PV smaller than the request, and binds a claim that names a pre-made local PV on its node', async () => {
    const sim = await cluster(3);
    await sim.apply({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'manual' },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'WaitForFirstConsumer',
    });
    await sim.apply(localPv('small', '1Gi', 'n2'));
    await sim.apply(claimOf('big', '5Gi', { storageClassName: 'manual' }));
    await sim.apply(podWithClaim('big'));
    await sim.advance(3_000);
    expect((await pod(sim, 'db')).spec.nodeName).toBeUndefined();
    expect((await pod(sim, 'db')).status?.conditions?.find((c) => c.type === 'PodScheduled')?.message).toBe(
      "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.",
    );
    expect((await volumes(sim))[0]?.spec.claimRef).toBeUndefined();

    await sim.store.delete({ kind: 'Pod', namespace: 'default', name: 'db' });
    await sim.apply(localPv('disk', '10Gi', 'n3'));
    await sim.apply(claimOf('named', '5Gi', { storageClassName: 'manual', volumeName: 'disk' }));
    await sim.apply(podWithClaim('named'));
    await sim.until(async () => (await sim.readyPods('db')).length === 1);
    expect((await pod(sim, 'db')).spec.nodeName).toBe('n3');
    const named = (await claims(sim)).find((c) => c.metadata.name === 'named');
    expect(named?.status).toMatchObject({ phase: 'Bound', capacity: { storage: '10Gi' } });
  });

  it('keeps a Retain PV Released with its claim gone, and never binds it again', async () => {
    const sim = await cluster();
    await sim.apply({ ...CLASS, metadata: { name: 'keep' }, reclaimPolicy: 'Retain' });
    await sim.apply(claimOf('data', '1Gi', { storageClassName: 'keep' }));
    await sim.apply(podWithClaim('data'));
    await sim.until(async () => (await sim.readyPods('db')).length === 1);
    await sim.store.delete({ kind: 'Pod', namespace: 'default', name: 'db' });
    const c = (await claims(sim))[0] as PersistentVolumeClaim;
    await sim.store.update({ ...c, metadata: { ...c.metadata, deletionTimestamp: new Date(sim.now).toISOString() } });
    await sim.until(async () => (await claims(sim)).length === 0);
    await sim.advance(1_000);
    expect((await volumes(sim))[0]?.status?.phase).toBe('Released');
    await sim.apply(claimOf('again', '1Gi', { storageClassName: 'keep' }));
    await sim.apply({ ...podWithClaim('again'), metadata: { name: 'db2', namespace: 'default' } });
    await sim.until(async () => (await sim.readyPods('db2')).length === 1);
    expect(await volumes(sim)).toHaveLength(2);
  });

  it('leaves a ReadWriteMany claim of the local class Pending: a node directory serves one node', async () => {
    const sim = await cluster();
    await sim.apply(claimOf('shared', '1Gi', { accessModes: ['ReadWriteMany'] }));
    await sim.apply(podWithClaim('shared'));
    await sim.advance(2_000);
    expect((await pod(sim, 'db')).spec.nodeName).toBeUndefined();
    expect(await volumes(sim)).toHaveLength(0);
  });
});
