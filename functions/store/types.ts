/**
 * The StateStore seam: every control-plane function keeps all of its state behind this interface.
 * Backends: `memory.ts` (tests, simulation), `sqlite.ts` (embedded default), `dynamodb.ts` (Lambda).
 * Every backend passes the one conformance suite in `test/conformance/`.
 *
 * Objects have the Kubernetes shape. The store owns `metadata.uid`, `metadata.resourceVersion`,
 * `metadata.creationTimestamp` and `metadata.generation`; whatever a caller puts there on create is
 * replaced, and on update uid/creationTimestamp are carried over from the stored object.
 * Objects are keyed by (kind, namespace, name): kind names are unique across API groups in ferry.
 * Returned objects are copies: mutating one never changes what is stored.
 */

import type { Obj, ObjectRef } from '../../schemas/object';
import type { FerryError } from '../errors';

/** The object model lives on the ground floor (`schemas/object.ts`); re-exported for the store's callers. */
export type { Obj, ObjectMeta, ObjectRef, OwnerReference } from '../../schemas/object';

/**
 * How fresh a read must be. Default: strongly consistent (every write that returned before the read
 * started is seen). `consistent: false` allows a recently written value to be missed for a moment
 * (DynamoDB's eventually consistent read, half the read units); backends that are always
 * consistent (memory, SQLite) ignore it. Callers say why a stale answer is safe where they pass it.
 */
export interface ReadOptions {
  consistent?: boolean;
}

export interface ListOptions extends ReadOptions {
  /** Only objects in this namespace; omitted lists every namespace. */
  namespace?: string;
  /** Kubernetes label selector syntax: `app=web,tier in (a,b),!canary`. Throws BadRequestError if malformed. */
  labelSelector?: string;
  /** Pods bound to this node (`spec.nodeName`), served from an index. */
  nodeName?: string;
  /**
   * Pods only, a hint, never a filter a caller can rely on: the pods that refer to this ConfigMap
   * or Secret (`ConfigMap/namespace/name`, schemas/config-refs.ts). A backend that indexes it
   * (SQLite) returns only those; the others ignore it. So the caller still checks each pod (and
   * gives `namespace` too, which every backend applies).
   */
  referringTo?: string;
}

export interface ListResult<T extends Obj = Obj> {
  items: T[];
  /** The store revision the list was read at; opaque to callers. */
  resourceVersion: string;
}

export interface DeleteOptions {
  /** Delete only if the stored object still has this resourceVersion, else ConflictError. */
  resourceVersion?: string;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  type: ChangeType;
  /** The object after the change (for DELETED: as it was when deleted, with a new resourceVersion). */
  object: Obj;
}

export type ChangeListener = (event: ChangeEvent) => void;

/** One write of a batch: exactly what `create` or `update` would do with `object`. */
export type WriteOp<T extends Obj = Obj> = { op: 'create'; object: T } | { op: 'update'; object: T };

/** The result of one op of a batch: the stored object, or the error the single call would throw. */
export type WriteResult<T extends Obj = Obj> = { ok: true; object: T } | { ok: false; error: FerryError };

/**
 * One op of an atomic transaction: a create, an update (conditional on
 * `object.metadata.resourceVersion` when set) or a delete (conditional on `resourceVersion` when set).
 */
export type TransactOp<T extends Obj = Obj> =
  | { op: 'create'; object: T }
  | { op: 'update'; object: T }
  | { op: 'delete'; ref: ObjectRef; resourceVersion?: string };

/** A Lease renewal: who renews, the renewal time it replaces, the new one (RFC 3339, as `spec.renewTime`). */
export interface LeaseRenewal {
  holder: string;
  previousRenewTime: string;
  renewTime: string;
}

export interface StateStore {
  /** The object, or undefined when there is none. Never throws NotFoundError. */
  get<T extends Obj = Obj>(ref: ObjectRef, options?: ReadOptions): Promise<T | undefined>;

  /** Objects of one kind, sorted by namespace then name. */
  list<T extends Obj = Obj>(kind: string, options?: ListOptions): Promise<ListResult<T>>;

