/**
 * Service routes as materialized records: what every node's service proxy needs of a Service
 * (its node ports and ready endpoints), one internal `ServiceRoute` record per Service, and one
 * `ServiceRouteIndex` record with a sequence number and each Service's route hash and the sequence
 * at which it last changed. The endpoints controller writes them (`publishRoutes`); an agent's sync
 * reads them only when its node's `NodeDesired.routes` moved, and then only the records that
 * changed since the sequence the agent holds (functions/api/agent/routes.ts).
 *
 * Why records rather than reading Services and Endpoints on each sync: a sync used to list both
 * (twice, strongly consistent) on every heartbeat, so every node paid for the whole cluster's
 * routing table every few seconds. Now a route is computed once per change, by one writer.
 *
 * Order of writes, so that no reader can hold a sequence whose changes it did not get:
 * records first, then the index (conditional on what was read), then every node's record brought
 * to the index's sequence, then the index's `fannedOut` mark. A pass that fails midway leaves the
 * index ahead of `fannedOut`, and the next pass finishes the fan-out.
 *
 * Fan-outs are spaced in large clusters (fanOutDueAt): a route change moves every node, so one
 * fan-out costs every node an answer and a new sync (about a millisecond of server CPU each, five
 * seconds at 5,000 nodes), and while pods start every pass changes some route. From
 * FAN_OUT_SPACED_FROM nodes on, the next fan-out waits FAN_OUT_SPACING_MS_PER_NODE per node after
 * the last one ended (2 s at 1,000 nodes, 10 s at 5,000), so route fan-outs take a bounded share
 * of the server however large the cluster; the changes made meanwhile go out together. Kubernetes
 * holds itself to 30 s (99th percentile) for in-cluster network programming at 5,000 nodes. Only
 * what adds is spaced (a new Service, a pod that became ready: the old endpoints serve meanwhile):
 * a change that takes an endpoint away goes out at once, because a terminating pod's agent waits
 * for its node's routes to drop it (at most 5 s) before SIGTERM (agent/pods/drain.ts).
 *
 * The record shape is `ServiceRoute` in schemas/agent-protocol.ts: with the node ports and
 * endpoints, the cluster IP the node's proxy serves, and what the node's DNS server answers
 * (ExternalName, headless pods). Fields are optional so an older agent ignores what it does not know.
 */
import { createHash } from 'node:crypto';
import type { Pod } from '../schemas';
import type { RouteEndpoint, RoutePod, RoutePort, ServiceRoute } from '../schemas/agent-protocol';
import type { Deps } from './deps';
import { isConflict, isLostRace, isNotFound } from './errors';
import { bumpNodes, NODE_DESIRED_KIND, type NodeDesired, type Section, untracked } from './node-desired';
import type { Obj, ObjectRef } from './store/types';

export const SERVICE_ROUTE_KIND = 'ServiceRoute';
export const ROUTE_INDEX_KIND = 'ServiceRouteIndex';
export const ROUTE_INDEX_REF: ObjectRef = { kind: ROUTE_INDEX_KIND, name: 'routes' };
/** Tombstones of removed Services kept; an agent older than the oldest dropped one gets every route. */
export const MAX_TOMBSTONES = 1000;

export interface RouteIndexSpec {
  seq: number;
  /** `namespace/name` -> the sequence at which its route last changed, and the route's hash. */
  services: Record<string, { seq: number; hash: string }>;
  /** Removed Services: `namespace/name` -> the sequence of the removal. */
  removed: Record<string, number>;
  /** Tombstones at or below this sequence were dropped: an agent holding it or less gets everything. */
  floor: number;
  /** The sequence every NodeDesired record has been brought to. */
  fannedOut: number;
  /** When the last fan-out ended (ms), and how many node records it went over: the next one's spacing. */
  fannedOutAt?: number;
  fannedOutNodes?: number;
  /** The last sequence whose change took an endpoint, a port, a pod or a Service away: it is never spaced. */
  withdrawn?: number;
}
export type RouteIndex = Obj & { spec: RouteIndexSpec };
export type RouteRecord = Obj & { spec: ServiceRoute };

