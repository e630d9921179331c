/**
 * The rules a ServiceAccount holds, read from the store when its token is authenticated (auth.ts
 * caches the result with the token for a second, and drops it at any write to an RBAC object):
 * every RoleBinding and ClusterRoleBinding naming it, its namespace's group or all
 * ServiceAccounts, and the rules of the role each refers to (a missing role grants nothing, as in
 * Kubernetes). Subjects as Kubernetes' appliesToUser: a ServiceAccount subject without a namespace
 * is in its RoleBinding's namespace; a User `system:serviceaccount:NS:NAME` is that ServiceAccount;
 * Groups `system:serviceaccounts`, `system:serviceaccounts:NS` and `system:authenticated`.
 */
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject } from '../../schemas/rbac';
import type { Deps } from '../deps';
import type { ScopedRule } from './rbac';

export interface ServiceAccountName {
  namespace: string;
  name: string;
}

/** The user name Kubernetes gives a ServiceAccount (`system:serviceaccount:NS:NAME`). */
export function serviceAccountUser(sa: ServiceAccountName): string {
  return `system:serviceaccount:${sa.namespace}:${sa.name}`;
}

export function subjectMatches(subject: Subject, sa: ServiceAccountName, bindingNamespace?: string): boolean {
  switch (subject.kind) {
    case 'ServiceAccount':
      return subject.name === sa.name && (subject.namespace || bindingNamespace) === sa.namespace;
    case 'User':
      return subject.name === serviceAccountUser(sa);
    case 'Group':
      return ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'].includes(
        subject.name,
      );
    default:
      return false;
  }
}

export async function rulesFor(deps: Deps, sa: ServiceAccountName): Promise<ScopedRule[]> {
  const out: ScopedRule[] = [];
  const clusterRoles = new Map<string, PolicyRule[]>();
  const clusterRole = async (name: string) => {
    let rules = clusterRoles.get(name);
    if (!rules) {
      rules = (await deps.store.get<ClusterRole>({ kind: 'ClusterRole', name }))?.rules ?? [];
      clusterRoles.set(name, rules);
    }
    return rules;
  };
  for (const b of (await deps.store.list<ClusterRoleBinding>('ClusterRoleBinding')).items) {
    if (b.roleRef.kind !== 'ClusterRole' || !(b.subjects ?? []).some((s) => subjectMatches(s, sa))) continue;
    for (const rule of await clusterRole(b.roleRef.name)) out.push({ rule });
  }
  for (const b of (await deps.store.list<RoleBinding>('RoleBinding')).items) {
    const namespace = b.metadata.namespace as string;
    if (!(b.subjects ?? []).some((s) => subjectMatches(s, sa, namespace))) continue;
    const rules =
      b.roleRef.kind === 'Role'
        ? ((await deps.store.get<Role>({ kind: 'Role', namespace, name: b.roleRef.name }))?.rules ?? [])
        : await clusterRole(b.roleRef.name);
    for (const rule of rules) out.push({ namespace, rule });
  }
  return out;
}

/** The rules a role a binding refers to grants (a RoleBinding's Role is in its namespace). */
export async function roleRules(
  deps: Deps,
  ref: { kind: string; name: string },
  namespace: string | undefined,
  bundled: readonly { kind: string; metadata: { name: string; namespace?: string }; rules?: PolicyRule[] }[] = [],
): Promise<PolicyRule[] | undefined> {
  const found = bundled.find(
    (o) =>
      o.kind === ref.kind &&
      o.metadata.name === ref.name &&
      (ref.kind === 'ClusterRole' || (o.metadata.namespace ?? 'default') === namespace),
  );
  if (found) return found.rules ?? [];
  const stored =
    ref.kind === 'Role'
      ? await deps.store.get<Role>({ kind: 'Role', namespace: namespace as string, name: ref.name })
      : await deps.store.get<ClusterRole>({ kind: 'ClusterRole', name: ref.name });
  return stored ? (stored.rules ?? []) : undefined;
}
