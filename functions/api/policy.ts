/**
 * The policy half of admission, after defaults and validation and before the store: who may set
 * what (pod-security labels on Namespaces, `spec.nodeName`, RBAC objects: rbac-escalation.ts),
 * the pod's ServiceAccount, Pod Security levels, LimitRange
 * defaults and bounds, and the shape of ResourceQuota/LimitRange objects. Every write path of the
 * API calls `admitPolicy` (create, update, patch, apply); ResourceQuota is checked separately,
 * just before the store write (`checkQuota`), so dry runs reserve nothing. Returns the warnings
 * to send as `Warning:` headers.
 */
import { admitPodSecurity, admitServiceAccount, applyLimitRanges, resolvePodPriority } from '../admission';
import { limitRangeProblems } from '../admission/limit-range';
import { labelProblems, type NamespacePolicy, PSA_LABEL_PREFIX, podOf } from '../admission/pod-security/policy';
import { quotaProblems } from '../admission/quota/validate';
import { ForbiddenError, InvalidError, type StatusCause } from '../errors';
import type { Obj } from '../store/types';
import type { Principal } from './auth';
import { checkRbacWrite, RBAC_WRITE_KINDS } from './rbac-escalation';
import type { ApiDeps } from './types';

export interface PolicyOptions {
  /** The namespace's policy when the namespace is not stored yet (apply creates it in the same bundle). */
  policy?: NamespacePolicy;
  /** apply: the bundle's objects, which the checks find as if stored (a pod's ServiceAccount, a binding's Role). */
  bundled?: readonly Obj[];
}

export async function admitPolicy(
  deps: ApiDeps,
  principal: Principal,
  next: Obj,
  stored: Obj | undefined,
  options: PolicyOptions = {},
): Promise<string[]> {
  if (next.kind === 'Namespace') checkNamespaceLabels(principal, next, stored);
  if (next.kind === 'ResourceQuota') invalidIf(next, quotaProblems(next));
  if (next.kind === 'LimitRange') invalidIf(next, limitRangeProblems(next));
  if (RBAC_WRITE_KINDS.has(next.kind)) await checkRbacWrite(deps, principal, next, options.bundled);
  const runs = podOf(next);
  if (!runs) return [];
  checkNodeName(principal, next, runs.path, stored);
  if (next.kind === 'Pod' && !stored) {
    await admitServiceAccount(deps, next, options.bundled);
    await resolvePodPriority(deps, next);
    await applyLimitRanges(deps, next);
  }
  // As Kubernetes: an update that leaves the pod (template) as it was is not measured again, so a
  // namespace tightened later does not block scaling or relabelling what already runs.
  if (stored && JSON.stringify(podOf(stored)?.pod.spec) === JSON.stringify(runs.pod.spec)) return [];
  return admitPodSecurity(deps, next, options.policy);
}

/** `Warning` header values (RFC 7234 `299 - "text"`), as kube-apiserver sends admission warnings. */
export function warningHeaders(warnings: string[]): Record<string, string> {
  if (warnings.length === 0) return {};
  const quote = (w: string) => `299 - "${w.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ')}"`;
  return { warning: [...new Set(warnings)].map(quote).join(', ') };
}

/** Pod-security labels are the admin's: a deployer may not loosen (or tighten) its own namespace. */
function checkNamespaceLabels(principal: Principal, next: Obj, stored: Obj | undefined): void {
  invalidIf(next, labelProblems(next.metadata.labels));
  if (principal.role === 'admin') return;
  const psa = (o: Obj | undefined) =>
    JSON.stringify(
      Object.entries(o?.metadata.labels ?? {})
        .filter(([k]) => k.startsWith(PSA_LABEL_PREFIX))
        .sort(),
    );
  if (psa(next) !== psa(stored)) {
    throw new ForbiddenError(
      `namespaces "${next.metadata.name}" is forbidden: only an admin may set or change ${PSA_LABEL_PREFIX}* labels`,
    );
  }
}

/**
 * A pod names its node only through the scheduler (or an admin): `spec.nodeName` set by anyone
 * else would skip every scheduling check (taints, selectors, capacity) and put the pod on a node
 * of the caller's choosing. Kubernetes allows it to anyone who may create pods; ferry's tenants
 * share nodes, so it is stricter.
 */
function checkNodeName(principal: Principal, next: Obj, path: string, stored: Obj | undefined): void {
  if (principal.role === 'admin') return;
  const nodeOf = (o: Obj | undefined) => {
    if (!o) return undefined;
    const found = podOf(o);
    return (found?.pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
  };
  const wanted = nodeOf(next);
  if (wanted === undefined || wanted === '' || wanted === nodeOf(stored)) return;
  const field = path ? `${path}.spec.nodeName` : 'spec.nodeName';
  throw new ForbiddenError(
    `${next.kind.toLowerCase()} "${next.metadata.name}" is forbidden: ${field}: only an admin may bind a pod to a node; leave it empty and use nodeSelector or affinity, so the scheduler places the pod`,
  );
}

function invalidIf(obj: Obj, causes: StatusCause[]): void {
  if (causes.length > 0) throw new InvalidError(obj.kind, obj.metadata.name, causes);
}
