/**
 * DELETE honours DeleteOptions.propagationPolicy as Kubernetes does (issue 14: `kubectl delete
 * --cascade=orphan` deleted the dependents anyway): Orphan keeps them without their owner
 * reference, Foreground keeps the owner until the garbage collector has removed them, Background (the default) leaves them to the garbage
 * collector; anything else is a 422 that changes nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { collectGarbage } from '../../../functions/controllers/gc';
import type { Obj } from '../../../functions/store/types';
import { makePod } from '../../helpers/objects';
import { startApi, type TestApi } from './harness';

const RS_PATH = '/apis/apps/v1/namespaces/default/replicasets/web';
const RS_REF = { kind: 'ReplicaSet', namespace: 'default', name: 'web' };

describe('delete propagation', () => {
  let api: TestApi;
  let podName: string;

  beforeEach(async () => {
    api = await startApi();
    const rs = await api.store.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      },
    } as Obj);
    const pod = makePod('web-abcde', { labels: { app: 'web' } });
    pod.metadata.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: rs.metadata.uid as string, controller: true },
    ];
    podName = (await api.store.create(pod)).metadata.name;
  });

  const pod = () => api.store.get({ kind: 'Pod', namespace: 'default', name: podName });
  /** The pod as the scheduler leaves it: on a node, so deleting it waits for the node's agent. */
  const bindPod = async () => {
    const p = (await pod()) as Obj;
    await api.store.update({ ...p, spec: { ...(p.spec as object), nodeName: 'n1' } });
  };

  it('leaves a terminating pod to its graceful stop, even with Foreground asked for, while gc runs', async () => {
    // prepare: a bound pod (its agent must stop it) that owns a claim, as a StatefulSet's pods may
    await bindPod();
    const owner = (await pod()) as Obj;
    await api.store.create({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data-web',
        namespace: 'default',
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: podName, uid: owner.metadata.uid as string }],
      },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    } as Obj);

    // act
    const res = await api.send('DELETE', `/api/v1/namespaces/default/pods/${podName}`, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' },
    });
    await collectGarbage(api.deps);
    await collectGarbage(api.deps);

    // assess: still there, terminating, without the foreground finalizer: the agent ends it
    expect(res.status).toBe(200);
    const left = await pod();
    expect(left?.metadata.deletionTimestamp).toBeDefined();
    expect(left?.metadata.finalizers ?? []).not.toContain('foregroundDeletion');
  });

  it('orphans: the pod stays, without its owner reference (kubectl --cascade=orphan)', async () => {
    const res = await api.send('DELETE', RS_PATH, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' },
    });
    expect(res.status).toBe(200);
    const left = await pod();
    expect(left).toBeDefined();
    expect(left?.metadata.ownerReferences).toBeUndefined();
  });

  it('reads orphanDependents=true as Orphan, as older clients send it', async () => {
    await api.send('DELETE', RS_PATH, { query: { orphanDependents: 'true' } });
    expect((await pod())?.metadata.ownerReferences).toBeUndefined();
  });

  it('in the foreground keeps the owner, marked, until the collector has removed its dependents', async () => {
    const res = await api.send('DELETE', RS_PATH, { query: { propagationPolicy: 'Foreground' } });
    const kept = await api.send('GET', RS_PATH);
    await collectGarbage(api.deps);
    const afterFirst = [await pod(), await api.store.get(RS_REF)];
    await collectGarbage(api.deps);

    expect(res.status).toBe(200);
    expect((res.json.metadata as { finalizers?: string[] }).finalizers).toEqual(['foregroundDeletion']);
    expect(kept.status).toBe(200);
    expect((kept.json.metadata as { deletionTimestamp?: string }).deletionTimestamp).toBeDefined();
    // The pod (never bound) went at once; the ReplicaSet waited for it.
    expect(afterFirst[0]).toBeUndefined();
    expect(afterFirst[1]).toBeDefined();
    expect(await api.store.get(RS_REF)).toBeUndefined();
  });

  it('in the foreground the owner waits for a pod that is still terminating on its node', async () => {
    await bindPod();
    await api.send('DELETE', RS_PATH, { query: { propagationPolicy: 'Foreground' } });

    await collectGarbage(api.deps);
    await collectGarbage(api.deps);
    const terminating = await pod();
    const ownerWhileTerminating = await api.store.get(RS_REF);
    // The agent confirms the containers stopped: the pod object goes.
    await api.store.delete({ kind: 'Pod', namespace: 'default', name: podName });
    await collectGarbage(api.deps);

    expect(terminating?.metadata.deletionTimestamp).toBeDefined();
    expect(ownerWhileTerminating).toBeDefined();
    expect(await api.store.get(RS_REF)).toBeUndefined();
  });

  it('in the foreground a Deployment goes after its ReplicaSet, which goes after its pods', async () => {
    const rs = (await api.store.get(RS_REF)) as Obj;
    const deployment = await api.store.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      },
    } as Obj);
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: deployment.metadata.uid as string };
    await api.store.update({ ...rs, metadata: { ...rs.metadata, ownerReferences: [{ ...ref, controller: true }] } });
    await bindPod();
    const deploymentRef = { kind: 'Deployment', namespace: 'default', name: 'web' };

    await api.send('DELETE', '/apis/apps/v1/namespaces/default/deployments/web', {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' },
    });
    for (let i = 0; i < 3; i++) await collectGarbage(api.deps);
    const whilePodTerminates = [await api.store.get(deploymentRef), await api.store.get(RS_REF), await pod()];
    await api.store.delete({ kind: 'Pod', namespace: 'default', name: podName });
    await collectGarbage(api.deps);
    const afterPod = [await api.store.get(deploymentRef), await api.store.get(RS_REF)];
    await collectGarbage(api.deps);

    expect(whilePodTerminates.map((o) => o?.metadata.deletionTimestamp !== undefined)).toEqual([true, true, true]);
    expect(afterPod[0]).toBeDefined();
    expect(afterPod[1]).toBeUndefined();
    expect(await api.store.get(deploymentRef)).toBeUndefined();
  });

  it('leaves the dependents to the garbage collector in the background (the default)', async () => {
    await api.send('DELETE', RS_PATH);
    expect((await pod())?.metadata.ownerReferences?.[0]?.name).toBe('web');
  });

  it('refuses an unknown policy with a 422 naming the field, deleting nothing', async () => {
    const before = await api.snapshot();
    const res = await api.send('DELETE', RS_PATH, { query: { propagationPolicy: 'Sideways' } });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.json)).toContain('propagationPolicy');
    expect(await api.snapshot()).toBe(before);
  });
});
