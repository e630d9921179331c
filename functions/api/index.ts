/**
 * The API core: `ApiRequest -> ApiResponse`, platform-free (functions/runtime/* adapt node:http and
 * Lambda events to it). Order of checks for every request: size (413), route (404, after
 * authentication for everything but /healthz and /version), authentication (401), authorization
 * (403), body parsing (400), defaults and validation (422), then the store (404, 409). Every error
 * leaves through http-errors.ts.
 */

import {
  applyDefaults,
  DEFAULT_STORAGE_CLASS,
  DEFAULT_STORAGE_CLASS_ANNOTATION,
  LOCAL_PROVISIONER,
  openApiDocument,
} from '../../schemas';
import { SYSTEM_PRIORITY_CLASSES } from '../../schemas/scheduling';
import { defaultServiceAccount } from '../../schemas/service-account';
import { DEFAULT_SERVICE_RANGE } from '../cluster-ips';
import { isAlreadyExists, MethodNotAllowedError, NotFoundError, PayloadTooLargeError } from '../errors';
import { ensureKubernetesService, isKubernetesService } from '../kubernetes-service';
import { trackNodeDesired } from '../node-desired';
import { DEFAULT_NODE_PORT_RANGE } from '../node-ports';
import type { Obj } from '../store/types';
import { watchCacheOf } from '../store/watch-cache';
import { issueToken, TOKEN_KIND } from '../tokens';
import { agentRoutes } from './agent-routes';
import { handleApply } from './apply';
import { type Access, authenticate, authorize, type Principal, TokenCache } from './auth';
import { isAutoscalingV1, serveAutoscalingV1 } from './autoscaling-v1';
import { parseBody } from './body';
import { apiGroup, apiGroupList, apiResourceList, apiVersions } from './discovery';
import { errorResponse, jsonResponse } from './http-errors';
import { handleMetrics } from './metrics-api';
import { openApiV2Response, openApiV3Response } from './openapi-v3';
import { requestLabels } from './request-labels';
import { handleResource, nodePortRange, SYSTEM_NAMESPACES, serviceRange } from './resources';
import { type Route, route } from './router';
import { getToken, listTokens, revokeToken, tokenRequest, tokenView } from './tokens';
import { handleTokenRequest } from './tokens-request';
import type { ApiDeps, ApiHandler, ApiRequest, ApiResponse } from './types';
import { applyWarnings, withWarnings, writeWarnings } from './warnings';

export { ensureAdminToken } from './auth';

/** The Prometheus text exposition format, as Prometheus' own clients answer a scrape. */
const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type { ApiDeps, ApiHandler, ApiRequest, ApiResponse } from './types';

export function createApiHandler(given: ApiDeps): ApiHandler {
  // Every write through the API moves the NodeDesired records it concerns (agents' syncs read those).
  const deps: ApiDeps = { ...given, store: trackNodeDesired(given.store, given.clock) };
  let openApi: string | undefined;
  const tokens = new TokenCache(deps.config.tokenCacheTtlMs);
  // Watches resume from a list's resourceVersion: the history they replay starts now.
  if (deps.config.watch) watchCacheOf(deps.store);
  deps.store.watch((event) => forgetCachedTokens(tokens, event.type, event.object));
  const metrics = deps.metrics;
  const serve = async (req: ApiRequest, seen: { route?: Route }): Promise<ApiResponse> => {
    try {
      if (req.body && req.body.byteLength > deps.config.maxBodyBytes)
        throw new PayloadTooLargeError(deps.config.maxBodyBytes);
      const r = route(req.path);
      seen.route = r;
      switch (r.type) {
        case 'healthz':
          return only(req, ['GET', 'HEAD'], () => ({
            status: 200,
            headers: { 'content-type': 'text/plain' },
            body: 'ok',
          }));
        case 'version':
          return only(req, ['GET'], () => jsonResponse(200, versionInfo(deps)));
      }
      const principal = await authenticate(deps, req.headers, {
        cache: tokens,
        registering: r.type === 'agent' && r.op === 'register',
      });
      return await dispatch(deps, req, r, principal, () => {
        openApi ??= JSON.stringify(openApiDocument());
        return openApi;
      });
    } catch (err) {
      return errorResponse(err, deps.log, { method: req.method, path: req.path });
    }
  };
  const counted: ApiHandler = !metrics?.countsRequests
    ? (req) => serve(req, {})
    : // Counted here, where the route is known: the labels cost no second parse of the path.
      async (req) => {
        const started = performance.now();
        const seen: { route?: Route } = {};
        const res = await serve(req, seen);
        metrics.apiRequest(
          requestLabels(req.method, req.query, seen.route),
          res.status,
          (performance.now() - started) / 1000,
        );
        return res;
      };
  // autoscaling/v1 HPAs are a view of the stored v2 ones, translated at the edge (autoscaling-v1.ts).
  return (req) => (isAutoscalingV1(req.path) ? serveAutoscalingV1(deps, req, counted) : counted(req));
}

