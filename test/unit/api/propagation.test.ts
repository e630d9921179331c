/**
 * DELETE honours DeleteOptions.propagationPolicy as Kubernetes does (issue 14: `kubectl delete
 * --cascade=orphan` deleted the dependents anyway): Orphan keeps them without their owner
 * reference, Foreground deletes them first, Background (the default) leaves them to the garbage
 * collector; anything else is a 422 that changes nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Obj } from '../../../functions/store/types';
import { makePod } from '../../helpers/objects';
import { startApi, type TestApi } from './harness';

const RS_PATH = '/apis/apps/v1/namespaces/default/replicasets/web';

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

  it('deletes the dependents first in the foreground', async () => {
    const res = await api.send('DELETE', RS_PATH, { query: { propagationPolicy: 'Foreground' } });
    expect(res.status).toBe(200);
    expect(await pod()).toBeUndefined();
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
