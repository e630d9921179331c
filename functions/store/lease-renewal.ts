/**
 * `renewLeaseObject` for the stores whose reads are local and cheap (memory, and the encrypted
 * decorator over a backend without one): read the Lease, check the holder and the renewal it
 * replaces, and write it back conditional on the resourceVersion read, so two renewers racing from
 * the same renewal cannot both win. SQLite does the same in one transaction (sqlite.ts), DynamoDB
 * in one conditional write (dynamodb.ts).
 */
import { ConflictError, NotFoundError } from '../errors';
import type { LeaseRenewal, Obj, ObjectRef, StateStore } from './types';

export async function renewByReplace(store: StateStore, ref: ObjectRef, renewal: LeaseRenewal): Promise<Obj> {
  const stored = await store.get({ ...ref, kind: 'Lease' });
  if (!stored) throw new NotFoundError('Lease', ref.name);
  const spec = (stored.spec ?? {}) as { holderIdentity?: string; renewTime?: string };
  if (spec.holderIdentity !== renewal.holder || spec.renewTime !== renewal.previousRenewTime) {
    throw new ConflictError('Lease', ref.name, stored);
  }
  return store.update({ ...stored, spec: { ...spec, renewTime: renewal.renewTime } });
}
