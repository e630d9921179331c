/**
 * Fields an update may not change, as Kubernetes' update validation has them (each change is one
 * 422 cause naming the field):
 * - Deployment, ReplicaSet and DaemonSet `spec.selector` (apps/v1: the controller's pods were chosen by it);
 * - Job `spec.template`, `spec.selector`, `spec.completions`, `spec.completionMode` (its pods were
 *   made from them);
 * - a Pod's spec, but for the fields Kubernetes lets change: `containers[*].image`,
 *   `initContainers[*].image`, `activeDeadlineSeconds` (set, or lowered), `tolerations`
 *   (additions only). `terminationGracePeriodSeconds` may only go from negative to 1 in
 *   Kubernetes; ferry's schema refuses negative values, so here it never changes;
 * - a Service's `spec.clusterIP` once allocated (ValidateServiceUpdate), but across a change to or
 *   from ExternalName.
 * https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/validation.go (ValidatePodUpdate)
 */
import { forbidden, invalidMessage } from '../causes';
import type { StatusCause } from '../status';
import { isRec, type Rec } from '../tree';

const POD_MUTABLE =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** Deep equality that ignores key order (a PUT body need not list keys as stored). */
export function sameValue(a: unknown, b: unknown): boolean {
  return firstDifference(a, b, '') === undefined;
}

/** The path of the first place `a` and `b` differ, or undefined when they are equal. */
function firstDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (a === b) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return path;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (isRec(a) && isRec(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[k] === undefined && b[k] === undefined) continue;
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return path;
}

function immutable(field: string, detail: string): StatusCause {
  return invalidMessage(field, `Invalid value: field is immutable${detail}`);
}

export function immutableChanges(stored: Rec, next: Rec): StatusCause[] {
  const before = isRec(stored.spec) ? stored.spec : {};
  const after = isRec(next.spec) ? next.spec : {};
  switch (stored.kind) {
    case 'Job':
      return ['template', 'selector', 'completions', 'completionMode']
        .filter((f) => !sameValue(before[f], after[f]))
        .map((f) => immutable(`spec.${f}`, ' (delete the Job and create it again to change it)'));
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet':
      return sameValue(before.selector, after.selector)
        ? []
        : [immutable('spec.selector', ` (delete the ${stored.kind} and create it again to change it)`)];
    case 'Pod':
      return podSpecChanges(before, after);
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      // Kubernetes: a binding's role is its identity; delete and recreate it to bind another.
      return sameValue(stored.roleRef, next.roleRef) ? [] : [immutable('roleRef', ': cannot change roleRef')];
    case 'IngressClass':
      return sameValue(before.controller, after.controller)
        ? []
        : [immutable('spec.controller', ' (delete the IngressClass and create it again to change it)')];
    case 'Service':
      return clusterIPChanges(before, after);
    case 'PriorityClass':
      // Pods resolved their priority from it when created: a new value would not reach them.
      return ['value', 'preemptionPolicy'].filter((f) => !sameValue(stored[f], next[f])).map((f) => immutable(f, ''));
    case 'StatefulSet':
      return statefulSetChanges(before, after);
    case 'PersistentVolumeClaim':
      return claimChanges(before, after);
    case 'PersistentVolume':
      return ['hostPath', 'local', 'nodeAffinity', 'storageClassName']
        .filter((f) => !sameValue(before[f], after[f]))
        .map((f) => immutable(`spec.${f}`, ''));
    case 'StorageClass':
      return ['provisioner', 'parameters', 'reclaimPolicy', 'volumeBindingMode']
        .filter((f) => !sameValue(stored[f], next[f]))
        .map((f) => immutable(f, ''));
    default:
      return [];
  }
}

/** Kubernetes lets a StatefulSet change replicas, ordinals, template, updateStrategy, retention policy and minReadySeconds. */
const STS_MUTABLE = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
  'revisionHistoryLimit',
];

function statefulSetChanges(before: Rec, after: Rec): StatusCause[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)].filter((k) => !STS_MUTABLE.includes(k)));
  return [...keys]
    .filter((k) => !sameValue(before[k], after[k]))
    .map((k) =>
      forbidden(
        `spec.${k}`,
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    );
}

/** A claim's spec is fixed once made; `volumeName` may be set once (binding); a larger request would be an expansion. */
function claimChanges(before: Rec, after: Rec): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (sameValue(before[k], after[k])) continue;
    if (k === 'volumeName' && (before[k] === undefined || before[k] === '')) continue;
    if (k === 'resources')
      causes.push({
        field: 'spec.resources.requests[storage]',
        reason: 'FieldValueNotSupported',
        message: 'ferry does not support volume expansion yet (the local provisioner cannot grow a volume)',
      });
    else
      causes.push(
        forbidden(`spec.${k}`, 'spec is immutable after creation except resources.requests for bound claims'),
      );
  }
  return causes;
}

function podSpecChanges(before: Rec, after: Rec): StatusCause[] {
  const causes: StatusCause[] = [];
  // What may change is copied from `after` onto a copy of `before`; any other difference is refused.
  const allowed = structuredClone(before);
  for (const list of ['containers', 'initContainers']) {
    const was = allowed[list];
    const now = after[list];
    if (!Array.isArray(was) || !Array.isArray(now) || was.length !== now.length) continue;
    was.forEach((c, i) => {
      if (isRec(c) && isRec(now[i]) && now[i].image !== undefined) c.image = now[i].image;
    });
  }
  const wasDeadline = before.activeDeadlineSeconds;
  const nowDeadline = after.activeDeadlineSeconds;
  if (typeof nowDeadline === 'number' && (typeof wasDeadline !== 'number' || nowDeadline <= wasDeadline))
    allowed.activeDeadlineSeconds = nowDeadline;
  else if (nowDeadline !== wasDeadline && wasDeadline !== undefined)
    causes.push(
      invalidMessage(
        'spec.activeDeadlineSeconds',
        'Invalid value: must be less than or equal to the previous value and may not be removed',
      ),
    );
  const wasTolerations = Array.isArray(before.tolerations) ? before.tolerations : [];
  const nowTolerations = Array.isArray(after.tolerations) ? after.tolerations : [];
  if (wasTolerations.every((t) => nowTolerations.some((u) => sameValue(t, u)))) {
    if (after.tolerations === undefined) delete allowed.tolerations;
    else allowed.tolerations = after.tolerations;
  }
  if (causes.length > 0) return causes;
  const d = firstDifference(allowed, after, 'spec');
  return d === undefined ? [] : [{ ...forbidden(d, POD_MUTABLE) }];
}

/**
 * A Service's cluster IP (an address or `None`) stays as allocated, as in Kubernetes, unless the
 * Service becomes ExternalName (which has none) or was one (and gets one now). An update that
 * leaves it out keeps it (functions/node-ports.ts keepAllocated) and so never trips this.
 */
function clusterIPChanges(before: Rec, after: Rec): StatusCause[] {
  if (before.type === 'ExternalName' || after.type === 'ExternalName') return [];
  const was = before.clusterIP;
  if (typeof was !== 'string' || was === '' || sameValue(was, after.clusterIP)) return [];
  return [
    immutable('spec.clusterIP', ` (it is ${JSON.stringify(was)}: delete the Service and create it again to change it)`),
  ];
}
