/**
 * A bounded history of a store's changes, per kind, so a watch can start from a resourceVersion
 * a list returned and still see everything after it, deletions included: what the Kubernetes API
 * server's watch cache keeps (a window of recent events per resource; a watch from before the
 * window is answered `410 Gone`, and the client lists again).
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks and #410-gone-responses
 *
 * It listens to the store's in-process change feed from the moment it is made, so it covers the
 * writes of this process (the runtimes that serve watch have one writer). Each kind keeps its
 * last `capacity` events: a busy kind (Leases, Events) cannot push another kind's history out.
 * The history is complete from the revision the store had when the cache started, and from the
 * last event a kind has dropped.
 */
import type { ChangeEvent, Obj, StateStore } from './types';

export const WATCH_HISTORY_PER_KIND = 1000;

/**
 * A change and, when the history still holds the object's previous event, the object as it was
 * before: what lets a watch with a selector turn "stopped matching" into DELETED and "started
 * matching" into ADDED, as the API server does.
 */
export interface CachedEvent extends ChangeEvent {
  prev?: Obj;
}

interface KindHistory {
  events: CachedEvent[];
  /** The newest object of each key with an event in `events` (the next event's `prev`). */
  latest: Map<string, Obj>;
  /** Every event of the kind after this revision is in `events`. */
  completeAfter: bigint;
}

export type WatchStart =
  | { ok: true; replay: CachedEvent[]; stop: () => void }
  /** `from` is older than the history: the client must list again (410 Expired). */
  | { ok: false; reason: 'Expired'; oldest: bigint }
  /** `from` is newer than anything the store has written (a forged or foreign resourceVersion). */
  | { ok: false; reason: 'TooLarge'; current: bigint };

export class WatchCache {
  private readonly byKind = new Map<string, KindHistory>();
  private readonly listeners = new Set<(ev: CachedEvent) => void>();
  private started: bigint | undefined;
  private latest = 0n;
  private readonly ready: Promise<void>;
  readonly stop: () => void;

  constructor(
    private readonly store: StateStore,
    private readonly capacity = WATCH_HISTORY_PER_KIND,
  ) {
    this.stop = store.watch((ev) => this.record(ev));
    // The revision read after subscribing: every later write reaches record().
    this.ready = store.list('Namespace').then((r) => {
      const started = revision(r.resourceVersion);
      this.started = started;
      if (started > this.latest) this.latest = started;
      // Kinds first written before this answer are complete from here too (nothing dropped yet).
      for (const h of this.byKind.values()) if (h.completeAfter > started) h.completeAfter = started;
    });
  }

  /** The newest revision seen: a bookmark's resourceVersion. */
  get current(): bigint {
    return this.latest;
  }

  /**
   * Subscribes `listener` to `kind`'s events after revision `from`: those already past come back
   * as `replay` (in order), later ones go to the listener, with nothing missed or repeated.
   */
  async watchFrom(kind: string, from: bigint, listener: (ev: CachedEvent) => void): Promise<WatchStart> {
    await this.ready;
    if (from > this.latest) {
      // Writes made by another process sharing the store move its revision without an event here.
      const current = revision((await this.store.list('Namespace')).resourceVersion);
      if (from > current) return { ok: false, reason: 'TooLarge', current };
    }
    const history = this.byKind.get(kind);
    const oldest = history?.completeAfter ?? (this.started as bigint);
    if (from < oldest) return { ok: false, reason: 'Expired', oldest };
    const replay = (history?.events ?? []).filter((ev) => revision(ev.object.metadata.resourceVersion) > from);
    // An event still on its way when a list read past it is not sent twice.
    const own = (ev: CachedEvent) => {
      if (ev.object.kind === kind && revision(ev.object.metadata.resourceVersion) > from) listener(ev);
    };
    this.listeners.add(own);
    return { ok: true, replay, stop: () => this.listeners.delete(own) };
  }

  private record(change: ChangeEvent): void {
    const rv = revision(change.object.metadata.resourceVersion);
    if (rv > this.latest) this.latest = rv;
    let history = this.byKind.get(change.object.kind);
    if (!history) {
      history = { events: [], latest: new Map(), completeAfter: this.started ?? rv - 1n };
      this.byKind.set(change.object.kind, history);
    }
    const key = keyOf(change.object);
    const prev = history.latest.get(key);
    const ev: CachedEvent = prev ? { ...change, prev } : change;
    history.events.push(ev);
    if (change.type === 'DELETED') history.latest.delete(key);
    else history.latest.set(key, change.object);
    if (history.events.length > this.capacity) {
      const dropped = history.events.shift() as CachedEvent;
      history.completeAfter = revision(dropped.object.metadata.resourceVersion);
      const k = keyOf(dropped.object);
      if (history.latest.get(k) === dropped.object) history.latest.delete(k);
    }
    for (const listener of this.listeners) listener(ev);
  }
}

function keyOf(o: Obj): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function revision(rv: string | undefined): bigint {
  return /^\d{1,30}$/.test(rv ?? '') ? BigInt(rv as string) : 0n;
}

const caches = new WeakMap<StateStore, WatchCache>();

/** The store's cache, made on first call (runtimes that serve watch call it at start). */
export function watchCacheOf(store: StateStore): WatchCache {
  let cache = caches.get(store);
  if (!cache) {
    cache = new WatchCache(store);
    caches.set(store, cache);
  }
  return cache;
}
