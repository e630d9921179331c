/**
 * v1 ServiceAccount: the identity a pod runs as (https://kubernetes.io/docs/concepts/security/service-accounts/).
 * Each namespace has a `default` one (functions/controllers/service-accounts.ts); a pod names one
 * with `spec.serviceAccountName` and, unless `automountServiceAccountToken` says no (the pod's
 * field wins over the ServiceAccount's), gets a short-lived token for it mounted at
 * /var/run/secrets/kubernetes.io/serviceaccount. `imagePullSecrets` are added to the pods that
 * use it, as Kubernetes' ServiceAccount admission does; `secrets` is kept as the list it is
 * (Kubernetes no longer makes token Secrets for it either).
 */
import { type Static, Type } from 'typebox';
import { Bool, Obj, Opt, Str } from './dsl';
import { envelope, type Kind } from './meta';

export const ObjectReferenceSchema = Obj({
  apiVersion: Opt(Str()),
  kind: Opt(Str()),
  name: Opt(Str()),
  namespace: Opt(Str()),
  uid: Opt(Str()),
  resourceVersion: Opt(Str()),
  fieldPath: Opt(Str()),
});

export const ServiceAccountSchema = Obj({
  ...envelope('v1', 'ServiceAccount'),
  secrets: Opt(Type.Array(ObjectReferenceSchema)),
  imagePullSecrets: Opt(Type.Array(Obj({ name: Str() }))),
  automountServiceAccountToken: Opt(Bool()),
});

export type ServiceAccount = Kind<Static<typeof ServiceAccountSchema>>;

/** The ServiceAccount a pod runs as when it names none. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** The `default` ServiceAccount every namespace has (a create body: the store sets the rest). */
export function defaultServiceAccount(namespace: string): {
  apiVersion: 'v1';
  kind: 'ServiceAccount';
  metadata: { name: string; namespace: string };
} {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace } };
}