  /**
   * Stores a new object and returns it with uid, resourceVersion, creationTimestamp and
   * generation 1 set. Throws AlreadyExistsError if (kind, namespace, name) exists.
   * Not safe to retry blindly: a retry after a lost reply gets AlreadyExistsError.
   */
  create<T extends Obj = Obj>(obj: T): Promise<T>;

  /**
   * Replaces a stored object. If `obj.metadata.resourceVersion` is set and is not the stored one,
   * throws ConflictError carrying the stored object; if it is unset the write is unconditional.
   * `generation` is bumped when anything outside `metadata` and `status` changes.
   * Throws NotFoundError if the object does not exist. Safe to retry: a retry of a write that did
   * land fails with ConflictError, never writes twice.
   */
  update<T extends Obj = Obj>(obj: T): Promise<T>;

  /**
   * Many creates and updates in one round trip: transactions of a few dozen ops on SQLite (one
   * commit each, other work running between them), parallel conditional writes elsewhere. Each op succeeds or fails on its own, with the
   * semantics and errors of `create`/`update` (AlreadyExists, Conflict, NotFound come back in its
   * result, in op order); the batch is NOT atomic across objects. Throws only when the store
   * itself fails, and then any subset may have landed (each op is as safe to retry as alone).
   * Watchers see one event per successful op. For hot paths that write many objects at once: the
   * scheduler's binds.
   */
  writeBatch<T extends Obj = Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]>;

  /**
   * Several creates, updates and deletes that commit all together or not at all, even across a
   * crash (kill -9 mid-call leaves every op landed or none): one SQLite transaction, one DynamoDB
   * TransactWriteItems. Returns the stored objects in op order (a delete: the object as it was,
   * with a new resourceVersion). Each op has the semantics of its single call; if any op's
   * condition fails the whole call throws that op's error (AlreadyExistsError, ConflictError
   * carrying the stored object, NotFoundError) and nothing is written. One object named by two
   * ops is a BadRequestError. A backend with a size limit (DynamoDB: 100 ops, 4 MB) throws a 413
   * FerryError naming it before writing anything. Watchers see one event per op, after the commit.
   * Not safe to retry blindly (like create): after a lost reply, a retry fails on its conditions.
   */
  transact(ops: TransactOp[]): Promise<Obj[]>;

  /**
   * Removes an object and returns it as it was. Throws NotFoundError if it does not exist and
   * ConflictError if `options.resourceVersion` is set and stale.
   */
  delete(ref: ObjectRef, options?: DeleteOptions): Promise<Obj>;

  /**
   * Takes or renews the named lease for `holder` for `ttlMs`. True if `holder` holds it after the
   * call; false if another holder's lease has not expired. Safe to call repeatedly (that renews).
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;

  /** Gives the lease up if `holder` holds it, so another holder can take it at once. */
  releaseLease(name: string, holder: string): Promise<void>;

  /**
   * Renews a Lease object (kind Lease, as a node's heartbeat) by setting `spec.renewTime`, if its
   * `spec.holderIdentity` is `renewal.holder` and its `spec.renewTime` is `renewal.previousRenewTime`
   * (what this renewer wrote last): optimistic concurrency on the fields the renewer owns, with no
   * read on DynamoDB (one conditional write). Returns the stored Lease with a new resourceVersion.
   * Throws ConflictError carrying the stored Lease when the condition fails, NotFoundError when
   * there is none. Optional: without it a caller reads and replaces.
   */
  renewLeaseObject?(ref: ObjectRef, renewal: LeaseRenewal): Promise<Obj>;

  /**
   * Calls `listener` after every committed write made through this store instance (in-process
   * only: writes by another process sharing a SQLite file are seen by the periodic resync).
   * The event's object may be shared with the other listeners, frozen (SQLite's is): a listener
   * that needs to change it changes a copy. Returns a function that unsubscribes.
   */
  watch(listener: ChangeListener): () => void;

  close(): Promise<void>;
}

export type Clock = () => number;
