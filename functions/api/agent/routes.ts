/**
 * The service routes a node is sent when its record's `routes` moved: only the records that
 * changed since the index sequence the agent holds (all of them for an agent that holds none, or
 * one older than the index's tombstones reach). Written by the endpoints controller
 * (functions/service-routes.ts).
 *
 * A route change reaches every node at once, and each would read and parse the same index and the
 * same records: the index as last read and the diffs made from it are kept per store, by the
 * index's sequence (at one sequence the index's services, tombstones and floor never change). A
 * sync whose node record names that sequence is answered from them without a read.
 */
import type { RoutesDiff, ServiceRoute } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import { untracked } from '../../node-desired';
import { ROUTE_INDEX_REF, type RouteIndex, type RouteRecord, routeKey, SERVICE_ROUTE_KIND } from '../../service-routes';

export interface RoutesRead {
  /** The index sequence the answer brings the agent to. */
  seq: string;
  diff?: RoutesDiff;
}

interface Cached {
  index: RouteIndex;
  /** By the sequence the agent held ('full' for none): what it was answered. */
  diffs: Map<string, RoutesRead>;
}

/** Diffs kept per index sequence: the sequences agents hold after a change are few. */
const MAX_DIFFS = 64;
const cached = new WeakMap<object, Cached>();

/**
 * `recordSeq`: the sequence the node's NodeDesired record was brought to; when it is the cached
 * index's, the index is not read again.
 */
export async function readRoutes(deps: Deps, held: string | undefined, recordSeq?: string): Promise<RoutesRead> {
  const key = untracked(deps.store);
  let entry = cached.get(key);
  // A record at or behind the cached index needs nothing newer than it: the answer brings the agent
  // at least as far as its record says (a fan-out still under way leaves thousands of records one
  // sequence behind, and each of their syncs used to read and parse the index again).
  if (!entry || recordSeq === undefined || !/^\d+$/.test(recordSeq) || Number(recordSeq) > entry.index.spec.seq) {
    // Consistent: a node whose record was created while the index moved is caught up from this read
    // (service-routes.ts, fanOut); a stale index would leave it behind for good.
    const index = await deps.store.get<RouteIndex>(ROUTE_INDEX_REF);
    if (!index) return { seq: '0', diff: { full: true, services: [] } };
    if (!entry || entry.index.spec.seq !== index.spec.seq) {
      entry = { index, diffs: new Map() };
      cached.set(key, entry);
    }
  }
  const from = held === undefined || !/^\d+$/.test(held) ? undefined : Number(held);
  const known = entry.diffs.get(String(from ?? 'full'));
  if (known) return known;
  const read = await diffFrom(deps, entry.index, from);
  if (entry.diffs.size >= MAX_DIFFS) entry.diffs.clear();
  entry.diffs.set(String(from ?? 'full'), read);
  return read;
}

async function diffFrom(deps: Deps, index: RouteIndex, from: number | undefined): Promise<RoutesRead> {
  const seq = index.spec.seq;
  if (from === seq) return { seq: String(seq) };
  if (from === undefined || from < index.spec.floor || from > seq) {
    // Consistent (records and index alike): records are written before the index moves, so a
    // consistent read returns at least what the index's sequence promises.
    const records = (await deps.store.list<RouteRecord>(SERVICE_ROUTE_KIND)).items;
    const wanted = new Set(Object.keys(index.spec.services));
    const services = records
      .filter((r) => wanted.has(routeKey(r.metadata.namespace, r.metadata.name)))
      .map((r) => r.spec);
    return { seq: String(seq), diff: { full: true, services } };
  }
  const services: ServiceRoute[] = [];
  for (const [k, entry] of Object.entries(index.spec.services)) {
    if (entry.seq <= from) continue;
    const [namespace, name] = k.split('/') as [string, string];
    const record = await deps.store.get<RouteRecord>({ kind: SERVICE_ROUTE_KIND, namespace, name });
    if (record) services.push(record.spec);
  }
  const removed = Object.entries(index.spec.removed)
    .filter(([, at]) => at > from)
    .map(([k]) => k);
  return { seq: String(seq), diff: { full: false, services, ...(removed.length ? { removed } : {}) } };
}
