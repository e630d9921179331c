/**
 * rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and ClusterRoleBinding
 * (https://kubernetes.io/docs/reference/access-authn-authz/rbac/). ferry enforces them for
 * ServiceAccount tokens (functions/api/rbac.ts); its own token roles keep governing user tokens.
 * `aggregationRule` is in the schema only so that rules/rbac.ts can refuse it with a clear 422:
 * ferry does not aggregate ClusterRoles.
 */
import { type Static, Type } from 'typebox';
import { Free, Obj, Opt, Str } from './dsl';
import { envelope, type Kind } from './meta';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

const Strs = () => Type.Array(Str());

export const PolicyRuleSchema = Obj({
  verbs: Strs(),
  apiGroups: Opt(Strs()),
  resources: Opt(Strs()),
  resourceNames: Opt(Strs()),
  nonResourceURLs: Opt(Strs()),
});

export const RoleRefSchema = Obj({ apiGroup: Opt(Str()), kind: Str(), name: Str() });

export const SubjectSchema = Obj({ kind: Str(), apiGroup: Opt(Str()), name: Str(), namespace: Opt(Str()) });

export const RoleSchema = Obj({
  ...envelope(`${RBAC_GROUP}/v1`, 'Role'),
  rules: Opt(Type.Array(PolicyRuleSchema)),
});

export const ClusterRoleSchema = Obj({
  ...envelope(`${RBAC_GROUP}/v1`, 'ClusterRole'),
  rules: Opt(Type.Array(PolicyRuleSchema)),
  aggregationRule: Opt(Free()),
});

export const RoleBindingSchema = Obj({
  ...envelope(`${RBAC_GROUP}/v1`, 'RoleBinding'),
  subjects: Opt(Type.Array(SubjectSchema)),
  roleRef: RoleRefSchema,
});

export const ClusterRoleBindingSchema = Obj({
  ...envelope(`${RBAC_GROUP}/v1`, 'ClusterRoleBinding'),
  subjects: Opt(Type.Array(SubjectSchema)),
  roleRef: RoleRefSchema,
});

export type PolicyRule = Static<typeof PolicyRuleSchema>;
export type RoleRef = Static<typeof RoleRefSchema>;
export type Subject = Static<typeof SubjectSchema>;
export type Role = Kind<Static<typeof RoleSchema>>;
export type ClusterRole = Kind<Static<typeof ClusterRoleSchema>>;
export type RoleBinding = Kind<Static<typeof RoleBindingSchema>>;
export type ClusterRoleBinding = Kind<Static<typeof ClusterRoleBindingSchema>>;
