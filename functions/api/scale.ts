/**
 * The `scale` subresource of Deployments and ReplicaSets (`kubectl scale` PATCHes it): an
 * autoscaling/v1 Scale whose `spec.replicas` is the owner's. Writing it changes only
 * `spec.replicas`; the resulting object is validated like any other write.
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/#Scale
 */
import { INT32_MAX } from '../../schemas';
import { BadRequestError, ConflictError, InvalidError } from '../errors';
import { isObjectAt, retryOnConflict } from '../store/retry';
import type { Obj } from '../store/types';
import { isRecord, validateOnly } from './admission';
import { authorizeObject, type Principal } from './auth';
import { checkTree, mediaType, parseBody } from './body';
import { applyPatch, PATCH_TYPES } from './patch';
import type { ApiDeps, ApiRequest, ResourceRoute } from './types';

type Scalable = Obj & {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  status?: { replicas?: number };
};

export function toScale(obj: Obj): Obj {
  const o = obj as Scalable;
  const meta = obj.metadata;
  const selector = Object.entries(o.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: meta.name,
      ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
      ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
      ...(meta.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}),
      ...(meta.creationTimestamp !== undefined ? { creationTimestamp: meta.creationTimestamp } : {}),
    },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, ...(selector ? { selector } : {}) },
  };
}

/** PUT or PATCH on `.../{name}/scale`; returns the new Scale. */
export async function writeScale(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
  verb: 'update' | 'patch',
  get: () => Promise<Obj>,
  dryRun: boolean,
): Promise<Obj> {
  const type = mediaType(req);
  if (verb === 'patch' && !(PATCH_TYPES as readonly string[]).includes(type)) {
    throw new BadRequestError(`a PATCH needs Content-Type ${PATCH_TYPES.join(', ')} (got ${JSON.stringify(type)})`);
  }
  const input = parseBody(req, deps.config.maxBodyBytes);
  const ref = {
    kind: route.info.kind,
    ...(route.namespace ? { namespace: route.namespace } : {}),
    name: route.name ?? '',
  };
  // A Scale that names a resourceVersion gets the 409 when it is stale; one that does not is
  // rebased on what the conflict says is stored now.
  let pinned: string | undefined;
  return retryOnConflict(
    async (conflicted) => {
      const stored = isObjectAt(conflicted, ref) ? conflicted : await get();
      authorizeObject(principal, verb, stored);
      const current = toScale(stored);
      const desired = verb === 'update' ? input : applyPatch(type, current, input);
      checkTree(desired);
      if (!isRecord(desired)) throw new BadRequestError('the request body must be a Scale object');
      const meta = isRecord(desired.metadata) ? desired.metadata : {};
      if (meta.name !== undefined && meta.name !== route.name) {
        throw new BadRequestError(
          `the name of the object (${JSON.stringify(meta.name)}) does not match the name on the URL`,
        );
      }
      const replicas = isRecord(desired.spec) ? desired.spec.replicas : undefined;
      // int32, as Kubernetes types it: 2^31 replicas is a 422, not two billion pods.
      if (!Number.isInteger(replicas) || (replicas as number) < 0 || (replicas as number) > INT32_MAX) {
        throw new InvalidError('Scale', route.name ?? '', [
          {
            field: 'spec.replicas',
            message: `Invalid value: ${JSON.stringify(replicas) ?? 'undefined'}: must be a whole number between 0 and ${INT32_MAX}`,
            reason: 'FieldValueInvalid',
          },
        ]);
      }
      const rv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : undefined;
      // A patch applies to the current Scale, which carries the stored resourceVersion: only a
      // patch that sets another one pins it (as for the main resource, resources.ts).
      pinned = verb === 'update' || rv !== stored.metadata.resourceVersion ? rv : undefined;
      if (pinned !== undefined && pinned !== stored.metadata.resourceVersion) {
        throw new ConflictError(route.info.kind, route.name ?? '', stored);
      }
      const next = structuredClone(stored) as Scalable;
      next.spec = { ...next.spec, replicas: replicas as number };
      validateOnly(next);
      if (dryRun) return toScale(next);
      return toScale(await deps.store.update(next));
    },
    { pinned: () => pinned },
  );
}
