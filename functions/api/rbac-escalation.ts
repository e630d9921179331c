/**
 * Who may write RBAC objects (policy.ts calls this on every write path, apply included):
 * - an admin: any;
 * - ClusterRoles and ClusterRoleBindings: an admin only (403 otherwise, whatever RBAC grants);
 * - a deployer, in its namespaces: any Role and RoleBinding. A RoleBinding grants its role's
 *   rules for namespaced resources in its own namespace only (rbac.ts), and a deployer already
 *   holds every namespaced permission there, so it cannot grant more than it holds;
 * - a ServiceAccount token, where RBAC lets it write them: Kubernetes' escalation check. A Role
 *   only with rules it holds itself in that namespace (or the `escalate` verb on roles); a
 *   RoleBinding only to a role whose rules it holds there (or the `bind` verb on that role).
 */
import { RBAC_GROUP } from '../../schemas/rbac';
import { ForbiddenError } from '../errors';
import type { Obj } from '../store/types';
import type { Principal } from './auth';
import { covers, rbacAllows } from './rbac';
import { roleRules } from './rbac-rules';
import type { ApiDeps } from './types';

export const RBAC_WRITE_KINDS = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

export async function checkRbacWrite(
  deps: ApiDeps,
  principal: Principal,
  next: Obj,
  bundled: readonly Obj[] = [],
): Promise<void> {
  if (principal.role === 'admin') return;
  const what = `${next.kind.toLowerCase()}s.${RBAC_GROUP} "${next.metadata.name}" is forbidden`;
  if (next.kind === 'ClusterRole' || next.kind === 'ClusterRoleBinding')
    throw new ForbiddenError(`${what}: only an admin may create or change ClusterRoles and ClusterRoleBindings`);
  if (principal.role !== 'serviceaccount') return;
  const namespace = next.metadata.namespace as string;
  const held = principal.rules ?? [];
  const may = (verb: string, resource: string, name: string) =>
    rbacAllows(held, { verb, apiGroup: RBAC_GROUP, resource, name, namespace, namespaced: true });
  const missing: string[] = [];
  if (next.kind === 'Role') {
    if (may('escalate', 'roles', next.metadata.name)) return;
    if (covers(held, (next as { rules?: [] }).rules ?? [], namespace, missing)) return;
    throw new ForbiddenError(
      `${what}: user is attempting to grant RBAC permissions not currently held: ${missing.join(', ')}`,
    );
  }
  const ref = (next as { roleRef?: { kind: string; name: string } }).roleRef as { kind: string; name: string };
  if (may('bind', ref.kind === 'Role' ? 'roles' : 'clusterroles', ref.name)) return;
  const rules = await roleRules(deps, ref, namespace, bundled as Parameters<typeof roleRules>[3]);
  if (rules === undefined)
    throw new ForbiddenError(`${what}: ${ref.kind.toLowerCase()}s.${RBAC_GROUP} "${ref.name}" not found`);
  if (covers(held, rules, namespace, missing)) return;
  throw new ForbiddenError(
    `${what}: user is attempting to grant RBAC permissions not currently held: ${missing.join(', ')}`,
  );
}
