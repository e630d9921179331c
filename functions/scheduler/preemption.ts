/**
 * Preemption, after kube-scheduler's DefaultPreemption (its PostFilter): when a pod fits no node,
 * find a node where deleting lower-priority pods would make room, delete as few of them as
 * possible (all lower-priority pods are taken off, then the highest-priority ones given back while
 * the pod still fits: kube-scheduler's "reprieve"), and let the pod be placed once they are gone.
 * A pod with `preemptionPolicy: Never` never preempts; pods already terminating are not victims
 * (their room is coming). Among candidate nodes: the fewest victims, then the lowest highest
 * victim priority. Victims go gracefully (their grace period), so the preemptor binds on a later
 * pass; the queue's priority order keeps lower-priority pending pods from taking the room first.
 * Deviation: PodDisruptionBudgets are not consulted (ferry has none yet).
 * https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/#preemption
 */
import type { Pod } from '../../schemas';
import { firstFailure, type PodContext } from './filters';
import { podHostPorts, podOtherRequests, podRequests } from './requests';
import type { NodeInfo } from './snapshot';

export interface Preemption {
  node: NodeInfo;
  victims: Pod[];
}

const priorityOf = (p: Pod) => p.spec.priority ?? 0;

/** The node and victims that make room for `ctx.pod`, or undefined when preemption cannot. */
export function choosePreemption(
  ctx: PodContext,
  nodes: NodeInfo[],
  podsOn: (node: string) => Pod[],
): Preemption | undefined {
  if (ctx.pod.spec.preemptionPolicy === 'Never') return undefined;
  const priority = priorityOf(ctx.pod);
  let best: Preemption | undefined;
  for (const n of nodes) {
    if (!n.ready || n.node.spec?.unschedulable) continue;
    const lower = podsOn(n.name)
      .filter((p) => priorityOf(p) < priority && !p.metadata.deletionTimestamp)
      .sort((a, b) => priorityOf(a) - priorityOf(b));
    if (lower.length === 0) continue;
    let trial = without(n, lower);
    if (firstFailure(trial, ctx)) continue;
    const victims: Pod[] = [];
    for (const p of [...lower].reverse()) {
      const back = withPod(trial, p);
      if (firstFailure(back, ctx)) victims.push(p);
      else trial = back;
    }
    if (!best || better(victims, best.victims)) best = { node: n, victims };
  }
  return best;
}

function better(a: Pod[], b: Pod[]): boolean {
  if (a.length !== b.length) return a.length < b.length;
  const top = (list: Pod[]) => Math.max(...list.map(priorityOf));
  return top(a) < top(b);
}

/** `n` as it would be with `pods` gone: a copy, the snapshot is left alone. */
function without(n: NodeInfo, pods: Pod[]): NodeInfo {
  let out = n;
  for (const p of pods) out = adjust(out, p, -1);
  return out;
}

function withPod(n: NodeInfo, p: Pod): NodeInfo {
  return adjust(n, p, 1);
}

function adjust(n: NodeInfo, p: Pod, sign: 1 | -1): NodeInfo {
  const { cpu, mem } = podRequests(p);
  const usedOther = { ...n.usedOther };
  for (const [name, q] of Object.entries(podOtherRequests(p) ?? {}))
    usedOther[name] = (usedOther[name] ?? 0) + sign * q;
  const hostPorts = new Set(n.hostPorts);
  for (const hp of podHostPorts(p)) sign > 0 ? hostPorts.add(hp) : hostPorts.delete(hp);
  return {
    ...n,
    usedCpu: n.usedCpu + sign * cpu,
    usedMem: n.usedMem + sign * mem,
    usedPods: n.usedPods + sign,
    usedOther,
    hostPorts,
  };
}
