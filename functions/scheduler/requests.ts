/**
 * What a pod asks of a node: its summed cpu/memory requests (limits when no request is given, as
 * Kubernetes defaults requests to limits) and its host ports. Shared by the snapshot, the
 * allocation records and the filters; its own file so those import it without a circle.
 */
import { bytes, cpuMillis, type Pod } from '../../schemas';

export function podRequests(pod: Pod): { cpu: number; mem: number } {
  let cpu = 0;
  let mem = 0;
  for (const c of pod.spec.containers) {
    cpu += cpuMillis(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu);
    mem += bytes(c.resources?.requests?.memory ?? c.resources?.limits?.memory);
  }
  return { cpu, mem };
}

export function podHostPorts(pod: Pod): string[] {
  const out: string[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${p.protocol ?? 'TCP'}/${p.hostPort}`);
  }
  return out;
}