async function dispatch(
  deps: ApiDeps,
  req: ApiRequest,
  r: Exclude<Route, { type: 'healthz' | 'version' }>,
  principal: Principal,
  openApi: () => string,
): Promise<ApiResponse> {
  const gate = (access: Access) => authorize(principal, access);
  switch (r.type) {
    case 'metrics': {
      gate({ path: 'metrics' });
      const metrics = deps.metrics;
      if (!metrics) throw new NotFoundError('', req.path, 'this server keeps no metrics');
      return only(req, ['GET'], async () => ({
        status: 200,
        headers: { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' },
        body: await metrics.render(),
      }));
    }
    case 'openapi':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => ({
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: openApi(),
      }));
    case 'openapiV2':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => openApiV2Response(req.headers.accept));
    case 'openapiV3':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => openApiV3Response(r.path, req.query.get('hash')));
    case 'apiVersions':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => jsonResponse(200, apiVersions()));
    case 'apiGroups':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => jsonResponse(200, apiGroupList()));
    case 'apiGroup':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => jsonResponse(200, apiGroup(r.group)));
    case 'resourceList':
      gate({ path: 'discovery' });
      return only(req, ['GET'], () => jsonResponse(200, apiResourceList(r.group, r.version)));
    case 'resource': {
      if (r.subresource === 'token') return handleTokenRequest(deps, req, r, principal);
      const res = await handleResource(deps, req, r, principal);
      if (changedKubernetesService(req, res, r)) await keepKubernetesService(deps);
      return r.subresource ? res : withWarnings(res, writeWarnings(r.info, req.method, res));
    }
    case 'apply': {
      const res = await only(req, ['POST'], () => handleApply(deps, req, principal));
      if (appliedKubernetesService(res)) await keepKubernetesService(deps);
      return withWarnings(res, applyWarnings(res));
    }
    case 'resource-metrics':
      return handleMetrics(deps, req, r, principal);
    case 'tokens':
      gate({ path: 'tokens' });
      return tokens(deps, req, r.name);
    case 'agent': {
      const handler = agentRoutes[r.op];
      if (!handler) throw new MethodNotAllowedError(req.method, req.path);
      gate({ path: `agent/${r.op}` as 'agent/register' | 'agent/sync' | 'agent/logs' | 'agent/token' | 'agent/wake' });
      return only(req, ['POST'], () => handler(deps, req, principal));
    }
  }
}

/**
 * As kube-apiserver does for the `kubernetes` Service: deleted, it is made again; its type or
 * ports edited, they are put back (functions/kubernetes-service.ts). Here right after the write
 * that did it, which every user change passes through, rather than on a timer.
 */
function keepKubernetesService(deps: ApiDeps): Promise<void> {
  return ensureKubernetesService(deps, { serviceRange: serviceRange(deps), nodePortRange: nodePortRange(deps) });
}

function changedKubernetesService(req: ApiRequest, res: ApiResponse, r: Extract<Route, { type: 'resource' }>): boolean {
  if (r.info.kind !== 'Service' || !isKubernetesService(r.namespace, r.name) || res.status >= 300) return false;
  return ['DELETE', 'PUT', 'PATCH'].includes(req.method) && !req.query.has('dryRun');
}

function appliedKubernetesService(res: ApiResponse): boolean {
  if (res.status >= 300 || typeof res.body !== 'string' || !res.body.includes('"kubernetes"')) return false;
  const result = JSON.parse(res.body) as {
    dryRun?: boolean;
    items?: { kind?: string; namespace?: string; name?: string }[];
  };
  return (
    !result.dryRun && (result.items ?? []).some((i) => i.kind === 'Service' && isKubernetesService(i.namespace, i.name))
  );
}

