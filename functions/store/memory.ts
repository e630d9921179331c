/**
 * In-memory StateStore: the reference backend for unit tests and the deterministic simulation.
 * Same semantics as sqlite.ts (the conformance suite pins them); nothing survives the process.
 */
import { AlreadyExistsError, ConflictError, FerryError, NotFoundError } from '../errors';
import { renewByReplace } from './lease-renewal';
import {
  assertDistinct,
  clone,
  compareObjects,
  keyOf,
  nodeNameOf,
  opRef,
  stampCreate,
  stampUpdate,
} from './object-meta';
import { compileLabelSelector } from './selector';
import type {
  ChangeEvent,
  ChangeListener,
  Clock,
  DeleteOptions,
  LeaseRenewal,
  ListOptions,
  ListResult,
  Obj,
  ObjectRef,
  StateStore,
  TransactOp,
  WriteOp,
  WriteResult,
} from './types';

export class MemoryStore implements StateStore {
  private readonly objects = new Map<string, Obj>();
  private readonly leases = new Map<string, { holder: string; expires: number }>();
  private readonly listeners = new Set<ChangeListener>();
  private revision = 0;

  constructor(private readonly clock: Clock = Date.now) {}

  async get<T extends Obj>(ref: ObjectRef): Promise<T | undefined> {
    const obj = this.objects.get(keyOf(ref));
    return obj ? (clone(obj) as T) : undefined;
  }

  async list<T extends Obj>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    const match = compileLabelSelector(options.labelSelector);
    const items: Obj[] = [];
    for (const obj of this.objects.values()) {
      if (obj.kind !== kind) continue;
      if (options.namespace !== undefined && obj.metadata.namespace !== options.namespace) continue;
      if (options.nodeName !== undefined && nodeNameOf(obj) !== options.nodeName) continue;
      if (!match(obj.metadata.labels)) continue;
      items.push(clone(obj));
    }
    items.sort(compareObjects);
    return { items: items as T[], resourceVersion: String(this.revision) };
  }

  async create<T extends Obj>(obj: T): Promise<T> {
    return clone(this.createNow(obj));
  }

  async update<T extends Obj>(obj: T): Promise<T> {
    return clone(this.updateNow(obj));
  }

  async writeBatch<T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> {
    return ops.map((op): WriteResult<T> => {
      try {
        const stored = op.op === 'create' ? this.createNow(op.object) : this.updateNow(op.object);
        // Copied when first read: stored objects are replaced, never mutated, so a late copy is
        // the same as an early one, and the scheduler writes thousands of binds and reads none.
        let copy: T | undefined;
        return {
          ok: true,
          get object() {
            copy ??= clone(stored);
            return copy;
          },
        };
      } catch (err) {
        if (err instanceof FerryError) return { ok: false, error: err };
        throw err;
      }
    });
  }

  private createNow<T extends Obj>(obj: T): T {
    const key = keyOf(obj);
    if (this.objects.has(key)) throw new AlreadyExistsError(obj.kind, obj.metadata.name);
    const stored = stampCreate(obj, String(++this.revision), this.clock());
    this.objects.set(key, stored);
    this.emit({ type: 'ADDED', object: stored });
    return stored;
  }

  private updateNow<T extends Obj>(obj: T): T {
    const key = keyOf(obj);
    const current = this.objects.get(key);
    if (!current) throw new NotFoundError(obj.kind, obj.metadata.name);
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== current.metadata.resourceVersion) {
      throw new ConflictError(obj.kind, obj.metadata.name, clone(current));
    }
    const stored = stampUpdate(current, obj, String(++this.revision));
    this.objects.set(key, stored);
    this.emit({ type: 'MODIFIED', object: stored });
    return stored;
  }

  async transact(ops: TransactOp[]): Promise<Obj[]> {
    assertDistinct(ops);
    // Every condition is checked before the first write, so a failing op leaves nothing written.
    for (const op of ops) {
      const ref = opRef(op);
      const current = this.objects.get(keyOf(ref));
      if (op.op === 'create') {
        if (current) throw new AlreadyExistsError(ref.kind, ref.name);
        continue;
      }
      if (!current) throw new NotFoundError(ref.kind, ref.name);
      const rv = op.op === 'update' ? op.object.metadata.resourceVersion : op.resourceVersion;
      if (rv !== undefined && rv !== current.metadata.resourceVersion) {
        throw new ConflictError(ref.kind, ref.name, clone(current));
      }
    }
    return ops.map((op) =>
      clone(
        op.op === 'create'
          ? this.createNow(op.object)
          : op.op === 'update'
            ? this.updateNow(op.object)
            : this.deleteNow(op.ref, op.resourceVersion),
      ),
    );
  }

  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<Obj> {
    return clone(this.deleteNow(ref, options.resourceVersion));
  }

  private deleteNow(ref: ObjectRef, rv: string | undefined): Obj {
    const key = keyOf(ref);
    const current = this.objects.get(key);
    if (!current) throw new NotFoundError(ref.kind, ref.name);
    if (rv !== undefined && rv !== current.metadata.resourceVersion) {
      throw new ConflictError(ref.kind, ref.name, clone(current));
    }
    this.objects.delete(key);
    const gone = clone(current);
    gone.metadata.resourceVersion = String(++this.revision);
    this.emit({ type: 'DELETED', object: gone });
    return gone;
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const lease = this.leases.get(name);
    if (lease && lease.holder !== holder && lease.expires > now) return false;
    this.leases.set(name, { holder, expires: now + ttlMs });
    return true;
  }

  renewLeaseObject(ref: ObjectRef, renewal: LeaseRenewal): Promise<Obj> {
    return renewByReplace(this, ref, renewal);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.leases.get(name)?.holder === holder) this.leases.delete(name);
  }

  watch(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private emit(event: ChangeEvent): void {
    for (const listener of this.listeners) {
      const copy = { type: event.type, object: clone(event.object) };
      queueMicrotask(() => listener(copy));
    }
  }
}
