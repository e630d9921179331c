/**
 * DELETE of one object: preconditions, grace periods for pods, a Namespace with everything in it,
 * and the propagation policy of an owner (Background, the default: the garbage collector removes
 * the dependents; Orphan: they lose their owner reference and stay; Foreground: the owner is kept,
 * marked, until the garbage collector has removed every dependent, `owner-deletion.ts`).
 * https://kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion
 */
import { kinds } from '../../schemas';
import { isoTime } from '../../schemas/time';
import { QUOTA_LEDGER_KIND, releaseQuota } from '../admission';
import { clusterIPOf, releaseClusterIP } from '../cluster-ips';
import { BadRequestError, ConflictError, ForbiddenError, InvalidError, isNotFound } from '../errors';
import { nodePortsOf, ownerKey, releaseNodePorts } from '../node-ports';
import { DEPENDENT_KINDS, markForegroundDeletion, OWNER_KINDS } from '../owner-deletion';
import { deletePod } from '../pod-deletion';
import { retryOnConflict } from '../store/retry';
import type { Obj } from '../store/types';
import { isRecord } from './admission';
import { authorizeObject, type Principal } from './auth';
import { parseBody } from './body';
import { mustGet, notFoundFor, refOf, SYSTEM_NAMESPACES } from './route-objects';
import type { ApiDeps, ApiRequest, ResourceRoute } from './types';

export async function removeResource(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
): Promise<Obj> {
  const { info } = route;
  const name = route.name as string;
  const options = deleteOptions(deps, req);
  const stored = await mustGet(deps, route);
  authorizeObject(principal, 'delete', stored);
  if (options.resourceVersion !== undefined && options.resourceVersion !== stored.metadata.resourceVersion) {
    throw new ConflictError(info.kind, name, stored);
  }
  if (info.kind === 'Namespace') return deleteNamespace(deps, stored);
  if (info.kind === 'Pod') {
    const grace = options.gracePeriodSeconds;
    const pod = await deletePod(deps, refOf(route, name), grace !== undefined ? { gracePeriodSeconds: grace } : {});
    if (!pod) throw notFoundFor(info, name);
    await releaseQuota(deps, pod);
    return pod;
  }
  // PVC and PV protection: a claim in use (or a bound volume) is marked and stays until the volume
  // controller lifts its finalizer (functions/controllers/volume-protection.ts), as Kubernetes does.
  if (PROTECTED_KINDS.has(info.kind) && (stored.metadata.finalizers?.length ?? 0) > 0) return markDeleted(deps, stored);
  const policy = options.propagationPolicy ?? 'Background';
  // A pod's own deletion is its graceful termination (pod-deletion.ts), whatever it owns.
  if (policy === 'Foreground' && OWNER_KINDS.includes(info.kind) && info.kind !== 'Pod') {
    // 200 with the owner as kept (deletionTimestamp, the finalizer): `kubectl delete` then waits
    // for the 404 that comes once its dependents are gone.
    const marked = await markForegroundDeletion(deps, refOf(route, name));
    if (!marked) throw notFoundFor(info, name);
    return marked;
  }
  if (policy === 'Orphan') await orphanDependents(deps, stored);
  try {
    // After orphaning the dependents a controller may have touched the owner's status meanwhile:
    // that must not turn this delete into a 409 with its dependents already orphaned.
    const rv = policy === 'Background' ? stored.metadata.resourceVersion : undefined;
    const gone = await deps.store.delete(refOf(route, name), rv ? { resourceVersion: rv } : {});
    await releaseNodePorts(deps, nodePortsOf(gone), ownerKey(gone));
    await releaseClusterIP(deps, clusterIPOf(gone), ownerKey(gone));
    await releaseQuota(deps, gone);
    return gone;
  } catch (err) {
    if (isNotFound(err)) throw notFoundFor(info, name);
    throw err;
  }
}

const PROTECTED_KINDS = new Set(['PersistentVolumeClaim', 'PersistentVolume']);

/** Sets deletionTimestamp once (a second DELETE returns the object as it is). */
async function markDeleted(deps: ApiDeps, stored: Obj): Promise<Obj> {
  if (stored.metadata.deletionTimestamp) return stored;
  return retryOnConflict((fresh) => {
    const current = fresh ?? stored;
    if (current.metadata.deletionTimestamp) return Promise.resolve(current);
    return deps.store.update({
      ...current,
      metadata: { ...current.metadata, deletionTimestamp: isoTime(deps.clock()) },
    });
  });
}

