/**
 * CRUD on Kubernetes REST paths: create (POST, 201), get and list (GET), replace (PUT), patch
 * (PATCH), delete (DELETE, 200 with the object), and the `status` subresource. As in Kubernetes,
 * writes to the main resource never change `status` and writes to `/status` change nothing else.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/
 */
import { checkQuota } from '../admission';
import {
  checkRangeHasRoom,
  clusterIPOf,
  clusterIPProblems,
  DEFAULT_SERVICE_RANGE,
  writeServiceWithClusterIP,
} from '../cluster-ips';
import {
  BadRequestError,
  ConflictError,
  InvalidError,
  isNotFound,
  MethodNotAllowedError,
  NotFoundError,
  UnsupportedMediaTypeError,
} from '../errors';
import { DEFAULT_NODE_PORT_RANGE, keepAllocated, nodePortProblems, writeServiceWithNodePorts } from '../node-ports';
import { isObjectAt, retryOnConflict } from '../store/retry';
import type { Obj } from '../store/types';
import {
  admit,
  asObjectOf,
  checkPlacement,
  hasStatusSubresource,
  immutableChanges,
  resourceLabel,
  stripServerMetadata,
  validateOnly,
} from './admission';
import { type Access, authorize, authorizeObject, type Principal, type Verb } from './auth';
import { checkTree, mediaType, parseBody } from './body';
import { removeResource } from './delete';
import { handleEviction } from './eviction';
import { refuseWithoutUpgrade } from './exec';
import { applyFieldValidation, fieldValidationOf } from './field-validation';
import { jsonResponse } from './http-errors';
import { listObjects } from './list';
import { restrictNodeWrite } from './node-identity';
import { applyPatch, PATCH_TYPES } from './patch';
import { podLogs } from './pod-logs';
import { admitPolicy, warningHeaders } from './policy';
import { handleRollback } from './rollback';
import { carryServerMetadata, mustGet, randomSuffix, refOf } from './route-objects';
import { toScale, writeScale } from './scale';
import {
  APPLY_PATCH_TYPE,
  applyConfiguration,
  checkNoManagedFields,
  fieldManagerOf,
  forceOf,
  managedOf,
  setManaged,
  trackUpdate,
} from './server-side-apply';
import { toTable, wantsTable } from './table';
import type { ApiDeps, ApiRequest, ApiResponse, ResourceRoute } from './types';
import { isWatch, watchObjects } from './watch';

export { notFoundFor, SYSTEM_NAMESPACES } from './route-objects';
export type { ResourceRoute } from './types';

const WRITE_ATTEMPTS = 5;

