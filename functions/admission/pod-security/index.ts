/**
 * Pod Security Admission for one object: measures a Pod, or a workload's pod template, against
 * its namespace's levels. enforce refuses with Kubernetes' 403 (`pods "x" is forbidden: violates
 * PodSecurity "baseline:latest": ...`); warn returns the text Kubernetes sends as a `Warning:`
 * header (`would violate PodSecurity ...`); audit logs it.
 *
 * ferry enforces on pod templates too (Deployment, ReplicaSet, Job, CronJob), where Kubernetes only
 * warns and audits and enforces when the controller creates the pods: a CI pipeline applying a
 * Deployment learns at apply time, from the apply's exit status, instead of finding a ReplicaSet
 * that never gets pods. The controllers' pod creates are checked as well (admitControllerPod).
 */
import { kindInfo } from '../../../schemas/kinds';
import type { Deps } from '../../deps';
import { ForbiddenError } from '../../errors';
import type { Obj } from '../../store/types';
import { describeViolations, evaluate, type NamespacePolicy, podOf, policyOf } from './policy';

export async function namespacePolicy(deps: Deps, namespace: string): Promise<NamespacePolicy> {
  const ns = await deps.store.get({ kind: 'Namespace', name: namespace });
  return policyOf(ns?.metadata.labels);
}

/**
 * Throws ForbiddenError when `obj` runs a pod its namespace's enforce level forbids; returns the
 * warn level's warnings. `policy` may be given when the namespace is not stored yet (an apply
 * bundle that creates it). Objects that run no pod pass with no warnings.
 */
export async function admitPodSecurity(deps: Deps, obj: Obj, policy?: NamespacePolicy): Promise<string[]> {
  const found = podOf(obj);
  if (!found || obj.metadata.namespace === undefined) return [];
  const p = policy ?? (await namespacePolicy(deps, obj.metadata.namespace));
  const info = kindInfo(obj.kind);
  const resource = info ? (info.group ? `${info.plural}.${info.group}` : info.plural) : obj.kind.toLowerCase();
  const where = found.path ? `${found.path} ` : '';
  const enforced = evaluate(p.enforce?.level ?? 'baseline', found.pod);
  if (p.enforce && enforced.length > 0) {
    throw new ForbiddenError(
      `${resource} "${obj.metadata.name}" is forbidden: ${where}violates ${describeViolations(p.enforce, enforced)}`,
    );
  }
  if (p.audit) {
    const audited = evaluate(p.audit.level, found.pod);
    if (audited.length > 0)
      deps.log.warn('pod security audit', {
        namespace: obj.metadata.namespace,
        object: `${resource}/${obj.metadata.name}`,
        violation: `${where}would violate ${describeViolations(p.audit, audited)}`,
      });
  }
  if (!p.warn) return [];
  const warned = evaluate(p.warn.level, found.pod);
  return warned.length > 0 ? [`${where}would violate ${describeViolations(p.warn, warned)}`] : [];
}
