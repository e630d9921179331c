/**
 * `POST /api/v1/namespaces/NS/pods/NAME/eviction`: the Eviction subresource kubectl drain and
 * `ferry drain` use. The body is a policy/v1 (or v1beta1) Eviction; its `deleteOptions`
 * (gracePeriodSeconds, preconditions, dryRun) are honoured. The decision is functions/eviction.ts:
 * 201 with a Success Status when the pod is being deleted, 429 TooManyRequests (with Retry-After)
 * while a PodDisruptionBudget forbids it, 500 when several budgets select the pod, as Kubernetes.
 * https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/
 */
import { dropNulls, evictionProblems } from '../../schemas';
import { releaseQuota } from '../admission';
import { BadRequestError, InvalidError } from '../errors';
import { type EvictOptions, evictPod } from '../eviction';
import type { Obj } from '../store/types';
import { authorizeObject, type Principal } from './auth';
import { parseBody } from './body';
import { jsonResponse, statusBody } from './http-errors';
import { mustGet } from './route-objects';
import type { ApiDeps, ApiRequest, ApiResponse, ResourceRoute } from './types';

export async function handleEviction(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
  dryRun: boolean,
): Promise<ApiResponse> {
  const name = route.name as string;
  const namespace = route.namespace as string;
  const raw = parseBody(req, deps.config.maxBodyBytes);
  // kubectl sends `creationTimestamp: null`: null is unset, as everywhere in the API (schemas/nulls.ts).
  const body =
    raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? dropNulls(raw as Record<string, unknown>) : raw;
  const causes = evictionProblems(body);
  if (causes.length > 0) throw new InvalidError('Eviction', name, causes);
  const eviction = body as {
    metadata: { name?: string; namespace?: string };
    deleteOptions?: EvictOptions & { dryRun?: string[] };
  };
  if (eviction.metadata.name !== undefined && eviction.metadata.name !== name)
    throw new BadRequestError(`name in URL does not match name in Eviction object (${JSON.stringify(name)})`);
  if (eviction.metadata.namespace !== undefined && eviction.metadata.namespace !== namespace)
    throw new BadRequestError('the namespace of the Eviction does not match the namespace on the URL');
  // Authorization of the pod itself (a node token may touch only its own pods; it may not evict).
  authorizeObject(principal, 'create', await mustGet(deps, route));
  const given = eviction.deleteOptions ?? {};
  const options: EvictOptions = { dryRun: dryRun || (given.dryRun?.includes('All') ?? false) };
  if (given.gracePeriodSeconds !== undefined) options.gracePeriodSeconds = given.gracePeriodSeconds;
  if (given.preconditions) options.preconditions = given.preconditions;
  const pod = await evictPod(deps, { namespace, name }, options);
  if (pod && !options.dryRun) await releaseQuota(deps, pod as Obj);
  return jsonResponse(201, statusBody(201, '', ''));
}
