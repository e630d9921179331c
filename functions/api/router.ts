/**
 * Kubernetes REST paths to routes. Core kinds live under `/api/v1`, others under
 * `/apis/{group}/{version}`; then `namespaces/{ns}/{plural}[/{name}[/{subresource}]]` for
 * namespaced kinds and `{plural}[/{name}[/{subresource}]]` for cluster-scoped kinds and for
 * lists of a namespaced kind across all namespaces.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris
 */
import { type KindInfo, kindByPlural, kinds } from '../../schemas';
import { NotFoundError } from '../errors';
import { METRICS_GROUP, METRICS_VERSION, type MetricsRoute, metricsRoute } from './metrics-api-route';

export const FERRY_GROUP = 'ferry.dev';
export const FERRY_VERSION = 'v1';

export type Route =
  | { type: 'healthz' }
  | { type: 'version' }
  /** `/metrics`: Prometheus text (functions/metrics/), for admin, reader and RBAC `get /metrics`. */
  | { type: 'metrics' }
  | { type: 'openapi' }
  /** `/openapi/v3` (the index, no `path`) and `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`. */
  | { type: 'openapiV3'; path?: string }
  /** `/openapi/v2`: kubectl's client-side check of List files (openapi-v3.ts). */
  | { type: 'openapiV2' }
  /** `/api`: the core group's versions. */
  | { type: 'apiVersions' }
  /** `/apis`: every named group. */
  | { type: 'apiGroups' }
  /** `/apis/{group}`: one group. */
  | { type: 'apiGroup'; group: string }
  /** `/api/v1`, `/apis/{group}/{version}`: the APIResourceList. */
  | { type: 'resourceList'; group: string; version: string }
  | { type: 'resource'; info: KindInfo; namespace?: string; name?: string; subresource?: string }
  | { type: 'tokens'; name?: string }
  | { type: 'apply' }
  /** `/agent/v1/{op}`: the node agent's protocol (register, sync). */
  | { type: 'agent'; op: string }
  /** `/apis/metrics.k8s.io/v1beta1/...`: the resource metrics API (metrics-api.ts). */
  | MetricsRoute;

export function route(path: string): Route {
  const parts = path.split('/').filter((p, i, all) => p !== '' || (i > 0 && i < all.length - 1));
  if (parts.some((p) => p === '')) throw notFound(path);
  const [head, ...rest] = parts;
  switch (head) {
    case 'healthz':
    case 'livez':
    case 'readyz':
      if (rest.length === 0) return { type: 'healthz' };
      break;
    case 'version':
      if (rest.length === 0) return { type: 'version' };
      break;
    case 'metrics':
      if (rest.length === 0) return { type: 'metrics' };
      break;
    case 'openapi.json':
      if (rest.length === 0) return { type: 'openapi' };
      break;
    case 'openapi':
      if (rest.length === 1 && rest[0] === 'v2') return { type: 'openapiV2' };
      if (rest[0] === 'v3') {
        if (rest.length === 1) return { type: 'openapiV3' };
        if ((rest[1] === 'api' && rest.length === 3) || (rest[1] === 'apis' && rest.length === 4))
          return { type: 'openapiV3', path: rest.slice(1).join('/') };
      }
      break;
    case 'agent':
      if (rest.length === 2 && rest[0] === 'v1') return { type: 'agent', op: rest[1] as string };
      break;
    case 'api':
      if (rest.length === 0) return { type: 'apiVersions' };
      return groupRoute('', rest[0] as string, rest.slice(1), path);
    case 'apis':
      if (rest.length === 0) return { type: 'apiGroups' };
      if (rest.length === 1) {
        if (kinds.some((k) => k.group === rest[0]) || rest[0] === METRICS_GROUP)
          return { type: 'apiGroup', group: rest[0] as string };
        break;
      }
      if (rest[0] === METRICS_GROUP && rest[1] === METRICS_VERSION) {
        if (rest.length === 2) return { type: 'resourceList', group: METRICS_GROUP, version: METRICS_VERSION };
        const metrics = metricsRoute(rest.slice(2));
        if (metrics) return metrics;
        break;
      }
      return groupRoute(rest[0] as string, rest[1] as string, rest.slice(2), path);
  }
  throw notFound(path);
}

function groupRoute(group: string, version: string, rest: string[], path: string): Route {
  if (group === FERRY_GROUP && version === FERRY_VERSION) {
    if (rest[0] === 'apply' && rest.length === 1) return { type: 'apply' };
    if (rest[0] === 'tokens' && rest.length <= 2)
      return rest[1] ? { type: 'tokens', name: rest[1] } : { type: 'tokens' };
  }
  if (!GROUP_VERSIONS.has(`${group}/${version}`)) throw notFound(path);
  if (rest.length === 0) return { type: 'resourceList', group, version };

  // namespaces/{ns}/{plural}[/{name}[/{sub}]] -- but namespaces/{name}/status is the Namespace's own status.
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && rest[2] === 'status')) {
    if (rest.length > 5) throw notFound(path);
    const info = lookup(group, version, rest[2], path);
    if (!info.namespaced) throw notFound(path);
    const r: Route = { type: 'resource', info, namespace: rest[1] as string };
    if (rest[3] !== undefined) r.name = rest[3];
    const sub = subresource(info, rest[4], path);
    if (sub !== undefined) r.subresource = sub;
    return r;
  }

  if (rest.length > 3) throw notFound(path);
  const info = lookup(group, version, rest[0], path);
  // A namespaced kind without a namespace is only the all-namespaces list.
  if (info.namespaced && rest.length > 1) throw notFound(path);
  const r: Route = { type: 'resource', info };
  if (rest[1] !== undefined) r.name = rest[1];
  const sub = subresource(info, rest[2], path);
  if (sub !== undefined) r.subresource = sub;
  return r;
}

const GROUP_VERSIONS = new Set(kinds.map((k) => `${k.group}/${k.version}`));

function lookup(group: string, version: string, plural: string | undefined, path: string): KindInfo {
  const info = plural === undefined ? undefined : kindByPlural(group, version, plural);
  if (!info) throw notFound(path);
  return info;
}

function subresource(info: KindInfo, sub: string | undefined, path: string): string | undefined {
  if (sub === undefined) return undefined;
  if (!(info.subresources as readonly string[]).includes(sub)) throw notFound(path);
  return sub;
}

function notFound(path: string): NotFoundError {
  return new NotFoundError('', path, `the server could not find the requested resource (${path})`);
}
