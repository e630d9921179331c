/**
 * The cluster as one controllers round sees it: each kind is listed from the store at most once
 * (the first time a controller asks for it), then kept up to date with the round's own writes, so
 * no controller lists Pods, Nodes or ReplicaSets on its own (issue 12: a pass used to list Pods
 * five times per round). Indexes: dependents by their controller owner's uid, Pods by node name.
 *
 * `store` is the store a round's controllers write through: writes go to the real store and their
 * results (or, on a lost race, the object a ConflictError carries) into the snapshot; `list` and
 * `get` of a kind the snapshot holds are answered from it, so code written against the plain store
 * (endpoints, load balancers, node pools, pod deletion) reads the snapshot too. Writes by others
 * are not seen until the next pass rereads: they trigger one (the watch, the DynamoDB stream), and
 * a write made from a stale object fails with a conflict that brings the stored object in.
 *
 * Objects in the snapshot are shared, not copied: read them, spread them to change them, never
 * mutate them in place (`get` returns a copy, as the store does, since its callers do mutate).
 */
import { isConflict, isNotFound } from '../errors';
import { compileLabelSelector } from '../store/selector';
import type {
  ListOptions,
  ListResult,
  Obj,
  ObjectRef,
  ReadOptions,
  StateStore,
  TransactOp,
  WriteOp,
  WriteResult,
} from '../store/types';

interface KindView {
  byKey: Map<string, Obj>;
  /** Controller-owner uid -> keys of the objects it owns. */
  byOwner: Map<string, Set<string>>;
  /** Pods only: node name -> keys of the pods bound there. */
  byNode: Map<string, Set<string>>;
  sorted: Obj[] | undefined;
  /** True while `byKey` is still in the store's order (namespace, then name): no write added one. */
  inStoreOrder: boolean;
  resourceVersion: string;
}

function keyOf(ref: { namespace?: string | undefined; name: string }): string {
  return `${ref.namespace ?? ''}/${ref.name}`;
}

function ownerOf(obj: Obj): string | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

function nodeOf(obj: Obj): string | undefined {
  return obj.kind === 'Pod' ? (obj as { spec?: { nodeName?: string } }).spec?.nodeName : undefined;
}

export class ClusterSnapshot {
  private readonly views = new Map<string, KindView>();
  private readonly loading = new Map<string, Promise<KindView>>();
  /** When each kind was listed (the clock given): what was stored then, not necessarily now. */
  private readonly listed = new Map<string, number>();
  /** Successful writes made through `store`: the manager goes round again while a round writes. */
  writes = 0;
  /** The store this round's controllers use: see the file comment. */
  readonly store: StateStore;

  /**
   * @param written told of every write this pass made (the object as stored; for a delete, as it
   * was), so the manager can tell its own writes' watch events from everyone else's.
   */
  constructor(
    private readonly backing: StateStore,
    private readonly written: (obj: Obj, deleted: boolean) => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.store = this.passStore();
  }

  /** Every object of `kind`, in the store's order, then the round's own creations. */
  async list<T extends Obj>(kind: string): Promise<T[]> {
    const view = await this.view(kind);
    view.sorted ??= [...view.byKey.values()];
    return view.sorted as T[];
  }

  /** The objects of `kind` whose controller owner has `uid`. */
  async ownedBy<T extends Obj>(kind: string, uid: string): Promise<T[]> {
    const view = await this.view(kind);
    return [...(view.byOwner.get(uid) ?? [])].map((k) => view.byKey.get(k) as T);
  }

  /** The pods bound to a node. */
  async podsOn<T extends Obj>(nodeName: string): Promise<T[]> {
    const view = await this.view('Pod');
    return [...(view.byNode.get(nodeName) ?? [])].map((k) => view.byKey.get(k) as T);
  }

  /**
   * When `kind` was listed, if it was: a pass of many rounds judges a heartbeat by when it was read,
   * not by the clock at its last round (renewals since are not in the snapshot).
   */
  listedAt(kind: string): number | undefined {
    return this.listed.get(kind);
  }

  /** True once `kind` was listed in this snapshot. */
  holds(kind: string): boolean {
    return this.views.has(kind);
  }

  /** Puts what the store now holds into the snapshot (after a write, or from a ConflictError). */
  observe(obj: Obj): void {
    const view = this.views.get(obj.kind);
    if (!view) return;
    const key = keyOf(obj.metadata);
    this.unindex(view, key);
    if (!view.byKey.has(key)) view.inStoreOrder = false;
    view.byKey.set(key, obj);
    const owner = ownerOf(obj);
    if (owner) addTo(view.byOwner, owner, key);
    const node = nodeOf(obj);
    if (node) addTo(view.byNode, node, key);
    view.sorted = undefined;
  }

  /** Takes a deleted (or found missing) object out of the snapshot. */
  forget(ref: ObjectRef): void {
    const view = this.views.get(ref.kind);
    if (!view) return;
    const key = keyOf(ref);
    if (!view.byKey.has(key)) return;
    this.unindex(view, key);
    view.byKey.delete(key);
    view.sorted = undefined;
  }

