/**
 * securityContext, pod and container level, as the runtime applies it: the container's value wins
 * over the pod's (runAsUser, runAsGroup, runAsNonRoot, seccompProfile, appArmorProfile); the pod's
 * supplementalGroups and fsGroup become extra groups; allowPrivilegeEscalation false is
 * no-new-privileges; namespaced `net.*` sysctls go to the sandbox, which owns the network
 * namespace, the others to each container. runAsNonRoot is checked against the image's user as
 * the kubelet does (pkg/kubelet/kuberuntime/security_context_others.go), with its messages.
 * https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
 */
import type { Container, Pod } from '../../schemas/pod';
import type { SecurityConfig } from '../runtime/types';
import { ConfigNotReadyError } from './config-sources';

export function sandboxSysctls(pod: Pod): Record<string, string> {
  return Object.fromEntries(
    (pod.spec.securityContext?.sysctls ?? []).filter((s) => s.name.startsWith('net.')).map((s) => [s.name, s.value]),
  );
}

/**
 * The container's SecurityConfig; `imageUser` is the user the image declares (`''` for root).
 * Throws ConfigNotReadyError (CreateContainerConfigError) when runAsNonRoot cannot hold.
 */
export function securityConfig(pod: Pod, spec: Container, imageUser: string): SecurityConfig {
  const podSc = pod.spec.securityContext ?? {};
  const sc = spec.securityContext ?? {};
  const uid = sc.runAsUser ?? podSc.runAsUser;
  const gid = sc.runAsGroup ?? podSc.runAsGroup;
  if (sc.runAsNonRoot ?? podSc.runAsNonRoot) checkNonRoot(uid, imageUser);
  const user =
    uid !== undefined
      ? `${uid}${gid !== undefined ? `:${gid}` : ''}`
      : gid !== undefined
        ? `${imageUser.split(':')[0] || '0'}:${gid}`
        : undefined;
  const groups = [...(podSc.supplementalGroups ?? []), ...(podSc.fsGroup !== undefined ? [podSc.fsGroup] : [])];
  const securityOpt: string[] = [];
  if (sc.allowPrivilegeEscalation === false) securityOpt.push('no-new-privileges');
  if ((sc.seccompProfile ?? podSc.seccompProfile)?.type === 'Unconfined') securityOpt.push('seccomp=unconfined');
  if ((sc.appArmorProfile ?? podSc.appArmorProfile)?.type === 'Unconfined') securityOpt.push('apparmor=unconfined');
  const sysctls = (podSc.sysctls ?? []).filter((s) => !s.name.startsWith('net.'));
  return {
    ...(user !== undefined ? { user } : {}),
    ...(groups.length ? { groupAdd: [...new Set(groups)].map(String) } : {}),
    ...(sc.readOnlyRootFilesystem ? { readOnlyRootfs: true } : {}),
    ...(securityOpt.length ? { securityOpt } : {}),
    ...(sc.capabilities?.add?.length ? { capAdd: sc.capabilities.add } : {}),
    ...(sc.capabilities?.drop?.length ? { capDrop: sc.capabilities.drop } : {}),
    ...(sc.privileged ? { privileged: true } : {}),
    ...(sysctls.length ? { sysctls: Object.fromEntries(sysctls.map((s) => [s.name, s.value])) } : {}),
  };
}

function checkNonRoot(uid: number | undefined, imageUser: string): void {
  if (uid !== undefined) {
    if (uid === 0) throw new ConfigNotReadyError("container's runAsUser breaks non-root policy");
    return;
  }
  const user = imageUser.split(':')[0] ?? '';
  if (user === '' || user === 'root' || user === '0')
    throw new ConfigNotReadyError('container has runAsNonRoot and image will run as root');
  if (!/^\d+$/.test(user))
    throw new ConfigNotReadyError(
      `container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root`,
    );
}
