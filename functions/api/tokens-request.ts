/**
 * The TokenRequest API: `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`, what
 * `kubectl create token NAME [--audience A] [--duration D] [--bound-object-kind Pod|Secret
 * --bound-object-name N]` calls. Authorized as `create serviceaccounts/token` (RBAC for pod
 * tokens; an admin, or a deployer in its namespaces). The token is a ferry token record like a
 * pod's (hashed at rest, never logged), bound to the ServiceAccount's uid and, with
 * `boundObjectRef`, to a Pod (dead with it, as a pod's own token) or a Secret (dead when it is
 * deleted); `audiences` default to the API's own (API_AUDIENCES), and a token for no audience of
 * the API authenticates nothing here (functions/pod-tokens.ts checks). Validation as Kubernetes':
 * expirationSeconds from 600 to 2^32 (default 3600), boundObjectRef of kind Pod or Secret, the
 * bound object's uid when given, a Pod running as this ServiceAccount.
 */
import { isoTime } from '../../schemas/time';
import { isRec } from '../../schemas/tree';
import {
  BadRequestError,
  ForbiddenError,
  InvalidError,
  MethodNotAllowedError,
  NotFoundError,
  type StatusCause,
} from '../errors';
import { POD_TOKEN_TTL_SECONDS } from '../pod-tokens';
import type { Obj } from '../store/types';
import { API_AUDIENCES, type BoundPod, type BoundServiceAccount, issueToken } from '../tokens';
import { authorize, type Principal } from './auth';
import { parseBody } from './body';
import { jsonResponse } from './http-errors';
import type { ApiDeps, ApiRequest, ApiResponse, ResourceRoute } from './types';

const API_VERSION = 'authentication.k8s.io/v1';
const MIN_SECONDS = 600;
const MAX_SECONDS = 2 ** 32;
const DEFAULT_SECONDS = POD_TOKEN_TTL_SECONDS;
/** Bounds of ferry's own (Kubernetes sets none): the audiences are stored in the token record. */
export const MAX_AUDIENCES = 16;
export const MAX_AUDIENCE_LENGTH = 1024;

interface BoundRef {
  kind: 'Pod' | 'Secret';
  name: string;
  uid?: string;
}

interface Wanted {
  audiences: string[];
  expirationSeconds: number;
  bound?: BoundRef;
}

export async function handleTokenRequest(
  deps: ApiDeps,
  req: ApiRequest,
  route: ResourceRoute,
  principal: Principal,
): Promise<ApiResponse> {
  const namespace = route.namespace as string;
  const name = route.name as string;
  if (req.method !== 'POST')
    throw new MethodNotAllowedError(req.method, `namespaces/${namespace}/serviceaccounts/${name}/token`);
  authorize(principal, {
    verb: 'create',
    kind: 'ServiceAccount',
    namespaced: true,
    namespace,
    name,
    subresource: 'token',
  });
  const dryRuns = req.query.getAll('dryRun');
  if (dryRuns.some((v) => v !== 'All')) throw new BadRequestError('dryRun must be "All" when given');
  const dryRun = dryRuns.length > 0;
  const wanted = tokenRequestOf(parseBody(req, deps.config.maxBodyBytes), name);
  const account = await deps.store.get({ kind: 'ServiceAccount', namespace, name });
  if (!account) throw new NotFoundError('ServiceAccount', name, `serviceaccounts "${name}" not found`);
  const bound = wanted.bound ? await boundObject(deps, namespace, name, wanted.bound) : undefined;
  const serviceAccount: BoundServiceAccount = { namespace, name, uid: account.metadata.uid as string };
  const options = {
    role: 'serviceaccount' as const,
    ttlSeconds: wanted.expirationSeconds,
    audiences: wanted.audiences,
    description: `TokenRequest for serviceaccount ${namespace}/${name}`,
    ...(bound?.kind === 'Pod'
      ? {
          boundPod: {
            namespace,
            name: bound.obj.metadata.name,
            uid: bound.obj.metadata.uid as string,
            serviceAccountName: name,
            serviceAccountUid: serviceAccount.uid,
          } satisfies BoundPod,
        }
      : {
          boundServiceAccount: bound
            ? { ...serviceAccount, secret: { name: bound.obj.metadata.name, uid: bound.obj.metadata.uid as string } }
            : serviceAccount,
        }),
  };
  const expirationTimestamp = isoTime(deps.clock() + wanted.expirationSeconds * 1000);
  // A dry run issues nothing, so it has no token to show.
  const token = dryRun ? '' : (await issueToken(deps, options)).token;
  return jsonResponse(201, {
    apiVersion: API_VERSION,
    kind: 'TokenRequest',
    metadata: { name, namespace, creationTimestamp: isoTime(deps.clock()) },
    spec: {
      audiences: wanted.audiences,
      expirationSeconds: wanted.expirationSeconds,
      boundObjectRef: bound
        ? { kind: bound.kind, apiVersion: 'v1', name: bound.obj.metadata.name, uid: bound.obj.metadata.uid }
        : null,
    },
    status: { token, expirationTimestamp },
  });
}

