/**
 * The cluster at a glance for `/metrics`: nodes by their Ready condition and pods by phase, as
 * counts (never per object: a pod name is not a label). Two ways to keep them cheap:
 * - `watch` (one process sees every write: `ferry server`): one list of Nodes and Pods, then the
 *   store's change events keep the counts, so a scrape reads two small maps. Listed again every
 *   few minutes, for writes a second process made to a shared SQLite file.
 * - `list` (Lambda, where an instance sees only its own writes): listed at scrape time, at most
 *   once per `listEveryMs` per instance, eventually consistent (each list costs read units: about
 *   the Nodes' and Pods' size in bytes / 8 KB on DynamoDB).
 */
import { findCondition } from '../../schemas/conditions';
import type { Obj, StateStore } from '../store/types';

export interface ClusterCounts {
  /** Ready condition status (True, False, Unknown) -> nodes. */
  nodes: Map<string, number>;
  /** Phase (Pending, Running, Succeeded, Failed, Unknown) -> pods. */
  pods: Map<string, number>;
}

export interface ClusterGaugeOptions {
  mode: 'watch' | 'list';
  clock?: () => number;
  /** list: how long one listing answers scrapes (default 30 s). */
  listEveryMs?: number;
  /** watch: how often the counts are listed again from scratch (default 5 min). */
  reseedEveryMs?: number;
}

/** A gauge a moment behind is still the gauge, at half DynamoDB's read units. */
const STALE_OK = { consistent: false } as const;

const PHASES = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);
const READY = new Set(['True', 'False', 'Unknown']);

export function nodeReady(node: Obj): string {
  const status = findCondition(node, 'Ready')?.status;
  return status !== undefined && READY.has(status) ? status : 'Unknown';
}

export function podPhase(pod: Obj): string {
  const phase = (pod.status as { phase?: unknown } | undefined)?.phase;
  if (phase === undefined) return 'Pending';
  return typeof phase === 'string' && PHASES.has(phase) ? phase : 'Unknown';
}

export class ClusterGauges {
  private readonly clock: () => number;
  /** watch: node name -> Ready status, pod uid -> phase. */
  private nodeState = new Map<string, string>();
  private podState = new Map<string, string>();
  private seededAt = Number.NEGATIVE_INFINITY;
  private seeding: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private listed: { at: number; counts: ClusterCounts } | undefined;
  /** While a seed lists: the events that arrived meanwhile. */
  private buffer: Change[] | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly options: ClusterGaugeOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  async counts(): Promise<ClusterCounts> {
    return this.options.mode === 'watch' ? this.watched() : this.listedCounts();
  }

  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  private async watched(): Promise<ClusterCounts> {
    if (this.clock() - this.seededAt >= (this.options.reseedEveryMs ?? 300_000)) {
      this.seeding ??= this.seed().finally(() => {
        this.seeding = undefined;
      });
      await this.seeding;
    }
    return { nodes: tally(this.nodeState.values()), pods: tally(this.podState.values()) };
  }

  /** Subscribes first, and holds the events that arrive while it lists, so none is missed. */
  private async seed(): Promise<void> {
    const nodes = new Map<string, string>();
    const pods = new Map<string, string>();
    const during: Change[] = [];
    this.buffer = during;
    this.unwatch ??= this.store.watch((ev) => {
      if (ev.object.kind !== 'Node' && ev.object.kind !== 'Pod') return;
      const change = { deleted: ev.type === 'DELETED', object: ev.object };
      if (this.buffer) this.buffer.push(change);
      else this.apply(this.nodeState, this.podState, change);
    });
    try {
      const [nodeList, podList] = await Promise.all([
        this.store.list('Node', STALE_OK),
        this.store.list('Pod', STALE_OK),
      ]);
      for (const n of nodeList.items) nodes.set(n.metadata.name, nodeReady(n));
      for (const p of podList.items) pods.set(podKey(p), podPhase(p));
      for (const change of during) this.apply(nodes, pods, change);
      this.nodeState = nodes;
      this.podState = pods;
      this.seededAt = this.clock();
    } finally {
      // A failed list keeps the counts it had, with the events it held applied.
      if (this.buffer === during) this.buffer = undefined;
      if (this.nodeState !== nodes) for (const change of during) this.apply(this.nodeState, this.podState, change);
    }
  }

  private apply(nodes: Map<string, string>, pods: Map<string, string>, c: Change): void {
    const o = c.object;
    if (o.kind === 'Node') {
      if (c.deleted) nodes.delete(o.metadata.name);
      else nodes.set(o.metadata.name, nodeReady(o));
      return;
    }
    const key = podKey(o);
    if (c.deleted) pods.delete(key);
    else pods.set(key, podPhase(o));
  }

  private async listedCounts(): Promise<ClusterCounts> {
    const now = this.clock();
    if (this.listed && now - this.listed.at < (this.options.listEveryMs ?? 30_000)) return this.listed.counts;
    const [nodes, pods] = await Promise.all([this.store.list('Node', STALE_OK), this.store.list('Pod', STALE_OK)]);
    const counts = { nodes: tally(nodes.items.map(nodeReady)), pods: tally(pods.items.map(podPhase)) };
    this.listed = { at: now, counts };
    return counts;
  }
}

type Change = { deleted: boolean; object: Obj };

function podKey(p: Obj): string {
  return p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
}

function tally(values: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}
