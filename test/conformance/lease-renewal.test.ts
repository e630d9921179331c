/**
 * `renewLeaseObject` (a node's heartbeat) behaves the same on every backend: optimistic
 * concurrency on the holder and the renewal time it replaces, the Lease's identity kept, its
 * resourceVersion moved so conditional updates and deletes after it see the renewal. DynamoDB does
 * it in one conditional write without a read; the others read and replace.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../functions/errors';
import type { ChangeEvent, Obj, StateStore } from '../../functions/store/types';
import { backends, closeBackends } from './backends';

afterAll(closeBackends);

const REF = { kind: 'Lease', namespace: 'kube-node-lease', name: 'n1' };
const T0 = '2026-12-01T10:00:00.000Z';
const T1 = '2026-12-01T10:00:40.000Z';
const T2 = '2026-12-01T10:01:20.000Z';

const lease = (holder: string, renewTime: string): Obj => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: REF.name, namespace: REF.namespace },
  spec: { holderIdentity: holder, leaseDurationSeconds: 50, renewTime },
});

const renewTimeOf = (obj: Obj | undefined) => (obj?.spec as { renewTime?: string } | undefined)?.renewTime;

for (const backend of backends) {
  const skipped = backend.unavailable ? ` (skipped: ${backend.unavailable})` : '';
  describe.skipIf(!!backend.unavailable)(`Lease renewal conformance: ${backend.name}${skipped}`, () => {
    let store: StateStore;
    let now = 1_700_000_000_000;
    const renew = (holder: string, previousRenewTime: string, renewTime: string) => {
      if (!store.renewLeaseObject) throw new Error(`${backend.name} has no renewLeaseObject`);
      return store.renewLeaseObject(REF, { holder, previousRenewTime, renewTime });
    };
    beforeEach(async () => {
      now = 1_700_000_000_000;
      store = await backend.open(() => now);
    });
    afterEach(async () => {
      await store.close();
    });

    it('a renewal from the renewal it replaces sets renewTime, keeps the identity and moves the resourceVersion', async () => {
      const created = await store.create(lease('n1', T0));
      now += 40_000;
      const renewed = await renew('n1', T0, T1);

      expect(renewTimeOf(renewed)).toBe(T1);
      expect(renewed.metadata.uid).toBe(created.metadata.uid);
      expect(renewed.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
      expect(renewed.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
      expect((renewed.spec as { leaseDurationSeconds: number }).leaseDurationSeconds).toBe(50);
      expect(await store.get(REF)).toEqual(renewed);
      expect((await store.list('Lease', { namespace: REF.namespace })).items).toEqual([renewed]);
    });

    it('two renewals from the same renewal: one wins, the other is a Conflict carrying the winner', async () => {
      await store.create(lease('n1', T0));
      const winner = await renew('n1', T0, T1);
      const err = await renew('n1', T0, T2).catch((e) => e);

      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).current).toEqual(winner);
      expect(await store.get(REF)).toEqual(winner);
    });

    it("another holder's renewal is a Conflict and changes nothing", async () => {
      const created = await store.create(lease('n1', T0));
      const err = await renew('intruder', T0, T1).catch((e) => e);

      expect(err).toBeInstanceOf(ConflictError);
      expect(await store.get(REF)).toEqual(created);
    });

    it('a renewal of a missing Lease is NotFound and creates nothing', async () => {
      await expect(renew('n1', T0, T1)).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.get(REF)).toBeUndefined();
    });

    it('a renewal after a replace starts from the replaced renewal time, and a stale one after it conflicts', async () => {
      const created = await store.create(lease('n1', T0));
      const replaced = await store.update({ ...created, spec: { ...(created.spec as object), renewTime: T1 } });

      await expect(renew('n1', T0, T2)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.get(REF)).toEqual(replaced);
      expect(renewTimeOf(await renew('n1', T1, T2))).toBe(T2);
    });

    it('conditional writes after a renewal see it: the pre-renewal resourceVersion conflicts, the renewed one wins', async () => {
      const created = await store.create(lease('n1', T0));
      const renewed = await renew('n1', T0, T1);

      await expect(store.update({ ...created, spec: { holderIdentity: 'other' } })).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(
        store.delete(REF, { resourceVersion: created.metadata.resourceVersion as string }),
      ).rejects.toThrow();
      const updated = await store.update({
        ...renewed,
        spec: { ...(renewed.spec as object), holderIdentity: 'other' },
      });
      expect(renewTimeOf(updated)).toBe(T1);
      const gone = await store.delete(REF, { resourceVersion: updated.metadata.resourceVersion as string });
      expect(renewTimeOf(gone)).toBe(T1);
    });

    it('watchers see the renewal as a MODIFIED event with the new renewal time', async () => {
      await store.create(lease('n1', T0));
      const events: ChangeEvent[] = [];
      const stop = store.watch((e) => events.push(e));
      await renew('n1', T0, T1);
      await new Promise((r) => setTimeout(r, 10));
      stop();

      expect(events.map((e) => [e.type, renewTimeOf(e.object)])).toEqual([['MODIFIED', T1]]);
    });
  });
}
