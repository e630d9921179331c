/**
 * Resource usage from the nodes, kept where the metrics API and the HPA controller read it, at a
 * cost only where someone looks.
 *
 * The control plane never calls a node. It asks for usage by setting `usageUntil` on the node's
 * NodeDesired record (the record every sync reads anyway, so asking costs no read on the node's
 * side): a held sync wakes at the write, a polled one sees it at its next poll, and from then on
 * the node's syncs carry a UsageReport (`SyncResponse.usage` tells the agent so) until the time
 * passes. The sync stores each report as the node's one `NodeUsage` record (internal, never served
 * by the generic routes, no controllers trigger), overwritten in place.
 *
 * Who asks: the HPA controller, for the nodes its targets' pods run on, for HPA_DEMAND_MS at a
 * time, renewed when less than HPA_RENEW_MS is left (about one write per such node every
 * 2.5 minutes); the metrics API, for the nodes a `kubectl top` asks about, for TOP_DEMAND_MS. A
 * cluster without HPAs, where nobody runs `kubectl top`, writes no usage at all.
 */
import type { UsageReport, UsageWanted } from '../schemas/agent-protocol';
import { isoTime } from '../schemas/time';
import { isNotFound } from './errors';
import { type NodeDesired, nodeDesiredRef } from './node-desired';
import { replaceOrCreate, retryOnConflict } from './store/retry';
import type { Clock, Obj, ObjectRef, StateStore } from './store/types';

export const NODE_USAGE_KIND = 'NodeUsage';
/** How often a node sends usage while asked (metrics-server's default resolution is 15 s too). */
export const USAGE_EVERY_SECONDS = 15;
/** An HPA's ask lasts this long, renewed when less than HPA_RENEW_MS remains. */
export const HPA_DEMAND_MS = 5 * 60_000;
export const HPA_RENEW_MS = 150_000;
/**
 * Usage older than this is not served (metrics-server likewise drops a node it cannot scrape):
 * a reporting node sends every 15 s (held) or 20 s (polled).
 */
export const USAGE_FRESH_MS = 60_000;
/** A report is still stored this long after its ask ended (it was read before the node saw the end). */
export const USAGE_GRACE_MS = 30_000;
/** A `kubectl top` keeps its nodes reporting this long, so a second look answers at once. */
export const TOP_DEMAND_MS = 5 * 60_000;

export interface ContainerUsage {
  name: string;
  cpuNanoCores: number;
  memoryBytes: number;
}

/**
 * A pod's usage, by uid alone: readers match it to the Pod object they hold (and to the node it
 * is bound to), and each byte is paid for on every write (DynamoDB bills per started KB).
 */
export interface PodUsage {
  uid: string;
  containers: ContainerUsage[];
}

export type NodeUsage = Obj & {
  spec: {
    /** When the later of the two readings was taken (server clock). */
    timestamp: string;
    /** The time between the readings the CPU rate is over. */
    windowSeconds: number;
    node: { cpuNanoCores: number; memoryBytes: number };
    pods: PodUsage[];
  };
};

export function nodeUsageRef(nodeName: string): ObjectRef {
  return { kind: NODE_USAGE_KIND, name: nodeName };
}

/** What a sync answers about usage: asked for while `usageUntil` is ahead. */
export function usageWanted(desired: NodeDesired, now: number): UsageWanted | undefined {
  return (desired.spec.usageUntil ?? 0) > now ? { everySeconds: USAGE_EVERY_SECONDS } : undefined;
}

/** The record a sync's report becomes; the report is dated by the server's clock. */
export function usageRecord(nodeName: string, report: UsageReport, now: number): NodeUsage {
  return {
    apiVersion: 'ferry.dev/v1',
    kind: NODE_USAGE_KIND,
    metadata: { name: nodeName },
    spec: {
      timestamp: isoTime(now - report.ageMs),
      windowSeconds: Math.round(report.windowMs) / 1000,
      node: report.node,
      pods: report.pods.map((p) => ({ uid: p.pod.uid, containers: p.containers })),
    },
  };
}

/** Stores a node's report over its previous one (one write; a create the first time). */
export async function storeUsage(store: StateStore, record: NodeUsage): Promise<void> {
  await replaceOrCreate(store, record);
}

/**
 * Asks `nodes` for usage until at least `now + forMs`, writing only the records whose ask ends
 * within `renewBelowMs` (so an HPA pass every 15 s writes each node's record once per few
 * minutes). A node without a record has never synced: it cannot be asked. Returns the nodes
 * asked (now reporting or about to), of those the ones whose record this call wrote, and until
 * when each is asked (a caller that keeps it need not read the record again before then).
 */
export async function askForUsage(
  store: StateStore,
  clock: Clock,
  nodes: Iterable<string>,
  forMs: number,
  renewBelowMs: number,
): Promise<{ asked: string[]; written: string[]; until: Map<string, number> }> {
  const asked: string[] = [];
  const written: string[] = [];
  const until = new Map<string, number>();
  for (const nodeName of new Set(nodes)) {
    const ref = nodeDesiredRef(nodeName);
    const outcome = await retryOnConflict(async (conflicted) => {
      const current =
        (conflicted as NodeDesired | undefined) ?? (await store.get<NodeDesired>(ref, { consistent: false }));
      if (!current) return 'none';
      const now = clock();
      const asks = current.spec.usageUntil ?? 0;
      if (asks - now >= renewBelowMs) {
        until.set(nodeName, asks);
        return 'asked';
      }
      await store.update<NodeDesired>({ ...current, spec: { ...current.spec, usageUntil: now + forMs } });
      until.set(nodeName, now + forMs);
      return 'written';
    }).catch((err) => {
      if (isNotFound(err)) return 'none';
      throw err;
    });
    if (outcome !== 'none') asked.push(nodeName);
    if (outcome === 'written') written.push(nodeName);
  }
  return { asked, written, until };
}

/** The nodes' usage records, as stored (missing ones left out). */
export async function readUsage(store: StateStore, nodes: Iterable<string>): Promise<Map<string, NodeUsage>> {
  const out = new Map<string, NodeUsage>();
  await Promise.all(
    [...new Set(nodes)].map(async (n) => {
      // Usage is seconds old when written: a read a moment stale is as good, at half the units.
      const u = await store.get<NodeUsage>(nodeUsageRef(n), { consistent: false });
      if (u) out.set(n, u);
    }),
  );
  return out;
}

/** Age of a record's readings, ms. */
export function usageAgeMs(usage: NodeUsage, now: number): number {
  return now - Date.parse(usage.spec.timestamp);
}
