/**
 * The storage kinds over the API: the default StorageClass a server starts with, claims and
 * volumes validated with field paths (a request is required, access modes checked, what ferry
 * cannot honour refused by name, nothing stored), a claim's spec fixed after creation (no
 * expansion), and PVC protection (a claim with its finalizer is marked, not removed).
 */
import { describe, expect, it } from 'vitest';
import { PVC_PROTECTION_FINALIZER } from '../../../schemas';
import { startApi } from './harness';

const PVCS = '/api/v1/namespaces/default/persistentvolumeclaims';
const PVS = '/api/v1/persistentvolumes';
const claim = (spec: Record<string, unknown>, name = 'data') => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});
const volume = (spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: { name: 'pv1' },
  spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/srv/pv1' }, ...spec },
});

describe('storage kinds over the API', () => {
  it('starts with local-path as the default StorageClass, provisioned on first use', async () => {
    const api = await startApi();
    const res = await api.send('GET', '/apis/storage.k8s.io/v1/storageclasses/local-path');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      provisioner: 'ferry.dev/local-path',
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'WaitForFirstConsumer',
      metadata: { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    });
  });

  it('stores a valid claim with its volume mode defaulted', async () => {
    const api = await startApi();
    const res = await api.send('POST', PVCS, { body: claim({}) });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ spec: { volumeMode: 'Filesystem' } });
  });

  it.each([
    ['no storage request', { resources: {} }, 'spec.resources.requests[storage]'],
    ['a zero request', { resources: { requests: { storage: '0' } } }, 'spec.resources.requests[storage]'],
    [
      'a request that is no quantity',
      { resources: { requests: { storage: 'lots' } } },
      'spec.resources.requests[storage]',
    ],
    ['no access modes', { accessModes: [] }, 'spec.accessModes'],
    ['ReadWriteOncePod with another mode', { accessModes: ['ReadWriteOncePod', 'ReadWriteOnce'] }, 'spec.accessModes'],
    ['an unknown access mode', { accessModes: ['ReadWriteSometimes'] }, 'spec.accessModes[0]'],
    ['a raw block volume', { volumeMode: 'Block' }, 'spec.volumeMode'],
    ['a data source', { dataSource: { kind: 'VolumeSnapshot', name: 's' } }, 'spec.dataSource'],
    ['an unknown field', { sizeGb: 3 }, 'spec.sizeGb'],
  ])('refuses a claim with %s, naming the field, storing nothing', async (_, spec, field) => {
    const api = await startApi();
    const before = await api.snapshot();
    const res = await api.send('POST', PVCS, { body: claim(spec) });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain(field);
    expect(await api.snapshot()).toBe(before);
  });

  it.each([
    ['no volume source', { hostPath: undefined }, 'spec'],
    ['an NFS source', { hostPath: undefined, nfs: { server: 'x', path: '/' } }, 'spec.nfs'],
    ['a relative path', { hostPath: { path: 'srv/x' } }, 'spec.hostPath.path'],
    ['a path with ..', { hostPath: { path: '/srv/../etc' } }, 'spec.hostPath.path'],
    [
      'a local volume without node affinity',
      { hostPath: undefined, local: { path: '/mnt/disk' } },
      'spec.nodeAffinity',
    ],
    ['Recycle', { persistentVolumeReclaimPolicy: 'Recycle' }, 'spec.persistentVolumeReclaimPolicy'],
    ['mount options', { mountOptions: ['ro'] }, 'spec.mountOptions'],
    ['no capacity', { capacity: {} }, 'spec.capacity[storage]'],
  ])('refuses a PersistentVolume with %s', async (_, spec, field) => {
    const api = await startApi();
    const res = await api.send('POST', PVS, { body: volume(spec) });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.map((c) => c.field)).toContain(field);
  });

  it('defaults a hand-made PersistentVolume to Retain', async () => {
    const api = await startApi();
    const res = await api.send('POST', PVS, { body: volume({}) });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ spec: { persistentVolumeReclaimPolicy: 'Retain' } });
  });

  it('refuses a StorageClass that allows expansion, which the local provisioner cannot do', async () => {
    const api = await startApi();
    const res = await api.send('POST', '/apis/storage.k8s.io/v1/storageclasses', {
      body: {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'grow' },
        provisioner: 'ferry.dev/local-path',
        allowVolumeExpansion: true,
      },
    });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]).toMatchObject({
      field: 'allowVolumeExpansion',
      message: 'ferry does not support volume expansion yet',
    });
  });

  it('refuses a larger request on a stored claim as an expansion it cannot do', async () => {
    const api = await startApi();
    await api.send('POST', PVCS, { body: claim({}) });
    const res = await api.send('PATCH', `${PVCS}/data`, {
      body: { spec: { resources: { requests: { storage: '2Gi' } } } },
      contentType: 'application/merge-patch+json',
    });
    expect(res.status).toBe(422);
    expect(res.json.details?.causes?.[0]?.field).toBe('spec.resources.requests[storage]');
  });

  it('marks a protected claim deleted and keeps it until its finalizer is lifted', async () => {
    const api = await startApi();
    const body = claim({});
    (body.metadata as Record<string, unknown>).finalizers = [PVC_PROTECTION_FINALIZER];
    await api.send('POST', PVCS, { body });
    const del = await api.send('DELETE', `${PVCS}/data`);
    expect(del.status).toBe(200);
    const after = await api.send('GET', `${PVCS}/data`);
    expect(after.status).toBe(200);
    expect(after.json.metadata?.deletionTimestamp).toBeDefined();
  });

  it('prints claims with kubectl columns', async () => {
    const api = await startApi();
    await api.send('POST', PVCS, { body: claim({}) });
    const res = await api.send('GET', PVCS, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    const columns = (res.json.columnDefinitions as { name: string }[]).map((c) => c.name.toLowerCase());
    expect(columns.slice(0, 8)).toEqual([
      'name',
      'status',
      'volume',
      'capacity',
      'access modes',
      'storageclass',
      'volumeattributesclass',
      'age',
    ]);
  });
});
