/**
 * The pod's resolver files, as the kubelet gives them: its resolv.conf (agent/dns/pod-config.ts
 * decides the contents) written once when the sandbox is made, in the pod's state directory, and
 * bind-mounted at /etc/resolv.conf in each of its containers, so all of them (and their restarts)
 * see one file. Written rather than left to Docker: on a user-defined network Docker puts its own
 * 127.0.0.11 resolver with `ndots:0` there, which knows nothing of the cluster.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Pod } from '../../schemas/pod';
import { type NodeDnsFacts, podResolvConf } from '../dns/pod-config';
import { renderResolvConf } from '../dns/resolv-conf';
import type { Mount } from '../runtime/types';

export function resolvConfPath(stateDir: string, podUid: string): string {
  return join(stateDir, 'pods', podUid, 'resolv.conf');
}

export function writePodResolvConf(path: string, pod: Pod, node: NodeDnsFacts): void {
  const conf = podResolvConf(
    {
      namespace: pod.metadata.namespace as string,
      ...(pod.spec.dnsPolicy ? { dnsPolicy: pod.spec.dnsPolicy } : {}),
      ...(pod.spec.dnsConfig ? { dnsConfig: pod.spec.dnsConfig } : {}),
    },
    node,
  );
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `# Kubernetes-managed resolv.conf (ferry).\n${renderResolvConf(conf)}`, { mode: 0o644 });
}

/** The mount of the pod's resolv.conf, unless there is none or the container mounts that path itself. */
export function resolvConfMount(path: string, mounts: readonly Mount[]): Mount | undefined {
  if (mounts.some((m) => m.mountPath === '/etc/resolv.conf') || !existsSync(path)) return undefined;
  return { kind: 'bind', hostPath: path, mountPath: '/etc/resolv.conf', readOnly: false };
}
