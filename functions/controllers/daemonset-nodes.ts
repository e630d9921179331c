/**
 * Which nodes a DaemonSet runs on, and the pod it puts there, as Kubernetes' daemon controller
 * (pkg/controller/daemon/daemon_controller.go NodeShouldRunDaemonPod, util/daemonset_util.go):
 *
 * - a node should run the pod when the template's nodeSelector and required node affinity hold
 *   on it and the pod (with the tolerations below) tolerates its NoSchedule and NoExecute taints;
 *   a pod already there may go on running unless a NoExecute taint is not tolerated;
 * - every daemon pod tolerates `not-ready` and `unreachable` (NoExecute) and the pressure and
 *   `unschedulable` taints (NoSchedule), so a cordoned node keeps (and gets) its daemon pod;
 * - the pod is not bound here: its required node affinity is replaced by one term,
 *   `metadata.name In [node]` (matchFields), and the default scheduler binds it, counting it in
 *   the node's allocation like any pod.
 */
import type { DaemonSet, Node, Pod, Taint, Toleration } from '../../schemas';
import { nodeAffinityHolds } from '../scheduler/affinity';
import { tolerates } from '../scheduler/tolerations';
import { podFromTemplate } from './util';

/** Kubernetes' label for the template revision a daemon pod was made from. */
export const REVISION_HASH_LABEL = 'controller-revision-hash';

const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

/** The template's tolerations plus the daemon ones it does not already have (same key and effect). */
export function daemonTolerations(own: readonly Toleration[] | undefined): Toleration[] {
  const list = [...(own ?? [])];
  for (const t of DAEMON_TOLERATIONS)
    if (!list.some((o) => o.key === t.key && o.effect === t.effect)) list.push({ ...t });
  return list;
}

export interface NodeVerdict {
  /** A daemon pod should be made here if there is none. */
  shouldRun: boolean;
  /** A daemon pod already here may stay. */
  shouldContinueRunning: boolean;
}

export function nodeVerdict(ds: DaemonSet, node: Node): NodeVerdict {
  const probe = { spec: { ...ds.spec.template.spec, nodeName: node.metadata.name } } as Pod;
  const fitsAffinity = nodeAffinityHolds(probe, node);
  const tolerations = daemonTolerations(ds.spec.template.spec.tolerations);
  const untolerated = (effect: string) =>
    (node.spec?.taints ?? []).some((t: Taint) => t.effect === effect && !tolerations.some((tol) => tolerates(tol, t)));
  const noExecute = untolerated('NoExecute');
  return {
    shouldRun: fitsAffinity && !noExecute && !untolerated('NoSchedule'),
    shouldContinueRunning: fitsAffinity && !noExecute,
  };
}

/** The daemon pod for one node, pending, for the scheduler to bind there. */
export function daemonPod(ds: DaemonSet, nodeName: string, hash: string): Pod {
  const pod = podFromTemplate(ds, ds.spec.template, { [REVISION_HASH_LABEL]: hash });
  const affinity = pod.spec.affinity ?? {};
  pod.spec.affinity = {
    ...affinity,
    nodeAffinity: {
      ...affinity.nodeAffinity,
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
      },
    },
  };
  pod.spec.tolerations = daemonTolerations(pod.spec.tolerations);
  return pod;
}

/** The node a daemon pod is for: where it is bound, else the node its affinity names. */
export function targetNode(pod: Pod): string | undefined {
  if (pod.spec.nodeName) return pod.spec.nodeName;
  const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  for (const term of terms ?? []) {
    for (const f of term.matchFields ?? [])
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
  }
  return undefined;
}