  private unindex(view: KindView, key: string): void {
    const old = view.byKey.get(key);
    if (!old) return;
    const owner = ownerOf(old);
    if (owner) view.byOwner.get(owner)?.delete(key);
    const node = nodeOf(old);
    if (node) view.byNode.get(node)?.delete(key);
  }

  private view(kind: string): Promise<KindView> {
    const have = this.views.get(kind);
    if (have) return Promise.resolve(have);
    let pending = this.loading.get(kind);
    if (!pending) {
      const at = this.clock();
      pending = this.backing.list(kind).then((result) => {
        this.listed.set(kind, at);
        const view: KindView = {
          byKey: new Map(),
          byOwner: new Map(),
          byNode: new Map(),
          sorted: result.items,
          inStoreOrder: true,
          resourceVersion: result.resourceVersion,
        };
        for (const obj of result.items) {
          const key = keyOf(obj.metadata);
          view.byKey.set(key, obj);
          const owner = ownerOf(obj);
          if (owner) addTo(view.byOwner, owner, key);
          const node = nodeOf(obj);
          if (node) addTo(view.byNode, node, key);
        }
        this.views.set(kind, view);
        this.loading.delete(kind);
        return view;
      });
      this.loading.set(kind, pending);
    }
    return pending;
  }

  private async listFiltered<T extends Obj>(kind: string, options: ListOptions = {}): Promise<ListResult<T>> {
    let items: Obj[] = await this.list(kind);
    if (options.nodeName) items = kind === 'Pod' ? await this.podsOn(options.nodeName) : [];
    if (options.namespace !== undefined) items = items.filter((o) => o.metadata.namespace === options.namespace);
    if (options.labelSelector) {
      const matches = compileLabelSelector(options.labelSelector);
      items = items.filter((o) => matches(o.metadata.labels));
    }
    const view = this.views.get(kind) as KindView;
    const ordered = view.inStoreOrder && !options.nodeName;
    const sorted = ordered ? [...items] : [...items].sort((a, b) => compare(keyOf(a.metadata), keyOf(b.metadata)));
    return { items: sorted as T[], resourceVersion: view.resourceVersion };
  }

  /** Keeps the snapshot in step with one write's outcome, and rethrows its error. */
  private async track<T>(ref: ObjectRef, write: Promise<T>, result: (value: T) => Obj | undefined): Promise<T> {
    try {
      const value = await write;
      const obj = result(value);
      if (obj) this.observe(obj);
      else this.forget(ref);
      this.writes++;
      this.written(obj ?? (value as Obj), obj === undefined);
      return value;
    } catch (err) {
      if (isConflict(err) && err.current) this.observe(err.current);
      else if (isNotFound(err)) this.forget(ref);
      throw err;
    }
  }

  private passStore(): StateStore {
    const backing = this.backing;
    const refOf = (obj: Obj): ObjectRef => ({
      kind: obj.kind,
      name: obj.metadata.name,
      ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    });
    return {
      get: async <T extends Obj>(ref: ObjectRef, options?: ReadOptions) => {
        const view = this.views.get(ref.kind);
        if (!view) return backing.get<T>(ref, options);
        const obj = view.byKey.get(keyOf(ref));
        return obj ? structuredClone(obj as T) : undefined;
      },
      list: <T extends Obj>(kind: string, options?: ListOptions) => this.listFiltered<T>(kind, options),
      create: <T extends Obj>(obj: T) => this.track(refOf(obj), backing.create(obj), (v) => v),
      update: <T extends Obj>(obj: T) => this.track(refOf(obj), backing.update(obj), (v) => v),
      delete: (ref: ObjectRef, options) => this.track(ref, backing.delete(ref, options), () => undefined),
      writeBatch: async <T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> => {
        const results = await backing.writeBatch(ops);
        for (const r of results) {
          if (r.ok) {
            this.observe(r.object);
            this.writes++;
            this.written(r.object, false);
          } else if (isConflict(r.error) && r.error.current) this.observe(r.error.current);
        }
        return results;
      },
      transact: async (ops: TransactOp[]): Promise<Obj[]> => {
        const results = await backing.transact(ops);
        results.forEach((obj, i) => {
          const op = ops[i] as TransactOp;
          if (op.op === 'delete') this.forget(op.ref);
          else this.observe(obj);
          this.writes++;
          this.written(obj, op.op === 'delete');
        });
        return results;
      },
      acquireLease: (name, holder, ttlMs) => backing.acquireLease(name, holder, ttlMs),
      releaseLease: (name, holder) => backing.releaseLease(name, holder),
      watch: (listener) => backing.watch(listener),
      close: () => backing.close(),
    };
  }
}

function addTo(index: Map<string, Set<string>>, at: string, key: string): void {
  const set = index.get(at);
  if (set) set.add(key);
  else index.set(at, new Set([key]));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