export async function handleResource(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
): Promise<ApiResponse> {
  const verb = verbOf(req.method, route);
  const access: Access = {
    verb,
    kind: route.info.kind,
    namespaced: route.info.namespaced,
    ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
    ...(route.name !== undefined ? { name: route.name } : {}),
    ...(route.subresource !== undefined ? { subresource: route.subresource } : {}),
  };
  if (verb === 'list') {
    const nodeName = pinnedNodeName(req.query.get('fieldSelector'));
    if (nodeName !== undefined) access.nodeName = nodeName;
    if (isWatch(req.query)) access.watch = true;
  }
  authorize(principal, access);
  const dryRun = dryRunOf(req);

  if (route.subresource === 'log') {
    if (verb !== 'get') throw new MethodNotAllowedError(req.method, describe(route));
    const pod = await mustGet(deps, route);
    authorizeObject(principal, 'get', pod);
    return podLogs(deps, pod, req.query, req.signal);
  }
  if (CONNECT.has(route.subresource ?? '')) refuseWithoutUpgrade(deps.streams !== undefined, route.subresource ?? '');
  if (route.subresource === 'eviction') return handleEviction(deps, req, route, principal, dryRun);
  if (route.subresource === 'rollback') {
    const ref = { namespace: route.namespace as string, name: route.name as string };
    return jsonResponse(200, await handleRollback(deps, req, ref, dryRun, principal));
  }

  switch (verb) {
    case 'list': {
      const table = wantsTable(req.headers);
      if (isWatch(req.query))
        return watchObjects(
          deps,
          route.info,
          route.namespace,
          req,
          table ? (o) => toTable(route.info.kind, [o], req.query) : undefined,
        );
      const list = await listObjects(deps, route.info, route.namespace, req.query);
      if (!table) return jsonResponse(200, list);
      const { items, metadata } = list as unknown as { items: Obj[]; metadata: { resourceVersion: string } };
      return jsonResponse(200, toTable(route.info.kind, items, req.query, metadata.resourceVersion));
    }
    case 'create': {
      const warnings: string[] = [];
      const created = await create(deps, req, route, principal, dryRun, warnings);
      return withWarnings(jsonResponse(201, created), warnings);
    }
    case 'get': {
      const obj = await mustGet(deps, route);
      authorizeObject(principal, 'get', obj);
      if (route.subresource === 'scale') return jsonResponse(200, toScale(obj));
      if (route.subresource === undefined && wantsTable(req.headers))
        return jsonResponse(200, toTable(route.info.kind, [obj], req.query, obj.metadata.resourceVersion));
      return jsonResponse(200, obj);
    }
    case 'update':
    case 'patch':
      if (route.subresource === 'scale') {
        const scale = await writeScale(deps, req, route, principal, verb, () => mustGet(deps, route), dryRun);
        return jsonResponse(200, scale);
      }
      {
        const warnings: string[] = [];
        try {
          const written = await write(deps, req, route, principal, verb, dryRun, warnings);
          return withWarnings(jsonResponse(200, written), warnings);
        } catch (err) {
          // Server-side apply creates what is not there yet.
          if (!isApply(req) || route.subresource || !isNotFound(err)) throw err;
          const created = await create(deps, req, route, principal, dryRun, warnings);
          return withWarnings(jsonResponse(201, created), warnings);
        }
      }
    case 'delete':
      return jsonResponse(200, await removeResource(deps, req, route, principal));
  }
}

function withWarnings(res: ApiResponse, warnings: string[]): ApiResponse {
  return { ...res, headers: { ...res.headers, ...warningHeaders(warnings) } };
}