export type ServiceLike = Obj & {
  spec: {
    type?: string;
    clusterIP?: string;
    externalName?: string;
    publishNotReadyAddresses?: boolean;
    ports?: { name?: string; port: number; nodePort?: number; protocol?: string }[];
  };
};
export type EndpointsLike = Obj & {
  subsets?: { addresses?: { ip: string }[]; ports?: { name?: string; port: number; protocol?: string }[] }[];
};

export function routeKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/**
 * The pods a headless Service's DNS names answer with: those its selector matches that have an
 * address and are not going away, ready ones only unless `publishNotReadyAddresses` (Kubernetes'
 * endpoints controller), sorted by name so the route hash is stable. `ready` says whether a pod
 * counts as ready (its Ready condition, on a Ready node).
 */
export function headlessPods(svc: ServiceLike, matching: Pod[], ready: (pod: Pod) => boolean): RoutePod[] {
  const pods: RoutePod[] = [];
  for (const pod of [...matching].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const ip = pod.status?.podIP;
    if (!ip || pod.metadata.deletionTimestamp) continue;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    if (!svc.spec.publishNotReadyAddresses && !ready(pod)) continue;
    pods.push({
      ip,
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(pod.spec.hostname ? { hostname: pod.spec.hostname } : {}),
      ...(pod.spec.subdomain ? { subdomain: pod.spec.subdomain } : {}),
    });
  }
  return pods;
}

/** `nodeIP:hostPort/protocol` -> the pod IP and container port Docker publishes there (`podPortsOf`). */
export type PodPorts = ReadonlyMap<string, { ip: string; port: number }>;

type PodWithMappings = Pod & {
  status?: { portMappings?: { containerPort: number; hostPort: number; protocol?: string }[] };
};

/** What is behind each published host port of these pods: their pod IP and container port. */
export function podPortsOf(pods: readonly Pod[]): PodPorts {
  const behind = new Map<string, { ip: string; port: number }>();
  for (const pod of pods as PodWithMappings[]) {
    const hostIP = pod.status?.hostIP;
    const podIP = pod.status?.podIP;
    if (!hostIP || !podIP || pod.metadata.deletionTimestamp) continue;
    for (const m of pod.status?.portMappings ?? [])
      if (m.hostPort > 0)
        behind.set(`${hostIP}:${m.hostPort}/${m.protocol ?? 'TCP'}`, { ip: podIP, port: m.containerPort });
  }
  return behind;
}

/**
 * What every node needs of a Service: its type, cluster IP (or `None`), external name, each port
 * with its node port and ready endpoints, and for a headless Service its pods (`headlessPods`).
 * ExternalName Services get a route with no ports (DNS answers a CNAME); undefined for a Service
 * with nothing to serve (no port, not headless, not ExternalName). `behind` adds each endpoint's
 * pod IP and container port, for agents on the same machine as the pod's bridge (local mode).
 */
export function routeOf(
  svc: ServiceLike,
  ep: EndpointsLike | undefined,
  pods?: RoutePod[],
  behind?: PodPorts,
): ServiceRoute | undefined {
  const base = { namespace: svc.metadata.namespace as string, name: svc.metadata.name };
  const type = svc.spec.type;
  if (type === 'ExternalName') {
    return svc.spec.externalName ? { ...base, type, externalName: svc.spec.externalName, ports: [] } : undefined;
  }
  const ports: RoutePort[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const protocol = sp.protocol ?? 'TCP';
    const targets: RouteEndpoint[] = [];
    for (const subset of ep?.subsets ?? []) {
      // Endpoints ports carry the Service port's name; a single-port Service may leave both unnamed.
      const match = subset.ports?.find((p) => (p.protocol ?? 'TCP') === protocol && (p.name ?? '') === (sp.name ?? ''));
      if (!match) continue;
      for (const a of subset.addresses ?? []) {
        const pod = behind?.get(`${a.ip}:${match.port}/${protocol}`);
        targets.push({ ip: a.ip, port: match.port, ...(pod ? { podIP: pod.ip, podPort: pod.port } : {}) });
      }
    }
    ports.push({
      ...(sp.name ? { name: sp.name } : {}),
      port: sp.port,
      ...(sp.nodePort ? { nodePort: sp.nodePort } : {}),
      protocol,
      endpoints: targets,
    });
  }
  const clusterIP = svc.spec.clusterIP;
  const headless = clusterIP === 'None';
  if (ports.length === 0 && !headless) return undefined;
  return {
    ...base,
    ...(type && type !== 'ClusterIP' ? { type } : {}),
    ...(clusterIP ? { clusterIP } : {}),
    ports,
    ...(headless ? { pods: pods ?? [] } : {}),
  };
}

