/**
 * Pod tokens: the ServiceAccount credential a pod gets at
 * /var/run/secrets/kubernetes.io/serviceaccount/token, like Kubernetes' bound service account
 * tokens (the kubelet's TokenRequest with a boundObjectRef to the pod).
 *
 * Who issues: the API, to the agent of the pod's node only (`POST /agent/v1/token`, node
 * credential): a node may obtain tokens for the pods bound to it and no others, as
 * NodeRestriction allows the kubelet. The token is an ordinary ferry token record (hashed at rest,
 * never logged) of role `serviceaccount`, bound to the pod's namespace, name and uid and to the
 * ServiceAccount's uid, expiring after POD_TOKEN_TTL_SECONDS; the agent asks for a new one at 80%
 * of its life and rewrites the file in place, as the kubelet does. It stops working (401) when the
 * pod is gone or replaced (another uid), once a deleted pod's grace period is over, or when the
 * ServiceAccount is deleted or recreated; the service-accounts controller deletes such records.
 *
 * Whether a pod gets a token: `spec.automountServiceAccountToken`, else the ServiceAccount's, else
 * true (Kubernetes' order: the pod wins).
 *
 * A `serviceAccountToken` projected volume source gets its own token the same way (the request
 * names the projection): only one the pod's spec holds, with its audience and expirationSeconds,
 * whatever automount says (as in Kubernetes, automount governs the default mount only).
 */
import { createHash } from 'node:crypto';
import type { PodTokenResponse, TokenProjection } from '../schemas/agent-protocol';
import type { ServiceAccount } from '../schemas/service-account';
import type { Deps } from './deps';
import { ForbiddenError, isAlreadyExists, NotFoundError } from './errors';
import { ignoreNotFound, retryOnConflict } from './store/retry';
import type { Obj } from './store/types';
import { API_AUDIENCES, type BoundPod, issueToken, TOKEN_KIND, type TokenRecord } from './tokens';

export const POD_TOKEN_TTL_SECONDS = 3600;
export const POD_TOKEN_SLOTS = 3;

interface PodParts extends Obj {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    volumes?: { projected?: { sources?: { serviceAccountToken?: TokenProjection }[] } }[];
  };
}

/** A projection's audience and life as Kubernetes defaults them (the API's audience, one hour). */
export function projectionKey(p: TokenProjection): { audience: string; expirationSeconds: number } {
  return {
    audience: p.audience || (API_AUDIENCES[0] as string),
    expirationSeconds: p.expirationSeconds ?? POD_TOKEN_TTL_SECONDS,
  };
}

function holdsProjection(pod: PodParts, wanted: TokenProjection): boolean {
  const want = projectionKey(wanted);
  return (pod.spec?.volumes ?? []).some((v) =>
    (v.projected?.sources ?? []).some((s) => {
      if (!s.serviceAccountToken) return false;
      const has = projectionKey(s.serviceAccountToken);
      return has.audience === want.audience && has.expirationSeconds === want.expirationSeconds;
    }),
  );
}

export function automounts(pod: PodParts, account: ServiceAccount | undefined): boolean {
  return pod.spec?.automountServiceAccountToken ?? account?.automountServiceAccountToken ?? true;
}

/** A token for `ref`, a pod bound to `nodeName`; `{ automount: false }` when the pod mounts none. */
export async function issuePodToken(
  deps: Deps,
  nodeName: string,
  ref: { namespace: string; name: string; uid: string },
  projection?: TokenProjection,
): Promise<PodTokenResponse> {
  const pod = await deps.store.get<PodParts>({ kind: 'Pod', namespace: ref.namespace, name: ref.name });
  if (!pod || pod.metadata.uid !== ref.uid)
    throw new NotFoundError(
      'Pod',
      ref.name,
      `pods "${ref.name}" with uid ${ref.uid} not found in namespace "${ref.namespace}"`,
    );
  if (pod.spec?.nodeName !== nodeName)
    throw new ForbiddenError(
      `node "${nodeName}" may not get a token for pod ${ref.namespace}/${ref.name}: it is not bound to this node`,
    );
  if (pod.metadata.deletionTimestamp)
    throw new ForbiddenError(`pod ${ref.namespace}/${ref.name} is terminating: no new token is issued for it`);
  const saName = pod.spec?.serviceAccountName || 'default';
  const account = await deps.store.get<ServiceAccount>({
    kind: 'ServiceAccount',
    namespace: ref.namespace,
    name: saName,
  });
  if (projection && !holdsProjection(pod, projection))
    throw new ForbiddenError(
      `pod ${ref.namespace}/${ref.name} has no serviceAccountToken projection with this audience and expirationSeconds`,
    );
  if (!projection && !automounts(pod, account)) return { automount: false };
  if (!account)
    throw new NotFoundError(
      'ServiceAccount',
      saName,
      `serviceaccounts "${saName}" not found in namespace "${ref.namespace}": the pod's token waits for it`,
    );
  const boundPod: BoundPod = {
    namespace: ref.namespace,
    name: ref.name,
    uid: ref.uid,
    serviceAccountName: saName,
    serviceAccountUid: account.metadata.uid as string,
  };
  const { record, token } = await issueInSlot(deps, boundPod, saName, projection && projectionKey(projection));
  return {
    automount: true,
    token,
    expirationTimestamp: record.status.expirationTimestamp as string,
    namespace: ref.namespace,
  };
}

