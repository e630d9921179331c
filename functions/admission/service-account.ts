/**
 * Kubernetes' ServiceAccount admission (plugin/pkg/admission/serviceaccount) for a pod about to be
 * created, by the API or a controller: the pod runs as `spec.serviceAccountName` (`default` when
 * it names none), which must exist in its namespace, else 403 with Kubernetes' message; the
 * ServiceAccount's `imagePullSecrets` are added when the pod lists none.
 *
 * One deviation: a missing `default` ServiceAccount is not refused. The service-accounts
 * controller creates it within a pass of its namespace, and refusing would break a bundle that
 * creates a namespace and a pod together (Kubernetes has the same race and refuses; ferry waits:
 * the pod's token is issued only once the ServiceAccount exists, see functions/pod-tokens.ts).
 */
import { DEFAULT_SERVICE_ACCOUNT, type ServiceAccount } from '../../schemas/service-account';
import type { Deps } from '../deps';
import { ForbiddenError } from '../errors';
import type { Obj } from '../store/types';

interface PodSpecPart {
  serviceAccountName?: string;
  serviceAccount?: string;
  imagePullSecrets?: { name: string }[];
}

/**
 * In place: names the pod's ServiceAccount, checks it exists (in the store, or among `bundled`:
 * the objects an apply bundle creates with the pod), adds its imagePullSecrets.
 */
export async function admitServiceAccount(deps: Deps, pod: Obj, bundled: readonly Obj[] = []): Promise<void> {
  const spec = (pod.spec ?? {}) as PodSpecPart;
  const name = spec.serviceAccountName || spec.serviceAccount || DEFAULT_SERVICE_ACCOUNT;
  spec.serviceAccountName = name;
  spec.serviceAccount = name;
  pod.spec = spec as Obj['spec'];
  const namespace = pod.metadata.namespace ?? 'default';
  const account =
    (bundled.find(
      (o) =>
        o.kind === 'ServiceAccount' && o.metadata.name === name && (o.metadata.namespace ?? 'default') === namespace,
    ) as ServiceAccount | undefined) ??
    (await deps.store.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name }));
  if (!account) {
    if (name === DEFAULT_SERVICE_ACCOUNT) return;
    throw new ForbiddenError(
      `pods "${pod.metadata.name}" is forbidden: error looking up service account ${namespace}/${name}: serviceaccount "${name}" not found`,
    );
  }
  if ((spec.imagePullSecrets ?? []).length === 0 && (account.imagePullSecrets ?? []).length > 0)
    spec.imagePullSecrets = (account.imagePullSecrets ?? []).map((s) => ({ name: s.name }));
}
