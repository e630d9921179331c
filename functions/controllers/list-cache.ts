/**
 * Whole-kind lists for the controllers' snapshots, kept in memory between passes from the store's
 * change feed (what client-go's informers keep), so a pass does not parse every Pod, Node and
 * Lease again: at 1,000 nodes with 10,000 pods, listing them was most of a pass's CPU and the
 * longest stretches the server's event loop was held (a 10,000-pod SQLite list alone is 100-200 ms
 * of JSON parsing).
 *
 * Only where the feed shows every write: the local runtime turns it on (one process writes its
 * SQLite file). It checks that it has missed nothing before each pass: every write bumps the
 * store's revision by one and is one change event, so the events seen must reach the store's
 * current revision without a gap; another process writing the same file (or events not delivered)
 * shows as a gap or a revision ahead of them, and the cache starts over from fresh lists.
 *
 * Objects are frozen: a snapshot hands them to controllers shared (snapshot.ts says never to
 * mutate them), and here they outlive the pass, so a mutation in place throws instead of
 * corrupting every later pass. Secrets are never cached (the feed may carry them without values).
 */
import type { ChangeEvent, ListOptions, ListResult, Obj, StateStore } from '../store/types';

const NOT_CACHED = new Set(['Secret']);

interface KindList {
  byKey: Map<string, Obj>;
  /** In the store's order (namespace, then name); undefined after a change until the next list. */
  ordered: Obj[] | undefined;
}

/** Recent events kept to bring a list up to the events seen while it was on its way. */
const RECENT_EVENTS = 2_000;

export class ListCache {
  private readonly kinds = new Map<string, KindList>();
  /** Every write up to this revision is in the lists; undefined: nothing cached yet. */
  private seenUpTo: bigint | undefined;
  private recent: ChangeEvent[] = [];
  private readonly unwatch: () => void;

  constructor(private readonly store: StateStore) {
    this.unwatch = store.watch((ev) => this.observe(ev));
  }

  stop(): void {
    this.unwatch();
    this.reset();
  }

  /**
   * Before a pass: keeps the lists only if the events seen reach the store's current revision
   * (events are microtasks: those of writes before the read are delivered by the time it returns).
   */
  async verify(): Promise<void> {
    if (this.seenUpTo === undefined) return;
    const current = revision((await this.store.list('Namespace')).resourceVersion);
    if (this.seenUpTo === undefined || current > this.seenUpTo) this.reset();
  }

  /** Every object of `kind`, as the store lists it, in its order. */
  async list<T extends Obj>(kind: string): Promise<ListResult<T>> {
    if (NOT_CACHED.has(kind)) return this.store.list<T>(kind);
    const have = this.kinds.get(kind);
    if (have && this.seenUpTo !== undefined) {
      have.ordered ??= [...have.byKey.values()].sort(storeOrder);
      // A copy of the array: callers may sort or push (only the objects are shared).
      return { items: [...have.ordered] as T[], resourceVersion: String(this.seenUpTo) };
    }
    const result = await this.store.list<T>(kind);
    const at = revision(result.resourceVersion);
    if (this.seenUpTo === undefined || at > this.seenUpTo) {
      // Writes the feed has not shown (another process's, or a first list): start over from here.
      this.reset();
      this.seenUpTo = at;
    }
    const byKey = new Map<string, Obj>();
    for (const obj of result.items) byKey.set(keyOf(obj), deepFreeze(obj));
    let ordered: Obj[] | undefined = result.items;
    if (at < this.seenUpTo) {
      // Events seen while the list was on its way: applied to it, if they are all still here.
      const oldest = this.recent[0];
      if (!oldest || revision(oldest.object.metadata.resourceVersion) > at + 1n) return result;
      for (const ev of this.recent) {
        if (ev.object.kind !== kind || revision(ev.object.metadata.resourceVersion) <= at) continue;
        if (ev.type === 'DELETED') byKey.delete(keyOf(ev.object));
        else byKey.set(keyOf(ev.object), ev.object);
        ordered = undefined;
      }
    }
    const list: KindList = { byKey, ordered: ordered && [...ordered] };
    this.kinds.set(kind, list);
    list.ordered ??= [...byKey.values()].sort(storeOrder);
    return { items: [...list.ordered] as T[], resourceVersion: String(this.seenUpTo) };
  }

  private reset(): void {
    this.kinds.clear();
    this.recent = [];
    this.seenUpTo = undefined;
  }

  private observe(ev: ChangeEvent): void {
    if (this.seenUpTo === undefined) return;
    const rv = revision(ev.object.metadata.resourceVersion);
    if (rv <= this.seenUpTo) return; // already in a list taken after it
    if (rv !== this.seenUpTo + 1n) {
      this.reset(); // a write this process did not see
      return;
    }
    this.seenUpTo = rv;
    deepFreeze(ev.object);
    this.recent.push(ev);
    if (this.recent.length > RECENT_EVENTS) this.recent = this.recent.slice(-RECENT_EVENTS / 2);
    const kind = this.kinds.get(ev.object.kind);
    if (!kind) return;
    const key = keyOf(ev.object);
    if (ev.type === 'DELETED') kind.byKey.delete(key);
    else kind.byKey.set(key, ev.object);
    kind.ordered = undefined;
  }
}

/**
 * `store` with its whole-kind lists answered by `cache` (what a snapshot loads its views with);
 * every other call, and lists with options, go to the store.
 */
export function withCachedLists(store: StateStore, cache: ListCache): StateStore {
  return {
    get: (ref, options) => store.get(ref, options),
    list: <T extends Obj>(kind: string, options?: ListOptions) =>
      options && Object.keys(options).length > 0 ? store.list<T>(kind, options) : cache.list<T>(kind),
    create: (obj) => store.create(obj),
    update: (obj) => store.update(obj),
    delete: (ref, options) => store.delete(ref, options),
    writeBatch: (ops) => store.writeBatch(ops),
    transact: (ops) => store.transact(ops),
    acquireLease: (name, holder, ttlMs) => store.acquireLease(name, holder, ttlMs),
    releaseLease: (name, holder) => store.releaseLease(name, holder),
    ...(store.renewLeaseObject ? { renewLeaseObject: store.renewLeaseObject.bind(store) } : {}),
    watch: (listener) => store.watch(listener),
    close: () => store.close(),
  };
}

function keyOf(o: Obj): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** (namespace, name), as the stores' lists order them (byte order; names are ASCII). */
function storeOrder(a: Obj, b: Obj): number {
  const an = a.metadata.namespace ?? '';
  const bn = b.metadata.namespace ?? '';
  if (an !== bn) return an < bn ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

function revision(rv: string | undefined): bigint {
  return /^\d{1,30}$/.test(rv ?? '') ? BigInt(rv as string) : -1n;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}