/**
 * A pod holds at most POD_TOKEN_SLOTS token records per token it mounts, named `pod-<uid>-<slot>`
 * (the default mount) or `pod-<uid>-<projection hash>-<slot>`: a new token takes a free slot or
 * replaces the one expiring first (revoking it), so a node asking again and again cannot pile
 * records up in the store. The agent asks at 80% of a token's life, so two slots are in use at
 * most; a third lets a renewal race a restart.
 */
async function issueInSlot(
  deps: Deps,
  boundPod: BoundPod,
  saName: string,
  projection?: { audience: string; expirationSeconds: number },
): Promise<{ record: TokenRecord; token: string }> {
  const key = projection
    ? `-${createHash('sha256').update(`${projection.audience}\n${projection.expirationSeconds}`).digest('hex').slice(0, 10)}`
    : '';
  // Another request for the same pod took the slot meanwhile (AlreadyExists): choose again.
  return retryOnConflict(
    async () => {
      const slots = await Promise.all(
        Array.from({ length: POD_TOKEN_SLOTS }, async (_, i) => {
          const name = `pod-${boundPod.uid}${key}-${i}`;
          return { name, record: await deps.store.get<TokenRecord>({ kind: TOKEN_KIND, name }) };
        }),
      );
      const expiry = (r: TokenRecord | undefined) => (r ? Date.parse(r.status?.expirationTimestamp ?? '') || 0 : -1);
      const slot = slots.reduce((a, b) => (expiry(b.record) < expiry(a.record) ? b : a));
      if (slot.record) await ignoreNotFound(deps.store.delete({ kind: TOKEN_KIND, name: slot.name }));
      return issueToken(deps, {
        name: slot.name,
        role: 'serviceaccount',
        ttlSeconds: projection?.expirationSeconds ?? POD_TOKEN_TTL_SECONDS,
        boundPod,
        ...(projection ? { audiences: [projection.audience] } : {}),
        description: `pod ${boundPod.namespace}/${boundPod.name}, serviceaccount ${saName}${projection ? `, audience ${projection.audience}` : ''}`,
      });
    },
    { attempts: 3, retryIf: isAlreadyExists },
  );
}

/**
 * Why a ServiceAccount token is no API credential (issued for another audience) or no longer
 * works (its pod is gone, replaced or past its deletion grace period, its bound Secret or its
 * ServiceAccount deleted or recreated), or undefined while it does.
 */
export async function podTokenProblem(deps: Deps, record: TokenRecord): Promise<string | undefined> {
  const audiences = record.spec.audiences;
  if (audiences && !audiences.some((a) => API_AUDIENCES.includes(a)))
    return `its audiences (${audiences.join(', ')}) are not the API's (${API_AUDIENCES.join(', ')})`;
  const bound = record.spec.boundPod;
  if (!bound) return boundObjectProblem(deps, record);
  const pod = await deps.store.get({ kind: 'Pod', namespace: bound.namespace, name: bound.name });
  if (!pod || pod.metadata.uid !== bound.uid) return 'its pod no longer exists';
  const deleted = pod.metadata.deletionTimestamp;
  if (deleted) {
    const grace = (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
    if (Date.parse(deleted) + grace <= deps.clock()) return 'its pod was deleted';
  }
  const account = await deps.store.get({
    kind: 'ServiceAccount',
    namespace: bound.namespace,
    name: bound.serviceAccountName,
  });
  if (!account || account.metadata.uid !== bound.serviceAccountUid) return 'its ServiceAccount no longer exists';
  return undefined;
}

/** A TokenRequest token bound to its ServiceAccount, and maybe a Secret (api/tokens-request.ts). */
async function boundObjectProblem(deps: Deps, record: TokenRecord): Promise<string | undefined> {
  const sa = record.spec.boundServiceAccount;
  if (!sa) return 'the token is bound to no pod or ServiceAccount';
  const account = await deps.store.get({ kind: 'ServiceAccount', namespace: sa.namespace, name: sa.name });
  if (!account || account.metadata.uid !== sa.uid) return 'its ServiceAccount no longer exists';
  if (!sa.secret) return undefined;
  const secret = await deps.store.get({ kind: 'Secret', namespace: sa.namespace, name: sa.secret.name });
  if (!secret || secret.metadata.uid !== sa.secret.uid) return 'its Secret no longer exists';
  return undefined;
}
