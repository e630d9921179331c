/**
 * Feasibility checks: `(node, pod, ctx) => reason | undefined`. The reason strings are the ones
 * kube-scheduler prints, so `0/3 nodes are available: 2 Insufficient cpu` reads the same.
 */
import type { Pod, Taint, Toleration } from '../../schemas';
import { type NodeInfo, podHostPorts, podRequests } from './snapshot';

export interface PodContext {
  pod: Pod;
  cpu: number;
  mem: number;
  hostPorts: string[];
}

export type Filter = (node: NodeInfo, ctx: PodContext) => string | undefined;

export function podContext(pod: Pod): PodContext {
  return { pod, ...podRequests(pod), hostPorts: podHostPorts(pod) };
}

export const nodeReady: Filter = (n) => (n.ready ? undefined : 'node(s) were not ready');

export const nodeSchedulable: Filter = (n) => (n.node.spec?.unschedulable ? 'node(s) were unschedulable' : undefined);

export const nodeSelector: Filter = (n, { pod }) => {
  const sel = pod.spec.nodeSelector;
  if (!sel) return undefined;
  const labels = n.node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(sel))
    if (labels[k] !== v) return "node(s) didn't match Pod's node affinity/selector";
  return undefined;
};

export const taints: Filter = (n, { pod }) => {
  for (const t of n.node.spec?.taints ?? []) {
    if (t.effect === 'PreferNoSchedule') continue;
    if (!(pod.spec.tolerations ?? []).some((tol) => tolerates(tol, t))) {
      return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
    }
  }
  return undefined;
};

export function tolerates(tol: Toleration, taint: Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (tol.operator === 'Exists') return !tol.key || tol.key === taint.key;
  return tol.key === taint.key && (tol.value ?? '') === (taint.value ?? '');
}

export const hostPorts: Filter = (n, ctx) =>
  ctx.hostPorts.some((p) => n.hostPorts.has(p))
    ? "node(s) didn't have free ports for the requested pod ports"
    : undefined;

export const podCount: Filter = (n) => (n.usedPods + 1 > n.allocPods ? 'Too many pods' : undefined);

export const cpu: Filter = (n, ctx) =>
  ctx.cpu > 0 && n.usedCpu + ctx.cpu > n.allocCpu ? 'Insufficient cpu' : undefined;

export const memory: Filter = (n, ctx) =>
  ctx.mem > 0 && n.usedMem + ctx.mem > n.allocMem ? 'Insufficient memory' : undefined;
