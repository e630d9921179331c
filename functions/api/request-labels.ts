/**
 * A request's labels for `apiserver_request_total`, as kube-apiserver names them
 * (k8s.io/apiserver/pkg/endpoints/metrics): the Kubernetes verb (`list` vs `get` vs `watch`, not
 * the HTTP method), group, version, resource, subresource and scope. A non-resource path has an
 * empty resource and the route's fixed path as subresource (`/healthz`, `/agent/v1/sync`), the
 * HTTP method as verb; any path the router does not know is `other`, so no client can add a label
 * value by asking for a new path.
 */
import type { RequestLabels } from '../deps';
import type { Route } from './router';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const AGENT_OPS = new Set(['register', 'sync', 'logs', 'token', 'wake']);

export function requestLabels(method: string, query: URLSearchParams, r: Route | undefined): RequestLabels {
  if (r === undefined || r.type !== 'resource') return nonResource(method, r);
  const { info, name, namespace, subresource } = r;
  return {
    verb: resourceVerb(method, name !== undefined, query),
    group: info.group,
    version: info.version,
    resource: info.plural,
    subresource: subresource ?? '',
    scope: name !== undefined ? 'resource' : namespace !== undefined ? 'namespace' : 'cluster',
  };
}

function resourceVerb(method: string, named: boolean, query: URLSearchParams): string {
  switch (method) {
    case 'GET':
    case 'HEAD': {
      if (named) return 'get';
      const watch = query.get('watch');
      return watch === 'true' || watch === '1' ? 'watch' : 'list';
    }
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return 'other';
  }
}

function nonResource(method: string, r: Exclude<Route, { type: 'resource' }> | undefined): RequestLabels {
  return {
    verb: METHODS.has(method) ? method : 'other',
    group: '',
    version: '',
    resource: '',
    subresource: r ? routePath(r) : 'other',
    scope: '',
  };
}

function routePath(r: Exclude<Route, { type: 'resource' }>): string {
  switch (r.type) {
    case 'healthz':
      return '/healthz';
    case 'version':
      return '/version';
    case 'metrics':
      return '/metrics';
    case 'openapi':
      return '/openapi.json';
    case 'openapiV2':
      return '/openapi/v2';
    case 'openapiV3':
      return '/openapi/v3';
    case 'apiVersions':
      return '/api';
    case 'apiGroups':
    case 'apiGroup':
    case 'resourceList':
      return '/apis';
    case 'tokens':
      return '/apis/ferry.dev/v1/tokens';
    case 'apply':
      return '/apis/ferry.dev/v1/apply';
    case 'agent':
      return AGENT_OPS.has(r.op) ? `/agent/v1/${r.op}` : 'other';
    case 'resource-metrics':
      return `/apis/metrics.k8s.io/v1beta1/${r.resource}`;
  }
}