function hashOf(route: ServiceRoute): string {
  return createHash('sha256').update(JSON.stringify(route)).digest('base64url').slice(0, 16);
}

/**
 * Writes the route records that changed, moves the index, and brings every node's record to it.
 * `endpoints` are the Endpoints as this pass left them, `headless` the pods of headless Services,
 * both by `namespace/name`; `behind` what each published host port leads to (`podPortsOf`).
 */
export async function publishRoutes(
  deps: Deps,
  services: ServiceLike[],
  endpoints: Map<string, EndpointsLike>,
  headless: Map<string, RoutePod[]> = new Map(),
  behind?: PodPorts,
): Promise<{ fanOutDueAt?: number }> {
  const store = untracked(deps.store);
  // Consistent: the index write below is conditional on this read.
  let index = await store.get<RouteIndex>(ROUTE_INDEX_REF);
  const spec: RouteIndexSpec = index?.spec ?? { seq: 0, services: {}, removed: {}, floor: 0, fannedOut: 0 };
  const wanted = new Map<string, ServiceRoute>();
  for (const svc of services) {
    const k = routeKey(svc.metadata.namespace, svc.metadata.name);
    const route = routeOf(svc, endpoints.get(k), headless.get(k), behind);
    if (route) wanted.set(k, route);
  }
  const changed = [...wanted].filter(([k, r]) => spec.services[k]?.hash !== hashOf(r));
  const removed = Object.keys(spec.services).filter((k) => !wanted.has(k));

  if (changed.length > 0 || removed.length > 0 || !index) {
    const seq = spec.seq + 1;
    let withdraws = removed.length > 0;
    // Whether the change takes something away matters only while a fan-out would wait: the old
    // records are read only then.
    const spaced = fanOutDueAt(spec) > deps.clock();
    for (const [k, route] of changed) {
      if (spaced && !withdraws && spec.services[k]) {
        const [namespace, name] = k.split('/') as [string, string];
        const old = await store.get<RouteRecord>({ kind: SERVICE_ROUTE_KIND, namespace, name });
        withdraws = old !== undefined && withdrawsFrom(old.spec, route);
      }
      await putRecord(store, route);
    }
    for (const k of removed) {
      const [namespace, name] = k.split('/') as [string, string];
      await store.delete({ kind: SERVICE_ROUTE_KIND, namespace, name }).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
    const next: RouteIndexSpec = {
      ...spec,
      seq,
      services: { ...spec.services },
      removed: { ...spec.removed },
    };
    for (const [k, route] of changed) {
      next.services[k] = { seq, hash: hashOf(route) };
      delete next.removed[k];
    }
    for (const k of removed) {
      delete next.services[k];
      next.removed[k] = seq;
    }
    if (withdraws) next.withdrawn = seq;
    pruneTombstones(next);
    try {
      index = index
        ? await store.update<RouteIndex>({ ...index, spec: next })
        : await store.create<RouteIndex>({
            apiVersion: 'ferry.dev/v1',
            kind: ROUTE_INDEX_KIND,
            metadata: { name: ROUTE_INDEX_REF.name },
            spec: next,
          });
    } catch (err) {
      // Another writer moved the index meanwhile: the next pass recomputes from what it wrote.
      if (isConflict(err) || isNotFound(err)) return {};
      throw err;
    }
  }
  if (!index || index.spec.fannedOut >= index.spec.seq) return {};
  const dueAt = fanOutDueAt(index.spec);
  const urgent = (index.spec.withdrawn ?? 0) > index.spec.fannedOut;
  if (!urgent && dueAt > deps.clock()) return { fanOutDueAt: dueAt };
  await fanOut(deps, index);
  return {};
}

/** Whether `next` takes away a port (or its node port), an endpoint or a headless pod that `old` had. */
export function withdrawsFrom(old: ServiceRoute, next: ServiceRoute): boolean {
  for (const was of old.ports) {
    const now = next.ports.find((p) => p.port === was.port && p.protocol === was.protocol);
    if (!now || now.nodePort !== was.nodePort) return true;
    const kept = new Set(now.endpoints.map((e) => `${e.ip}:${e.port}`));
    if (was.endpoints.some((e) => !kept.has(`${e.ip}:${e.port}`))) return true;
  }
  const pods = new Set((next.pods ?? []).map((p) => p.ip));
  return (old.pods ?? []).some((p) => !pods.has(p.ip));
}

/** Below this many nodes a fan-out goes out at once (a fraction of a second of the server's CPU). */
export const FAN_OUT_SPACED_FROM = 1_000;
/** Per node of the last fan-out: the wait after it before the next. */
export const FAN_OUT_SPACING_MS_PER_NODE = 2;

/** When the index's next fan-out may start: at once in small clusters, else spaced by the last one's size. */
export function fanOutDueAt(spec: RouteIndexSpec): number {
  const nodes = spec.fannedOutNodes ?? 0;
  if (nodes < FAN_OUT_SPACED_FROM || spec.fannedOutAt === undefined) return Number.NEGATIVE_INFINITY;
  return spec.fannedOutAt + nodes * FAN_OUT_SPACING_MS_PER_NODE;
}

async function putRecord(store: Deps['store'], route: ServiceRoute): Promise<void> {
  const record: RouteRecord = {
    apiVersion: 'ferry.dev/v1',
    kind: SERVICE_ROUTE_KIND,
    metadata: { namespace: route.namespace, name: route.name },
    spec: route,
  };
  try {
    await store.update(record);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await store.create(record);
  }
}

function pruneTombstones(spec: RouteIndexSpec): void {
  const tombstones = Object.entries(spec.removed).sort(([, a], [, b]) => a - b);
  for (const [k, seq] of tombstones.slice(0, Math.max(0, tombstones.length - MAX_TOMBSTONES))) {
    delete spec.removed[k];
    spec.floor = Math.max(spec.floor, seq);
  }
}

/**
 * Records written per batch of the fan-out. Routes are the whole cluster's (every node proxies
 * every Service, as kube-proxy), so every route change moves every node's record: one batch of
 * 5,000 (one SQLite transaction, about 0.3 s) held the event loop, and with it the accepting of
 * connections and the answering of syncs. Batches of 500 with a yield between keep each turn
 * short; a record moves only forward (bumpNodes), so batches of two fan-outs can interleave.
 */
export const FAN_OUT_BATCH = 500;

/** Every node's record to the index's sequence (one write per node and route change), then the mark. */
async function fanOut(deps: Deps, index: RouteIndex): Promise<void> {
  const store = untracked(deps.store);
  const seq = String(index.spec.seq);
  // Consistent: a node whose record this list misses created it after the index moved, and its
  // sync then read the moved index (functions/api/agent/routes.ts), so it cannot be left behind.
  const records = (await store.list<NodeDesired>(NODE_DESIRED_KIND)).items;
  const behind = records.filter((r) => Number(r.spec.routes || '0') < index.spec.seq);
  // Those bumped meanwhile (a conflict) retry one by one.
  const retry = new Map<string, Set<Section>>();
  for (let start = 0; start < behind.length; start += FAN_OUT_BATCH) {
    if (start > 0) await new Promise((r) => setImmediate(r));
    const batch = behind.slice(start, start + FAN_OUT_BATCH);
    const results = await store.writeBatch(
      batch.map((r) => ({ op: 'update' as const, object: { ...r, spec: { ...r.spec, routes: seq } } })),
    );
    results.forEach((r, i) => {
      if (r.ok) return;
      if (!isConflict(r.error) && !isNotFound(r.error)) throw r.error;
      if (isConflict(r.error)) retry.set(batch[i]?.metadata.name as string, new Set(['routes']));
    });
  }
  await bumpNodes(store, deps.clock, retry, seq);
  const mark = { fannedOut: index.spec.seq, fannedOutAt: deps.clock(), fannedOutNodes: records.length };
  try {
    await store.update<RouteIndex>({ ...index, spec: { ...index.spec, ...mark } });
  } catch (err) {
    if (!isLostRace(err)) throw err;
  }
}
