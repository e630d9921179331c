/**
 * Feasibility: why a node cannot take a pod. The reason strings are the ones kube-scheduler
 * prints, so `0/3 nodes are available: 2 Insufficient cpu` reads the same.
 */
import type { Pod } from '../../schemas';
import type { PodPlacement } from './affinity';
import { insufficient, podHostPorts, podOtherRequests, podRequests } from './requests';
import type { NodeInfo } from './snapshot';
import { tolerates } from './tolerations';
import type { PodVolumes } from './volumes';

export interface PodContext {
  pod: Pod;
  cpu: number;
  mem: number;
  hostPorts: string[];
  /** Requests of resources besides cpu and memory, when the pod has any. */
  other?: Record<string, number>;
  /** Node affinity, pod (anti-)affinity and spreading, when the pod or a placed pod has any. */
  placement?: PodPlacement;
  /** The pod's PersistentVolumeClaims, when it has any (volumes.ts). */
  volumes?: PodVolumes;
}

const UNSCHEDULABLE_TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' } as const;

export function podContext(pod: Pod): PodContext {
  const ctx: PodContext = { pod, ...podRequests(pod), hostPorts: podHostPorts(pod) };
  const other = podOtherRequests(pod);
  if (other) ctx.other = other;
  return ctx;
}

/**
 * The first check `node` fails for the pod, or undefined when the pod fits. Order (Nomad's
 * feasible/stack.go reasoning: cheap and most selective first): readiness and cordon are one field
 * each and rule out whole nodes; selector and taints compare a few labels; ports, pod count and
 * resources need the accumulated usage, and resources fail most often on a busy cluster, so they
 * come last where their reason is the one reported. One plain function rather than a list of
 * filter objects: a pass runs it up to a million times.
 */
export function firstFailure(n: NodeInfo, ctx: PodContext): string | undefined {
  if (!n.ready) return 'node(s) were not ready';
  const { pod } = ctx;
  // kube-scheduler's NodeUnschedulable: a pod that tolerates the unschedulable taint (DaemonSet
  // pods do) may still go to a cordoned node.
  if (n.node.spec?.unschedulable && !(pod.spec.tolerations ?? []).some((tol) => tolerates(tol, UNSCHEDULABLE_TAINT)))
    return 'node(s) were unschedulable';
  if (pod.spec.nodeSelector) {
    const labels = n.node.metadata.labels ?? {};
    for (const [k, v] of Object.entries(pod.spec.nodeSelector))
      if (labels[k] !== v) return "node(s) didn't match Pod's node affinity/selector";
  }
  for (const t of n.taints) {
    if (!(pod.spec.tolerations ?? []).some((tol) => tolerates(tol, t)))
      return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
  }
  if (ctx.placement) {
    const reason = ctx.placement.failure(n);
    if (reason) return reason;
  }
  // After affinity (kube-scheduler runs VolumeBinding after NodeAffinity): a bound claim pins one node.
  if (ctx.volumes) {
    const reason = ctx.volumes.failure(n.node);
    if (reason) return reason;
  }
  if (ctx.hostPorts.length > 0 && ctx.hostPorts.some((p) => n.hostPorts.has(p)))
    return "node(s) didn't have free ports for the requested pod ports";
  if (n.usedPods + 1 > n.allocPods) return 'Too many pods';
  if (ctx.cpu > 0 && n.usedCpu + ctx.cpu > n.allocCpu) return 'Insufficient cpu';
  if (ctx.mem > 0 && n.usedMem + ctx.mem > n.allocMem) return 'Insufficient memory';
  if (ctx.other) {
    const short = insufficient(ctx.other, n.usedOther, n.allocOther);
    if (short) return `Insufficient ${short}`;
  }
  return undefined;
}

export { tolerates } from './tolerations';