const VERBS: Record<string, Partial<Record<string, Verb>>> = {
  collection: { GET: 'list', POST: 'create' },
  object: { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' },
  subresource: { GET: 'get', PUT: 'update', PATCH: 'patch' },
  // POST .../deployments/{name}/rollback changes the Deployment: authorized as an update of it.
  rollback: { POST: 'update' },
  // POST .../pods/{name}/eviction: Kubernetes' verb is create on pods/eviction.
  eviction: { POST: 'create' },
  // exec, attach, portforward: GET and POST alike (exec.ts; their upgrade is served before this).
  connect: { GET: 'get', POST: 'create' },
};
const CONNECT = new Set(['exec', 'attach', 'portforward']);

function verbOf(method: string, route: ResourceRoute): Verb {
  const path = route.subresource ? 'subresource' : route.name !== undefined ? 'object' : 'collection';
  const sub = route.subresource ?? '';
  const key = CONNECT.has(sub) ? 'connect' : sub === 'rollback' || sub === 'eviction' ? sub : path;
  const verb = VERBS[key]?.[method];
  // A namespaced kind's all-namespaces path (/api/v1/pods) only lists.
  if (!verb || (verb === 'create' && route.info.namespaced && route.namespace === undefined)) {
    throw new MethodNotAllowedError(method, describe(route));
  }
  return verb;
}

function describe(route: ResourceRoute): string {
  const ns = route.namespace !== undefined ? `namespaces/${route.namespace}/` : '';
  const name = route.name !== undefined ? `/${route.name}` : '';
  return `${ns}${resourceLabel(route.info)}${name}${route.subresource ? `/${route.subresource}` : ''}`;
}

function isApply(req: ApiRequest): boolean {
  return req.method === 'PATCH' && mediaType(req) === APPLY_PATCH_TYPE;
}

function dryRunOf(req: ApiRequest): boolean {
  const values = req.query.getAll('dryRun');
  if (values.some((v) => v !== 'All')) throw new BadRequestError('dryRun must be "All" when given');
  return values.length > 0;
}

/** The node a `spec.nodeName=X` field selector pins, if any (node tokens may list only their pods). */
function pinnedNodeName(selector: string | null): string | undefined {
  for (const term of (selector ?? '').split(',')) {
    const m = /^\s*spec\.nodeName\s*==?\s*(\S+)\s*$/.exec(term);
    if (m) return m[1];
  }
  return undefined;
}

/** 404 unless the namespace exists: objects are never created into a namespace that is not there. */
export async function requireNamespace(deps: ApiDeps, namespace: string): Promise<void> {
  if (!(await deps.store.get({ kind: 'Namespace', name: namespace }))) {
    throw new NotFoundError('Namespace', namespace, `namespaces "${namespace}" not found`);
  }
}

async function create(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
  dryRun: boolean,
  warnings: string[],
): Promise<Obj> {
  const { info } = route;
  const body = asObjectOf(parseBody(req, deps.config.maxBodyBytes), info);
  checkPlacement(body, info, route.namespace, route.name);
  const apply = isApply(req);
  const manager = fieldManagerOf(req.query, req.headers, apply);
  const given = (body.metadata as { managedFields?: unknown }).managedFields;
  if (apply) checkNoManagedFields(body);
  const meta = body.metadata;
  if ((meta.name === undefined || meta.name === '') && typeof meta.generateName === 'string') {
    meta.name = `${meta.generateName}${randomSuffix()}`;
  }
  stripServerMetadata(body);
  if (hasStatusSubresource(info)) delete body.status;
  applyFieldValidation(body, fieldValidationOf(req.query, apply ? 'PatchOptions' : 'CreateOptions'), warnings);
  const applied = apply
    ? applyConfiguration(undefined, body, manager, forceOf(req.query, true), deps.clock())
    : undefined;
  const obj = admit(body);
  if (applied) setManaged(obj, managedOf(applied) ?? []);
  else trackUpdate(undefined, obj, given, manager, deps.clock());
  authorizeObject(principal, 'create', obj);
  restrictNodeWrite(principal, deps.clock(), obj, undefined);
  if (info.namespaced) await requireNamespace(deps, obj.metadata.namespace as string);
  warnings.push(...(await admitPolicy(deps, principal, obj, undefined)));
  if (dryRun) {
    if (obj.kind === 'Service') await checkServiceDryRun(deps, obj);
    await checkQuota(deps, obj, { dryRun });
    return obj;
  }
  await checkQuota(deps, obj);
  return writeService(deps, obj, undefined, (o) => deps.store.create(o));
}

export function nodePortRange(deps: ApiDeps) {
  return deps.config.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;
}

export function serviceRange(deps: ApiDeps) {
  return deps.config.serviceRange ?? DEFAULT_SERVICE_RANGE;
}

/**
 * Any write of a main resource: a Service's node ports and cluster IP are claimed around it.
 * A chosen cluster IP is checked (read only) before any claim, so a refused one writes nothing.
 */
async function writeService<T extends Obj>(
  deps: ApiDeps,
  next: Obj,
  stored: Obj | undefined,
  write: (obj: Obj) => Promise<T>,
): Promise<T> {
  if (next.kind === 'Service') {
    const causes = await clusterIPProblems(deps, next, serviceRange(deps));
    if (causes.length > 0) throw new InvalidError('Service', next.metadata.name, causes);
    if (clusterIPOf(stored) === undefined) await checkRangeHasRoom(deps, next, serviceRange(deps));
  }
  return writeServiceWithNodePorts(deps, nodePortRange(deps), next, stored, (o) =>
    writeServiceWithClusterIP(deps, serviceRange(deps), o, stored, write),
  );
}

/** A dry run claims nothing but reports what a real write would refuse. */
async function checkServiceDryRun(deps: ApiDeps, svc: Obj): Promise<void> {
  const causes = [
    ...(await clusterIPProblems(deps, svc, serviceRange(deps))),
    ...(await nodePortProblems(deps, svc, nodePortRange(deps))),
  ];
  if (causes.length > 0) throw new InvalidError('Service', svc.metadata.name, causes);
}

/** PUT and PATCH, on the main resource or on `/status`. */
async function write(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
  verb: 'update' | 'patch',
  dryRun: boolean,
  warnings: string[],
): Promise<Obj> {
  const { info } = route;
  const name = route.name as string;
  const status = route.subresource === 'status';
  const type = mediaType(req);
  if (verb === 'patch' && !(PATCH_TYPES as readonly string[]).includes(type)) {
    throw new BadRequestError(`a PATCH needs Content-Type ${PATCH_TYPES.join(', ')} (got ${JSON.stringify(type)})`);
  }
  const input = parseBody(req, deps.config.maxBodyBytes);
  const directive = fieldValidationOf(req.query, verb === 'update' ? 'UpdateOptions' : 'PatchOptions');
  const apply = isApply(req);
  if (apply && status)
    throw new UnsupportedMediaTypeError(`${type} on the status subresource (apply the object instead)`);
  const manager = fieldManagerOf(req.query, req.headers, apply);
  const force = forceOf(req.query, apply);
  let dropped: string[] = [];

  const ref = refOf(route, name);
  // Set by each attempt: a client that named a resourceVersion gets the 409, unpinned writes were
  // computed from a snapshot and are rebased on what is stored now (the conflict's `current`).
  let pinnedRv: string | undefined;
  return retryOnConflict(
    async (current) => {
      const stored = isObjectAt(current, ref) ? current : await mustGet(deps, route);
      authorizeObject(principal, verb, stored);

      // The object the client asks for, in full: the PUT body, or the stored object patched.
      let desired: Obj;
      if (verb === 'update') {
        desired = asObjectOf(structuredClone(input), info);
        pinnedRv = desired.metadata.resourceVersion;
      } else if (apply) {
        const config = asObjectOf(structuredClone(input), info);
        checkPlacement(config, info, route.namespace, name);
        applyFieldValidation(config, directive, []);
        pinnedRv = config.metadata.resourceVersion;
        desired = applyConfiguration(stored, config, manager, force, deps.clock());
      } else {
        const patched = applyPatch(type, structuredClone(stored), input);
        checkTree(patched);
        desired = asObjectOf(patched, info);
        const rv = desired.metadata.resourceVersion;
        pinnedRv = rv !== stored.metadata.resourceVersion ? rv : undefined;
      }
      checkPlacement(desired, info, route.namespace, name);
      dropped = [];
      applyFieldValidation(desired, directive, dropped);

      const given = (desired.metadata as { managedFields?: unknown }).managedFields;
      let next: Obj;
      if (status) {
        // /status: only status moves; everything else stays as stored.
        next = structuredClone(stored);
        if (desired.status === undefined) delete next.status;
        else next.status = desired.status;
        validateOnly(next);
      } else {
        const body = stripServerMetadata(structuredClone(desired));
        if (hasStatusSubresource(info)) delete body.status;
        if (info.kind === 'Service') keepAllocated(stored, body);
        next = admit(body);
        const immutable = immutableChanges(stored, next);
        if (immutable.length) throw new InvalidError(info.kind, name, immutable);
        carryServerMetadata(stored, next);
        if (apply) setManaged(next, managedOf(desired) ?? []);
        else trackUpdate(stored, next, given, manager, deps.clock());
        if (hasStatusSubresource(info)) {
          if (stored.status === undefined) delete next.status;
          else next.status = structuredClone(stored.status);
        }
      }
      authorizeObject(principal, verb, next);
      restrictNodeWrite(principal, deps.clock(), next, stored);
      if (!status) warnings.push(...(await admitPolicy(deps, principal, next, stored)));
      if (pinnedRv !== undefined && pinnedRv !== stored.metadata.resourceVersion) {
        throw new ConflictError(info.kind, name, stored);
      }
      next.metadata.resourceVersion = stored.metadata.resourceVersion as string;
      // A /status write changes no counted usage but a pod's phase, which only shrinks it.
      if (!status) await checkQuota(deps, [{ obj: next, stored }], { dryRun });
      if (dryRun) {
        if (next.kind === 'Service' && !status) await checkServiceDryRun(deps, next);
        return next;
      }
      if (status) return deps.store.update(next);
      return writeService(deps, next, stored, (o) => deps.store.update(o));
    },
    { attempts: WRITE_ATTEMPTS, pinned: () => pinnedRv },
  ).then((written) => {
    warnings.push(...dropped);
    return written;
  });
}