async function tokens(deps: ApiDeps, req: ApiRequest, name: string | undefined): Promise<ApiResponse> {
  if (name === undefined) {
    if (req.method === 'GET') return jsonResponse(200, await listTokens(deps));
    if (req.method === 'POST') {
      const { record, token } = await issueToken(deps, tokenRequest(parseBody(req, deps.config.maxBodyBytes)));
      return jsonResponse(201, tokenView(record, token));
    }
  } else {
    if (req.method === 'GET') return jsonResponse(200, await getToken(deps, name));
    if (req.method === 'DELETE') return jsonResponse(200, await revokeToken(deps, name));
  }
  throw new MethodNotAllowedError(req.method, req.path);
}

const RBAC_KINDS = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'ServiceAccount']);

/**
 * Writes after which a cached principal may be wrong: a token record (that token's), an RBAC
 * object or a ServiceAccount (a pod token's rules and binding), a deleted pod (its token stops
 * working): the last two concern service-account principals only.
 */
function forgetCachedTokens(tokens: TokenCache, type: string, obj: Obj): void {
  if (obj.kind === TOKEN_KIND) tokens.forgetToken(obj.metadata.name);
  else if (RBAC_KINDS.has(obj.kind) || (obj.kind === 'Pod' && type === 'DELETED')) tokens.forgetServiceAccounts();
}

function only<T extends ApiResponse | Promise<ApiResponse>>(req: ApiRequest, methods: string[], run: () => T): T {
  if (!methods.includes(req.method)) throw new MethodNotAllowedError(req.method, req.path);
  return run();
}

function versionInfo(deps: ApiDeps): object {
  // kubectl reads major/minor/gitVersion; the Kubernetes API level ferry follows is 1.30.
  return {
    major: '1',
    minor: '30',
    gitVersion: `v${deps.config.version}`,
    ferryVersion: deps.config.version,
  };
}

/**
 * Creates the namespaces every cluster has (default, kube-system, kube-node-lease) and the
 * built-in PriorityClasses (system-cluster-critical, system-node-critical) when they are missing,
 * and those namespaces' `default` ServiceAccounts (the controllers give every other namespace its
 * own), and the `kubernetes` Service in `default` (one get when it is there). Safe to run on every
 * start and from several processes at once.
 */
export async function ensureDefaults(deps: ApiDeps | Omit<ApiDeps, 'config'>): Promise<void> {
  const builtIns: Obj[] = [
    ...SYSTEM_NAMESPACES.map((name) => {
      const ns = applyDefaults<Obj>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      ns.status ??= { phase: 'Active' };
      return ns;
    }),
    ...SYSTEM_PRIORITY_CLASSES.map((c) => structuredClone(c) as Obj),
    // Only the system namespaces' accounts, a get each: listing every Namespace and ServiceAccount
    // on each start (each Lambda cold start) cost reads that grow with the cluster, and the
    // service-accounts controller gives every other namespace its `default` within a pass.
    ...SYSTEM_NAMESPACES.map((ns) => defaultServiceAccount(ns)),
  ];
  for (const obj of builtIns) {
    const { namespace, name } = obj.metadata;
    if (await deps.store.get({ kind: obj.kind, ...(namespace ? { namespace } : {}), name })) continue;
    try {
      await deps.store.create(obj);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  await ensureDefaultStorageClass(deps);
  const config = 'config' in deps ? deps.config : undefined;
  await ensureKubernetesService(deps, {
    serviceRange: config?.serviceRange ?? DEFAULT_SERVICE_RANGE,
    nodePortRange: config?.nodePortRange ?? DEFAULT_NODE_PORT_RANGE,
  });
}

/**
 * The default StorageClass, as k3s ships `local-path`: the built-in node-local provisioner, bound
 * when the claim's first pod is scheduled, the directory removed with its claim. Made when no
 * StorageClass exists at a server's start (k3s re-applies its manifest at each start too).
 */
async function ensureDefaultStorageClass(deps: ApiDeps | Omit<ApiDeps, 'config'>): Promise<void> {
  if ((await deps.store.list('StorageClass')).items.length > 0) return;
  try {
    await deps.store.create(
      applyDefaults<Obj>({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: DEFAULT_STORAGE_CLASS, annotations: { [DEFAULT_STORAGE_CLASS_ANNOTATION]: 'true' } },
        provisioner: LOCAL_PROVISIONER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'WaitForFirstConsumer',
      } as Obj),
    );
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}
