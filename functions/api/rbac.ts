/**
 * The RBAC authorizer for ServiceAccount tokens, pure: does a set of rules, each scoped by where
 * its binding applies, allow one request? Kubernetes' rules, as in
 * plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/apis/rbac/v1/evaluation_helpers.go:
 * - a verb, API group, resource and resourceName each match a listed value or `*`;
 * - a subresource is `resource/sub` (`pods/log`, `deployments/scale`), matched whole or by
 *   `*` / `*` before `/sub`; a rule for `pods` does not cover `pods/log`;
 * - with resourceNames, only requests naming one of them match (so never list or create);
 * - a RoleBinding's rules apply to namespaced resources in its own namespace; a
 *   ClusterRoleBinding's everywhere, cluster-scoped resources included.
 * Non-resource URLs: discovery, /openapi, /healthz and /version are open to every authenticated
 * token, as Kubernetes' system:discovery and system:public-info-viewer bindings make them; the
 * one guarded is /metrics, which a ServiceAccount reads with a ClusterRoleBinding to a rule
 * `nonResourceURLs: ["/metrics"]` (or a `*` prefix of it), `verbs: ["get"]` (`nonResourceAllows`).
 * `covers` is the escalation check (ConfirmNoEscalation): every atomic permission a role grants
 * must be allowed by the creator's own rules; a `*` asked for is covered only by a `*` held.
 */
import type { PolicyRule } from '../../schemas/rbac';

/** A rule and where it applies: `namespace` from a RoleBinding, undefined from a ClusterRoleBinding. */
export interface ScopedRule {
  namespace?: string;
  rule: PolicyRule;
}

export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  /** `pods`, or `pods/log` for a subresource. */
  resource: string;
  name?: string;
  /** Undefined for cluster-scoped resources and lists across all namespaces. */
  namespace?: string;
  /** The resource is namespaced (a RoleBinding can grant it). */
  namespaced: boolean;
}

const has = (list: readonly string[] | undefined, value: string) => (list ?? []).some((v) => v === '*' || v === value);

function resourceMatches(rule: PolicyRule, resource: string): boolean {
  const slash = resource.indexOf('/');
  const sub = slash >= 0 ? resource.slice(slash + 1) : undefined;
  return (rule.resources ?? []).some((r) => r === '*' || r === resource || (sub !== undefined && r === `*/${sub}`));
}

export function ruleAllows(rule: PolicyRule, a: ResourceAttributes): boolean {
  if ((rule.nonResourceURLs ?? []).length > 0) return false;
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.apiGroup) || !resourceMatches(rule, a.resource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

function applies(scoped: ScopedRule, a: ResourceAttributes): boolean {
  if (scoped.namespace === undefined) return true;
  return a.namespaced && a.namespace === scoped.namespace;
}

export function rbacAllows(rules: readonly ScopedRule[], a: ResourceAttributes): boolean {
  return rules.some((s) => applies(s, a) && ruleAllows(s.rule, a));
}

/**
 * Whether the rules allow `verb` on the non-resource `path`, as Kubernetes' NonResourceURLMatches:
 * a listed URL matches exactly, `*` matches all, and one ending in `*` matches by prefix. Only a
 * ClusterRoleBinding grants them (a RoleBinding's rules are namespaced).
 */
export function nonResourceAllows(rules: readonly ScopedRule[], verb: string, path: string): boolean {
  return rules.some(
    (s) =>
      s.namespace === undefined &&
      has(s.rule.verbs, verb) &&
      (s.rule.nonResourceURLs ?? []).some(
        (u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))),
      ),
  );
}

/**
 * True when `held` allows every permission `granted` would give in `namespace` (a Role, or a
 * RoleBinding's role, applies there only). The first permission not held is returned in
 * `missing`, for the 403.
 */
export function covers(
  held: readonly ScopedRule[],
  granted: readonly PolicyRule[],
  namespace: string,
  missing: string[] = [],
): boolean {
  for (const rule of granted) {
    if ((rule.nonResourceURLs ?? []).length > 0) continue; // a RoleBinding never grants them
    for (const apiGroup of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs)
          for (const name of (rule.resourceNames ?? []).length > 0 ? (rule.resourceNames as string[]) : [undefined]) {
            const a: ResourceAttributes = { verb, apiGroup, resource, namespace, namespaced: true };
            if (name !== undefined) a.name = name;
            if (!rbacAllows(held, a)) {
              missing.push(
                `{APIGroups:[${JSON.stringify(apiGroup)}], Resources:[${JSON.stringify(resource)}], ${name !== undefined ? `ResourceNames:[${JSON.stringify(name)}], ` : ''}Verbs:[${JSON.stringify(verb)}]}`,
              );
              return false;
            }
          }
  }
  return true;
}