/** The object the token is bound to, checked as Kubernetes' TokenRequest REST does. */
async function boundObject(
  deps: ApiDeps,
  namespace: string,
  account: string,
  ref: BoundRef,
): Promise<{ kind: BoundRef['kind']; obj: Obj }> {
  const obj = await deps.store.get({ kind: ref.kind, namespace, name: ref.name });
  const plural = ref.kind === 'Pod' ? 'pods' : 'secrets';
  if (!obj) throw new NotFoundError(ref.kind, ref.name, `${plural} "${ref.name}" not found`);
  if (ref.uid !== undefined && ref.uid !== obj.metadata.uid)
    throw new ForbiddenError(
      `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
    );
  if (obj.metadata.deletionTimestamp) throw new ForbiddenError(`${plural} "${ref.name}" is being deleted`);
  const runsAs = (obj.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default';
  if (ref.kind === 'Pod' && runsAs !== account)
    throw new BadRequestError(
      `cannot bind token for serviceaccount "${account}" to pod running with different serviceaccount name.`,
    );
  return { kind: ref.kind, obj };
}

/** Validates a TokenRequest body (authentication.k8s.io/v1) into what to issue; 422 naming each bad field. */
export function tokenRequestOf(body: unknown, name: string): Wanted {
  const causes: StatusCause[] = [];
  const bad = (field: string, message: string, reason = 'FieldValueInvalid') => causes.push({ field, message, reason });
  const obj = isRec(body) ? body : {};
  if (!isRec(body)) bad('', 'must be an object');
  for (const key of Object.keys(obj))
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(key))
      bad(key, 'unknown field', 'FieldValueNotSupported');
  if (obj.apiVersion !== undefined && obj.apiVersion !== API_VERSION) bad('apiVersion', `must be ${API_VERSION}`);
  if (obj.kind !== undefined && obj.kind !== 'TokenRequest') bad('kind', 'must be TokenRequest');
  const spec = isRec(obj.spec) ? obj.spec : {};
  if (obj.spec !== undefined && obj.spec !== null && !isRec(obj.spec)) bad('spec', 'must be an object');
  for (const key of Object.keys(spec))
    if (!['audiences', 'expirationSeconds', 'boundObjectRef'].includes(key))
      bad(`spec.${key}`, 'unknown field', 'FieldValueNotSupported');
  const audiences = checkAudiences(spec.audiences, bad);
  const seconds = spec.expirationSeconds ?? DEFAULT_SECONDS;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds)) bad('spec.expirationSeconds', 'must be an integer');
  else if (seconds < MIN_SECONDS) bad('spec.expirationSeconds', 'may not specify a duration less than 10 minutes');
  else if (seconds > MAX_SECONDS) bad('spec.expirationSeconds', 'may not specify a duration larger than 2^32 seconds');
  const bound = checkBoundRef(spec.boundObjectRef, bad);
  if (causes.length > 0) throw new InvalidError('TokenRequest', name, causes);
  return {
    audiences: audiences.length > 0 ? audiences : [API_AUDIENCES[0] as string],
    expirationSeconds: seconds as number,
    ...(bound ? { bound } : {}),
  };
}

function checkAudiences(value: unknown, bad: (field: string, message: string) => void): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_AUDIENCES) {
    bad('spec.audiences', `must be a list of at most ${MAX_AUDIENCES} audiences`);
    return [];
  }
  value.forEach((a, i) => {
    if (typeof a !== 'string' || a === '' || a.length > MAX_AUDIENCE_LENGTH)
      bad(`spec.audiences[${i}]`, `must be a non-empty string of at most ${MAX_AUDIENCE_LENGTH} characters`);
  });
  return value.filter((a): a is string => typeof a === 'string');
}

function checkBoundRef(value: unknown, bad: (field: string, message: string, reason?: string) => void) {
  if (value === undefined || value === null) return undefined;
  if (!isRec(value)) {
    bad('spec.boundObjectRef', 'must be an object');
    return undefined;
  }
  for (const key of Object.keys(value))
    if (!['kind', 'apiVersion', 'name', 'uid'].includes(key))
      bad(`spec.boundObjectRef.${key}`, 'unknown field', 'FieldValueNotSupported');
  const { kind, apiVersion, name, uid } = value;
  if (kind !== 'Pod' && kind !== 'Secret')
    bad('spec.boundObjectRef.kind', `Unsupported value: ${JSON.stringify(kind)}: supported values: "Pod", "Secret"`);
  if (apiVersion !== undefined && apiVersion !== 'v1') bad('spec.boundObjectRef.apiVersion', 'must be v1');
  if (typeof name !== 'string' || name === '' || name.length > 253)
    bad('spec.boundObjectRef.name', 'Required value', 'FieldValueRequired');
  if (uid !== undefined && typeof uid !== 'string') bad('spec.boundObjectRef.uid', 'must be a string');
  return { kind, name, ...(typeof uid === 'string' && uid !== '' ? { uid } : {}) } as BoundRef;
}
