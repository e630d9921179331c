/**
 * The per-node desired-state record (`NodeDesired`, one per node, internal: never served by the
 * generic routes) and the store decorator that keeps it current, so an agent's quiet sync is one
 * small read of this record instead of lists of pods, config and routes.
 *
 * The record has one version token per section of what a node must run:
 * - `pods`: a pod bound to the node was created, changed (anything but a status-only write by its
 *   agent) or deleted, or a PersistentVolume pinned to the node was written (volumes go with pods);
 * - `config`: a ConfigMap or Secret that a pod of the node refers to was written or deleted;
 * - `logs`: a LogRequest for the node was created or deleted;
 * - `routes`: the Service route index moved (written by the endpoints controller, which brings
 *   every node's record to the index's sequence number: functions/service-routes.ts).
 *
 * One mechanism: every control-plane writer goes through `trackNodeDesired(store)` (the API
 * handler and the controller manager wrap their store; wrapping twice is a no-op), which bumps the
 * sections after each successful write. The agent's own pod status writes go through
 * `untracked(store)`: they change nothing the node must run. Over-bumping is always safe (the node
 * re-reads a section); a missed bump is what must not happen, and two nets catch one (a bump that
 * failed after its write landed): the agent drops its pod/config/log versions every few minutes
 * (agent/agent.ts), and the endpoints controller catches lagging records up.
 */
import { randomBytes } from 'node:crypto';
import { configRefs } from '../schemas/config-refs';
import { type PersistentVolume, volumeNode } from '../schemas/storage';
import { isAlreadyExists, isNotFound } from './errors';
import { isConflictOrExists, isObjectAt, retryOnConflict } from './store/retry';
import type {
  ChangeListener,
  Clock,
  DeleteOptions,
  ListOptions,
  ListResult,
  Obj,
  ObjectRef,
  ReadOptions,
  StateStore,
  TransactOp,
  WriteOp,
  WriteResult,
} from './store/types';

export const NODE_DESIRED_KIND = 'NodeDesired';
export const LOG_REQUEST_KIND = 'LogRequest';

export type Section = 'pods' | 'config' | 'logs' | 'routes';
export const SECTIONS: readonly Section[] = ['pods', 'config', 'logs', 'routes'];

export interface NodeDesiredSpec {
  pods: string;
  config: string;
  logs: string;
  /** The route index's sequence number this node's record was last brought to. */
  routes: string;
  /** When a section last moved (ms, server clock): polling runtimes tighten the interval after. */
  changedAt: number;
  /** When `pods`/`logs` last moved: lists of them read a node index that may lag on DynamoDB. */
  podsChangedAt?: number;
  /** The ingress table's hash this record was brought to (functions/ingress-table.ts); absent: none yet. */
  ingress?: string;
  /** Until when (ms, server clock) the node sends its resource usage on its syncs (functions/node-usage.ts). */
  usageUntil?: number;
}
export type NodeDesired = Obj & { spec: NodeDesiredSpec };

const UNTRACKED = Symbol('ferry.untracked-store');
type Tracked = StateStore & { [UNTRACKED]: StateStore };

/** The record's ref for a node. */
export function nodeDesiredRef(nodeName: string): ObjectRef {
  return { kind: NODE_DESIRED_KIND, name: nodeName };
}

function nodeNameOf(obj: Obj): string | undefined {
  const n = (obj.spec as { nodeName?: unknown } | undefined)?.nodeName;
  return typeof n === 'string' && n !== '' ? n : undefined;
}

function token(): string {
  return randomBytes(6).toString('base64url');
}

/** The store whose writes bump NodeDesired records; `store` itself if it already does. */
export function trackNodeDesired(store: StateStore, clock: Clock): StateStore {
  if ((store as Partial<Tracked>)[UNTRACKED]) return store;
  return new TrackingStore(store, clock);
}

/** The store underneath the decorator: writes through it bump nothing (the agent's status writes). */
export function untracked(store: StateStore): StateStore {
  return (store as Partial<Tracked>)[UNTRACKED] ?? store;
}

/**
 * Moves the given sections of each node's record (creating it when missing), retrying on a
 * concurrent bump. `routes` takes the route index's sequence number instead of a fresh token.
 */
export async function bumpNodes(
  store: StateStore,
  clock: Clock,
  bumps: Map<string, Set<Section>>,
  routesSeq?: string,
): Promise<void> {
  for (const [nodeName, sections] of bumps) {
    if (sections.size === 0) continue;
    const ref = nodeDesiredRef(nodeName);
    // Retried from the record a conflict carries (a concurrent bump); a lost create reads it again.
    await retryOnConflict(
      (current) =>
        bumpOne(
          store,
          clock,
          nodeName,
          sections,
          routesSeq,
          isObjectAt(current, ref) ? (current as NodeDesired) : undefined,
        ),
      { attempts: BUMP_ATTEMPTS, retryIf: isConflictOrExists },
    );
  }
}

/** Bumps of one record at most: every writer of a busy cluster may bump the same node at once. */
const BUMP_ATTEMPTS = 9;

