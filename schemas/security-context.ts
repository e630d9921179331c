/**
 * core/v1 SecurityContext (a container's) and PodSecurityContext, field for field as Kubernetes
 * 1.30 has them, so a made-up key (`securityContext: {runAsRoot: true}`) is refused like an
 * unknown field anywhere else instead of being stored and ignored. Which fields the agent acts on
 * is the Pod's business (schemas/pod.ts, agent/pods/); this file only fixes the shape.
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#security-context
 */
import { Type } from 'typebox';
import { Bool, Enum, Int64, Obj, Opt, Str } from './dsl';

const SELinuxOptions = Obj({ user: Opt(Str()), role: Opt(Str()), type: Opt(Str()), level: Opt(Str()) });
const WindowsOptions = Obj({
  gmsaCredentialSpecName: Opt(Str()),
  gmsaCredentialSpec: Opt(Str()),
  runAsUserName: Opt(Str()),
  hostProcess: Opt(Bool()),
});
const Profile = (types: readonly [string, ...string[]]) => Obj({ type: Enum(types), localhostProfile: Opt(Str()) });
const Seccomp = Profile(['RuntimeDefault', 'Unconfined', 'Localhost'] as const);
const AppArmor = Profile(['RuntimeDefault', 'Unconfined', 'Localhost'] as const);
const Id = () => Int64({ minimum: 0 });

export const SecurityContextSchema = Obj({
  capabilities: Opt(Obj({ add: Opt(Type.Array(Str())), drop: Opt(Type.Array(Str())) })),
  privileged: Opt(Bool()),
  seLinuxOptions: Opt(SELinuxOptions),
  windowsOptions: Opt(WindowsOptions),
  runAsUser: Opt(Id()),
  runAsGroup: Opt(Id()),
  runAsNonRoot: Opt(Bool()),
  readOnlyRootFilesystem: Opt(Bool()),
  allowPrivilegeEscalation: Opt(Bool()),
  procMount: Opt(Enum(['Default', 'Unmasked'] as const)),
  seccompProfile: Opt(Seccomp),
  appArmorProfile: Opt(AppArmor),
});

export const PodSecurityContextSchema = Obj({
  seLinuxOptions: Opt(SELinuxOptions),
  windowsOptions: Opt(WindowsOptions),
  runAsUser: Opt(Id()),
  runAsGroup: Opt(Id()),
  runAsNonRoot: Opt(Bool()),
  supplementalGroups: Opt(Type.Array(Id())),
  supplementalGroupsPolicy: Opt(Enum(['Merge', 'Strict'] as const)),
  fsGroup: Opt(Id()),
  fsGroupChangePolicy: Opt(Enum(['OnRootMismatch', 'Always'] as const)),
  sysctls: Opt(Type.Array(Obj({ name: Str(), value: Str() }))),
  seccompProfile: Opt(Seccomp),
  appArmorProfile: Opt(AppArmor),
  seLinuxChangePolicy: Opt(Str()),
});