type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground';
const POLICIES: readonly PropagationPolicy[] = ['Orphan', 'Background', 'Foreground'];

interface DeleteOptions {
  resourceVersion?: string;
  gracePeriodSeconds?: number;
  propagationPolicy?: PropagationPolicy;
}

/** DeleteOptions from the query and the (optional) body, as kubectl sends them. */
function deleteOptions(deps: ApiDeps, req: ApiRequest): DeleteOptions {
  const out: DeleteOptions = {};
  let body: unknown;
  if (req.body && req.body.byteLength > 0) body = parseBody(req, deps.config.maxBodyBytes);
  const grace = req.query.get('gracePeriodSeconds') ?? (isRecord(body) ? body.gracePeriodSeconds : undefined);
  if (grace !== undefined && grace !== null) {
    const n = Number(grace);
    if (!Number.isInteger(n) || n < 0) throw new BadRequestError('gracePeriodSeconds must be a whole number >= 0');
    out.gracePeriodSeconds = n;
  }
  const pre = isRecord(body) && isRecord(body.preconditions) ? body.preconditions : undefined;
  if (typeof pre?.resourceVersion === 'string') out.resourceVersion = pre.resourceVersion;
  // kubectl --cascade=orphan|background|foreground sends propagationPolicy; older clients
  // orphanDependents: true (Kubernetes reads it as Orphan).
  const policy = req.query.get('propagationPolicy') ?? (isRecord(body) ? body.propagationPolicy : undefined);
  const orphan = req.query.get('orphanDependents') ?? (isRecord(body) ? body.orphanDependents : undefined);
  if (policy !== undefined && policy !== null) {
    if (!POLICIES.includes(policy as PropagationPolicy))
      throw new InvalidError('DeleteOptions', '', [
        {
          field: 'propagationPolicy',
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Orphan", "Background", "Foreground"`,
        },
      ]);
    out.propagationPolicy = policy as PropagationPolicy;
  } else if (orphan === true || orphan === 'true') out.propagationPolicy = 'Orphan';
  return out;
}

async function dependentsOf(deps: ApiDeps, owner: Obj): Promise<Obj[]> {
  const namespace = owner.metadata.namespace;
  if (namespace === undefined) return [];
  const out: Obj[] = [];
  for (const kind of DEPENDENT_KINDS) {
    const { items } = await deps.store.list(kind, { namespace });
    out.push(...items.filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid)));
  }
  return out;
}

/** Orphan: dependents lose their reference to the owner, so the garbage collector leaves them. */
async function orphanDependents(deps: ApiDeps, owner: Obj): Promise<void> {
  for (const dep of await dependentsOf(deps, owner)) {
    await retryOnConflict(async (current) => {
      const obj =
        current ??
        (await deps.store.get({ kind: dep.kind, namespace: dep.metadata.namespace, name: dep.metadata.name }));
      if (!obj) return;
      const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
      const { ownerReferences: _dropped, ...metadata } = obj.metadata;
      await deps.store.update({
        ...obj,
        metadata: refs.length > 0 ? { ...metadata, ownerReferences: refs } : metadata,
      });
    });
  }
}

/**
 * Deleting a Namespace deletes every object in it, then the Namespace. Kubernetes does this
 * asynchronously (phase Terminating, the namespace controller); ferry does it in the request,
 * removing pods at once: their agents stop containers whose pods are gone.
 */
async function deleteNamespace(deps: ApiDeps, ns: Obj): Promise<Obj> {
  const name = ns.metadata.name;
  if ((SYSTEM_NAMESPACES as readonly string[]).includes(name)) {
    throw new ForbiddenError(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
  }
  for (const info of kinds.filter((k) => k.namespaced)) {
    const { items } = await deps.store.list(info.kind, { namespace: name });
    for (const obj of items) {
      try {
        await deps.store.delete({ kind: info.kind, namespace: name, name: obj.metadata.name });
        await releaseNodePorts(deps, nodePortsOf(obj), ownerKey(obj));
        await releaseClusterIP(deps, clusterIPOf(obj), ownerKey(obj));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }
  await deps.store.delete({ kind: QUOTA_LEDGER_KIND, namespace: name, name: 'quota' }).catch(() => undefined);
  return deps.store.delete({ kind: 'Namespace', name });
}