async function bumpOne(
  store: StateStore,
  clock: Clock,
  nodeName: string,
  sections: Set<Section>,
  routesSeq: string | undefined,
  /** The record as a lost race left it, when there was one: no read then. */
  known: NodeDesired | undefined,
): Promise<void> {
  // Consistent: the bump is a read-modify-write conditional on what it read.
  const current = known ?? (await store.get<NodeDesired>(nodeDesiredRef(nodeName)));
  const now = clock();
  const spec: NodeDesiredSpec = current?.spec ?? {
    pods: token(),
    config: token(),
    logs: token(),
    routes: routesSeq ?? '',
    changedAt: now,
  };
  // A route change alone does not make the node busy (a polled node keeps its quiet interval):
  // it is every node's at once, and the proxies retry an endpoint that went away.
  const onlyRoutes = [...sections].every((s) => s === 'routes');
  const next: NodeDesiredSpec = { ...spec, changedAt: onlyRoutes && current ? spec.changedAt : now };
  for (const s of sections) {
    if (s === 'routes') {
      if (routesSeq === undefined || Number(routesSeq) <= Number(spec.routes || '0')) continue;
      next.routes = routesSeq;
    } else {
      next[s] = token();
      if (s === 'pods' || s === 'logs') next.podsChangedAt = now;
    }
  }
  if (!current) {
    await store.create<NodeDesired>({
      apiVersion: 'ferry.dev/v1',
      kind: NODE_DESIRED_KIND,
      metadata: { name: nodeName },
      spec: next,
    });
    return;
  }
  if (next.routes === spec.routes && onlyRoutes) return;
  await store.update<NodeDesired>({ ...current, spec: next });
}

/**
 * Creates a node's record if it has none (its agent's first sync): fresh tokens, so whatever the
 * agent holds reads as moved; routes at no sequence yet, so its sync reads the route index.
 */
export async function createNodeDesired(store: StateStore, clock: Clock, nodeName: string): Promise<void> {
  const t = token();
  try {
    await store.create<NodeDesired>({
      apiVersion: 'ferry.dev/v1',
      kind: NODE_DESIRED_KIND,
      metadata: { name: nodeName },
      spec: { pods: t, config: t, logs: t, routes: '', changedAt: clock() },
    });
  } catch (err) {
    // A concurrent bump created it: that one is as good.
    if (!isAlreadyExists(err)) throw err;
  }
}

export { configRefs };

class TrackingStore implements StateStore {
  readonly [UNTRACKED]: StateStore;

  constructor(
    private readonly inner: StateStore,
    private readonly clock: Clock,
  ) {
    this[UNTRACKED] = inner;
  }

  get<T extends Obj>(ref: ObjectRef, options?: ReadOptions): Promise<T | undefined> {
    return this.inner.get<T>(ref, options);
  }

  list<T extends Obj>(kind: string, options?: ListOptions): Promise<ListResult<T>> {
    return this.inner.list<T>(kind, options);
  }

  async create<T extends Obj>(obj: T): Promise<T> {
    const stored = await this.inner.create(obj);
    await this.bumpFor([{ object: stored, deleted: false, created: true }]);
    return stored;
  }

  async update<T extends Obj>(obj: T): Promise<T> {
    const stored = await this.inner.update(obj);
    await this.bumpFor([{ object: stored, deleted: false, created: false }]);
    return stored;
  }

  async writeBatch<T extends Obj>(ops: WriteOp<T>[]): Promise<WriteResult<T>[]> {
    const results = await this.inner.writeBatch(ops);
    // One bump per node for the whole batch: the scheduler binds many pods to a node at once.
    await this.bumpFor(
      results.flatMap((r, i) => (r.ok ? [{ object: r.object, deleted: false, created: ops[i]?.op === 'create' }] : [])),
    );
    return results;
  }

  async delete(ref: ObjectRef, options?: DeleteOptions): Promise<Obj> {
    const gone = await this.inner.delete(ref, options);
    if (gone.kind === 'Node') {
      await this.inner.delete(nodeDesiredRef(gone.metadata.name)).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    } else {
      await this.bumpFor([{ object: gone, deleted: true, created: false }]);
    }
    return gone;
  }

  async transact(ops: TransactOp[]): Promise<Obj[]> {
    const results = await this.inner.transact(ops);
    // apply commits a bundle here: its pods and config move their nodes like single writes do.
    await this.bumpFor(
      results.flatMap((object, i) => {
        const op = ops[i] as TransactOp;
        if (op.op === 'delete' && object.kind === 'Node') return [];
        return [{ object, deleted: op.op === 'delete', created: op.op === 'create' }];
      }),
    );
    return results;
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.inner.acquireLease(name, holder, ttlMs);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.inner.releaseLease(name, holder);
  }

  watch(listener: ChangeListener): () => void {
    return this.inner.watch(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async bumpFor(writes: { object: Obj; deleted: boolean; created: boolean }[]): Promise<void> {
    const bumps = new Map<string, Set<Section>>();
    const add = (node: string, section: Section) => {
      const set = bumps.get(node) ?? new Set<Section>();
      set.add(section);
      bumps.set(node, set);
    };
    const configWrites: Obj[] = [];
    for (const { object, deleted, created } of writes) {
      const node = nodeNameOf(object);
      if (object.kind === 'Pod' && node) add(node, 'pods');
      // A node's volumes travel with its pods: a PV made, bound or deleted there moves them.
      else if (object.kind === 'PersistentVolume' && volumeNode(object as PersistentVolume))
        add(volumeNode(object as PersistentVolume) as string, 'pods');
      else if (object.kind === LOG_REQUEST_KIND && node && (created || deleted)) add(node, 'logs');
      else if (object.kind === 'ConfigMap' || object.kind === 'Secret') configWrites.push(object);
    }
    for (const obj of configWrites) {
      const ref = `${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
      // Consistent: a pod created just before this write, and already synced without the object,
      // must be found here, or its node would never learn that its config arrived.
      // Only the pods that refer to it, where the backend indexes them (a hint: types.ts
      // `referringTo`; the check below is the rule).
      const pods = await this.inner.list('Pod', { namespace: obj.metadata.namespace as string, referringTo: ref });
      for (const p of pods.items) {
        const node = nodeNameOf(p);
        if (node && configRefs(p).includes(ref)) add(node, 'config');
      }
    }
    if (bumps.size > 0) await bumpNodes(this.inner, this.clock, bumps);
  }
}
