/**
 * The resource metrics API (metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics), what `kubectl
 * top` reads: the nodes' usage records (functions/node-usage.ts) shaped as metrics-server serves
 * them (CPU in nanocores over a window, memory working set in Ki).
 *
 * On demand: a node reports usage only while asked. A call reads the records of the nodes it
 * concerns; for Ready nodes whose record is missing or older than USAGE_FRESH_MS it asks them
 * (TOP_DEMAND_MS, so the next look answers at once) and waits for their reports, at most
 * TOP_WAIT_MS (held syncs answer within about a second and a half; polled ones at their next
 * poll, up to 20 s). What is still missing then is left out, as metrics-server leaves out pods it
 * has no metrics for (a get answers 404). Label selectors as for the pods and nodes themselves.
 *
 * Who may read: whoever may read the pods (or nodes) themselves (for ServiceAccount tokens, RBAC
 * on `pods`/`nodes` in metrics.k8s.io).
 */
import type { Pod } from '../../schemas';
import { findCondition } from '../../schemas/conditions';
import { kibiBytes, nanoCpu } from '../../schemas/quantity-format';
import { isoTime } from '../../schemas/time';
import type { Deps } from '../deps';
import { BadRequestError, ForbiddenError, MethodNotAllowedError, NotFoundError } from '../errors';
import {
  askForUsage,
  NODE_USAGE_KIND,
  type NodeUsage,
  readUsage,
  TOP_DEMAND_MS,
  USAGE_FRESH_MS,
  usageAgeMs,
} from '../node-usage';
import type { Obj } from '../store/types';
import { authorize, type Principal } from './auth';
import { jsonResponse } from './http-errors';
import { METRICS_GROUP, METRICS_VERSION, type MetricsRoute } from './metrics-api-route';
import { rbacAllows } from './rbac';
import type { ApiDeps, ApiRequest, ApiResponse } from './types';

