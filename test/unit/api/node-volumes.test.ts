/**
 * What a node learns of its volumes: a PV pinned to it moves its pods section (the volumes travel
 * with the pods), and the sync's list maps a claim only to the PV whose claimRef carries that
 * claim's uid, so a Released PV of an older claim of the same name is never mounted for a new one.
 */
import { describe, expect, it } from 'vitest';
import { nodeVolumes } from '../../../functions/api/agent/volumes';
import { silentLogger } from '../../../functions/log';
import { type NodeDesired, nodeDesiredRef, trackNodeDesired } from '../../../functions/node-desired';
import { MemoryStore } from '../../../functions/store/memory';
import type { Obj } from '../../../functions/store/types';

const pinned = (name: string, node: string, claim?: { name: string; uid: string }, provisioned = true): Obj =>
  ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name,
      ...(provisioned ? { annotations: { 'pv.kubernetes.io/provisioned-by': 'ferry.dev/local-path' } } : {}),
    },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      hostPath: { path: `/var/lib/ferry-agent/volumes/${name}` },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
      ...(claim ? { claimRef: { namespace: 'default', name: claim.name, uid: claim.uid } } : {}),
    },
  }) as Obj;

describe('a node and its volumes', () => {
  it('moves the pods section of the node a PersistentVolume is pinned to, and no other', async () => {
    const base = new MemoryStore(() => 0);
    const store = trackNodeDesired(base, () => 0);
    await store.create(pinned('pvc-a', 'n1'));
    const n1 = await base.get<NodeDesired>(nodeDesiredRef('n1'));
    expect(n1?.spec.pods).toBeDefined();
    expect(await base.get(nodeDesiredRef('n2'))).toBeUndefined();
    const before = n1?.spec.pods;
    await store.delete({ kind: 'PersistentVolume', name: 'pvc-a' });
    expect((await base.get<NodeDesired>(nodeDesiredRef('n1')))?.spec.pods).not.toBe(before);
  });

  it("maps a pod's claim to the PV bound to that claim's uid, and lists the node's other volumes without a claim", async () => {
    const store = new MemoryStore(() => 0);
    const claim = await store.create({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    } as Obj);
    await store.create(pinned('pvc-old', 'n1', { name: 'data', uid: 'an-older-claim' }));
    await store.create(pinned('pvc-new', 'n1', { name: 'data', uid: claim.metadata.uid as string }));
    await store.create(pinned('pvc-elsewhere', 'n2'));
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'db', namespace: 'default' },
      spec: { nodeName: 'n1', containers: [], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] },
    } as unknown as Obj;

    const list = await nodeVolumes({ store, clock: () => 0, log: silentLogger }, 'n1', [pod]);

    expect(list).toEqual([
      { name: 'pvc-new', provisioned: true, claim: 'default/data' },
      { name: 'pvc-old', provisioned: true },
    ]);
  });
});