/** Below Lambda's 29 s API timeout, above a polled node's 20 s interval. */
export const TOP_WAIT_MS = 25_000;
const API_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}`;
/** A store shared with other processes (SQLite, DynamoDB) is read again this often while waiting. */
const WAIT_ROUND_MS = 500;

export async function handleMetrics(
  deps: ApiDeps,
  req: ApiRequest,
  route: MetricsRoute,
  principal: Principal,
): Promise<ApiResponse> {
  if (req.method !== 'GET') throw new MethodNotAllowedError(req.method, req.path);
  if (req.query.get('watch') === 'true') throw new BadRequestError('watch: the metrics API cannot be watched');
  mayRead(principal, route);
  const selector = req.query.get('labelSelector') ?? undefined;
  const now = deps.clock();
  if (route.resource === 'nodes') {
    const nodes = route.name
      ? [await getOrNotFound(deps, { kind: 'Node', name: route.name }, 'nodes', route.name)]
      : (await deps.store.list('Node', selector ? { labelSelector: selector } : {})).items;
    const usage = await freshUsage(
      deps,
      nodes,
      nodes.map((n) => n.metadata.name),
      req.signal,
    );
    const items = nodes.flatMap((n) => {
      const u = usage.get(n.metadata.name);
      return u ? [nodeMetrics(n, u, now)] : [];
    });
    if (route.name) return single(items[0], 'nodes', route.name);
    return jsonResponse(200, { kind: 'NodeMetricsList', apiVersion: API_VERSION, metadata: {}, items });
  }
  const pods = (
    route.name
      ? [
          await getOrNotFound(
            deps,
            { kind: 'Pod', namespace: route.namespace as string, name: route.name },
            'pods',
            route.name,
          ),
        ]
      : (
          await deps.store.list<Pod>('Pod', {
            ...(route.namespace ? { namespace: route.namespace } : {}),
            ...(selector ? { labelSelector: selector } : {}),
          })
        ).items
  ).filter((p) => (p as Pod).status?.phase === 'Running' && (p as Pod).spec.nodeName) as Pod[];
  const nodeNames = [...new Set(pods.map((p) => p.spec.nodeName as string))];
  const nodes = (await Promise.all(nodeNames.map((n) => deps.store.get({ kind: 'Node', name: n })))).filter(
    (n): n is Obj => n !== undefined,
  );
  const usage = await freshUsage(deps, nodes, nodeNames, req.signal);
  const items = pods.flatMap((p) => {
    const m = podMetrics(p, usage.get(p.spec.nodeName as string), now);
    return m ? [m] : [];
  });
  if (route.name) return single(items[0], 'pods', route.name);
  return jsonResponse(200, { kind: 'PodMetricsList', apiVersion: API_VERSION, metadata: {}, items });
}

function mayRead(principal: Principal, route: MetricsRoute): void {
  const verb = route.name ? 'get' : 'list';
  if (principal.role === 'serviceaccount') {
    const allowed = rbacAllows(principal.rules ?? [], {
      verb,
      apiGroup: METRICS_GROUP,
      resource: route.resource,
      namespaced: route.resource === 'pods',
      ...(route.name ? { name: route.name } : {}),
      ...(route.namespace ? { namespace: route.namespace } : {}),
    });
    if (!allowed)
      throw new ForbiddenError(
        `${route.resource}.${METRICS_GROUP} is forbidden: User "system:serviceaccount:${principal.serviceAccount?.namespace}:${principal.serviceAccount?.name}" cannot ${verb} resource "${route.resource}" in API group "${METRICS_GROUP}"`,
      );
    return;
  }
  authorize(principal, {
    verb,
    kind: route.resource === 'pods' ? 'Pod' : 'Node',
    namespaced: route.resource === 'pods',
    ...(route.namespace ? { namespace: route.namespace } : {}),
    ...(route.name ? { name: route.name } : {}),
  });
}

async function getOrNotFound(
  deps: Deps,
  ref: { kind: string; namespace?: string; name: string },
  plural: string,
  name: string,
) {
  const obj = await deps.store.get(ref);
  if (!obj) throw metricsNotFound(plural, name);
  return obj;
}

function metricsNotFound(plural: string, name: string): NotFoundError {
  return new NotFoundError(`${plural}.${METRICS_GROUP}`, name, `${plural}.${METRICS_GROUP} "${name}" not found`);
}

function single(item: object | undefined, plural: string, name: string): ApiResponse {
  if (!item) throw metricsNotFound(plural, name);
  return jsonResponse(200, item);
}

/**
 * The nodes' usage no older than USAGE_FRESH_MS: asks the Ready nodes whose record is stale (or
 * keeps an ask going that is half spent) and waits for their reports.
 */
async function freshUsage(
  deps: Deps,
  nodes: Obj[],
  names: string[],
  signal?: AbortSignal,
): Promise<Map<string, NodeUsage>> {
  const ready = nodes.filter((n) => findCondition(n, 'Ready')?.status === 'True').map((n) => n.metadata.name);
  // Only nodes that sync can be waited for (a node that never synced has no record to ask through).
  const { asked } = await askForUsage(deps.store, deps.clock, ready, TOP_DEMAND_MS, TOP_DEMAND_MS / 2);
  const fresh = (all: Map<string, NodeUsage>) =>
    new Map([...all].filter(([, u]) => usageAgeMs(u, deps.clock()) <= USAGE_FRESH_MS));
  let usage = fresh(await readUsage(deps.store, names));
  const waitingFor = () => asked.filter((n) => !usage.has(n));
  // Counted in rounds of real time, not by the injected clock (a test's may stand still).
  for (let round = 0; round < TOP_WAIT_MS / WAIT_ROUND_MS && waitingFor().length > 0 && !signal?.aborted; round++) {
    await changeOrTimeout(deps, waitingFor(), WAIT_ROUND_MS, signal);
    usage = new Map([...usage, ...fresh(await readUsage(deps.store, waitingFor()))]);
  }
  return usage;
}

/** Resolves at a write of one of the nodes' records (this process' store), or after `ms`. */
function changeOrTimeout(deps: Deps, nodes: string[], ms: number, signal?: AbortSignal): Promise<void> {
  const names = new Set(nodes);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unwatch();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unwatch = deps.store.watch((ev) => {
      if (ev.object.kind === NODE_USAGE_KIND && names.has(ev.object.metadata.name)) done();
    });
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** metav1.Duration as Go prints it: `15s`, `1.5s`. */
function duration(seconds: number): string {
  return `${Number(seconds.toFixed(3))}s`;
}

function meta(obj: Obj, now: number): Record<string, unknown> {
  return {
    name: obj.metadata.name,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    creationTimestamp: isoTime(now),
    ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}),
  };
}

function nodeMetrics(node: Obj, u: NodeUsage, now: number): object {
  return {
    kind: 'NodeMetrics',
    apiVersion: API_VERSION,
    metadata: meta(node, now),
    timestamp: u.spec.timestamp,
    window: duration(u.spec.windowSeconds),
    usage: { cpu: nanoCpu(u.spec.node.cpuNanoCores), memory: kibiBytes(u.spec.node.memoryBytes) },
  };
}

/** A pod's metrics from its own node's record (matched by uid), undefined when the node did not report it. */
function podMetrics(pod: Pod, u: NodeUsage | undefined, now: number): object | undefined {
  const entry = u?.spec.pods.find((p) => p.uid === pod.metadata.uid);
  if (!u || !entry) return undefined;
  return {
    kind: 'PodMetrics',
    apiVersion: API_VERSION,
    metadata: meta(pod, now),
    timestamp: u.spec.timestamp,
    window: duration(u.spec.windowSeconds),
    containers: entry.containers.map((c) => ({
      name: c.name,
      usage: { cpu: nanoCpu(c.cpuNanoCores), memory: kibiBytes(c.memoryBytes) },
    })),
  };
}
