/**
 * The Pod Security Standards' checks (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
 * in the words and order of Kubernetes' pod-security-admission library (staging/src/k8s.io/
 * pod-security-admission/policy): each check looks at a pod's metadata and spec and returns what
 * it forbids, or nothing. `baseline` prevents known privilege escalations; `restricted` adds the
 * current hardening practice. The levels are cumulative: restricted runs the baseline checks too.
 */

type Rec = Record<string, unknown>;

export interface PodShape {
  metadata?: { annotations?: Record<string, string> } | undefined;
  spec: Rec;
}

export interface CheckResult {
  /** Kubernetes' reason, e.g. "host namespaces", "hostPath volumes". */
  reason: string;
  /** What in the pod, e.g. `hostNetwork=true`, `volume "root"`. */
  detail: string;
}

export type Check = (pod: PodShape) => CheckResult | undefined;

const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {});
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : []);

interface NamedContainer {
  name: string;
  sc: Rec;
}

function containers(pod: PodShape): NamedContainer[] {
  return ['initContainers', 'containers', 'ephemeralContainers'].flatMap((field) =>
    list(pod.spec[field]).map((c) => ({ name: String(c.name ?? ''), sc: rec(c.securityContext) })),
  );
}

const podSc = (pod: PodShape): Rec => rec(pod.spec.securityContext);
const quoted = (names: string[]) => names.map((n) => JSON.stringify(n)).join(', ');

/** Collects the containers for which `bad` holds and phrases them as Kubernetes does. */
function perContainer(pod: PodShape, reason: string, bad: (sc: Rec) => string | undefined): CheckResult | undefined {
  const hits = new Map<string, string[]>();
  for (const c of containers(pod)) {
    const what = bad(c.sc);
    if (what === undefined) continue;
    hits.set(what, [...(hits.get(what) ?? []), c.name]);
  }
  if (hits.size === 0) return undefined;
  const detail = [...hits]
    .map(([what, names]) => `container${names.length > 1 ? 's' : ''} ${quoted(names)} ${what}`)
    .join('; ');
  return { reason, detail };
}

// ---- baseline ----

const hostProcess: Check = (pod) => {
  const podLevel = rec(podSc(pod).windowsOptions).hostProcess === true;
  const r = perContainer(pod, 'hostProcess', (sc) =>
    rec(sc.windowsOptions).hostProcess === true
      ? 'must not set securityContext.windowsOptions.hostProcess=true'
      : undefined,
  );
  if (podLevel)
    return { reason: 'hostProcess', detail: 'pod must not set securityContext.windowsOptions.hostProcess=true' };
  return r;
};

const hostNamespaces: Check = (pod) => {
  const set = ['hostNetwork', 'hostPID', 'hostIPC'].filter((f) => pod.spec[f] === true);
  return set.length ? { reason: 'host namespaces', detail: set.map((f) => `${f}=true`).join(', ') } : undefined;
};

const privileged: Check = (pod) =>
  perContainer(pod, 'privileged', (sc) =>
    sc.privileged === true ? 'must not set securityContext.privileged=true' : undefined,
  );

/** Capabilities a baseline container may add (the Docker defaults). */
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

const added = (sc: Rec): string[] => {
  const add = rec(sc.capabilities).add;
  return Array.isArray(add) ? add.map(String) : [];
};

const baselineCapabilities: Check = (pod) =>
  perContainer(pod, 'non-default capabilities', (sc) => {
    const extra = added(sc).filter((c) => !BASELINE_CAPABILITIES.has(c));
    return extra.length ? `must not include ${quoted(extra)} in securityContext.capabilities.add` : undefined;
  });

const hostPathVolumes: Check = (pod) => {
  const names = list(pod.spec.volumes)
    .filter((v) => v.hostPath !== undefined)
    .map((v) => String(v.name ?? ''));
  return names.length
    ? { reason: 'hostPath volumes', detail: `volume${names.length > 1 ? 's' : ''} ${quoted(names)}` }
    : undefined;
};

const hostPorts: Check = (pod) => {
  const hits: string[] = [];
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const c of list(pod.spec[field])) {
      const ports = list(c.ports)
        .map((p) => Number(p.hostPort ?? 0))
        .filter((p) => p !== 0);
      if (ports.length)
        hits.push(
          `container ${JSON.stringify(String(c.name ?? ''))} uses hostPort${ports.length > 1 ? 's' : ''} ${ports.join(', ')}`,
        );
    }
  }
  return hits.length ? { reason: 'hostPort', detail: hits.join('; ') } : undefined;
};

const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

const appArmor: Check = (pod) => {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (k.startsWith(APPARMOR_ANNOTATION) && v !== 'runtime/default' && !v.startsWith('localhost/'))
      bad.push(`${k}="${v}"`);
  }
  const okType = (t: unknown) => t === undefined || t === 'RuntimeDefault' || t === 'Localhost';
  if (!okType(rec(podSc(pod).appArmorProfile).type))
    bad.push(`pod appArmorProfile.type="${String(rec(podSc(pod).appArmorProfile).type)}"`);
  for (const c of containers(pod))
    if (!okType(rec(c.sc.appArmorProfile).type))
      bad.push(`container "${c.name}" appArmorProfile.type="${String(rec(c.sc.appArmorProfile).type)}"`);
  return bad.length ? { reason: 'forbidden AppArmor profile', detail: bad.join(', ') } : undefined;
};

const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

const seLinux: Check = (pod) => {
  const bad: string[] = [];
  const look = (who: string, opts: Rec) => {
    if (opts.type !== undefined && !SELINUX_TYPES.has(String(opts.type)))
      bad.push(`${who} seLinuxOptions.type="${String(opts.type)}"`);
    for (const f of ['user', 'role'])
      if (opts[f] !== undefined && opts[f] !== '') bad.push(`${who} seLinuxOptions.${f}="${String(opts[f])}"`);
  };
  look('pod', rec(podSc(pod).seLinuxOptions));
  for (const c of containers(pod)) look(`container "${c.name}"`, rec(c.sc.seLinuxOptions));
  return bad.length ? { reason: 'seLinuxOptions', detail: bad.join(', ') } : undefined;
};

const procMount: Check = (pod) =>
  perContainer(pod, 'procMount', (sc) =>
    sc.procMount !== undefined && sc.procMount !== 'Default'
      ? `must not set securityContext.procMount="${String(sc.procMount)}"`
      : undefined,
  );

const seccompBaseline: Check = (pod) => {
  const bad: string[] = [];
  if (rec(podSc(pod).seccompProfile).type === 'Unconfined')
    bad.push('pod must not set securityContext.seccompProfile.type to "Unconfined"');
  for (const c of containers(pod))
    if (rec(c.sc.seccompProfile).type === 'Unconfined')
      bad.push(`container "${c.name}" must not set securityContext.seccompProfile.type to "Unconfined"`);
  return bad.length ? { reason: 'seccompProfile', detail: bad.join('; ') } : undefined;
};

/** Sysctls namespaced per pod and isolated from the node (Kubernetes 1.30's safe set). */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

const sysctls: Check = (pod) => {
  const bad = list(podSc(pod).sysctls)
    .map((s) => String(s.name ?? ''))
    .filter((n) => !SAFE_SYSCTLS.has(n));
  return bad.length ? { reason: 'forbidden sysctls', detail: bad.join(', ') } : undefined;
};

// ---- restricted ----

const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

const volumeTypes: Check = (pod) => {
  const bad: string[] = [];
  for (const v of list(pod.spec.volumes)) {
    const types = Object.keys(v).filter((k) => k !== 'name' && !RESTRICTED_VOLUME_TYPES.has(k));
    if (types.length)
      bad.push(`volume ${JSON.stringify(String(v.name ?? ''))} uses restricted volume type ${quoted(types)}`);
  }
  return bad.length ? { reason: 'restricted volume types', detail: bad.join('; ') } : undefined;
};

const allowPrivilegeEscalation: Check = (pod) =>
  perContainer(pod, 'allowPrivilegeEscalation != false', (sc) =>
    sc.allowPrivilegeEscalation !== false ? 'must set securityContext.allowPrivilegeEscalation=false' : undefined,
  );

const runAsNonRoot: Check = (pod) => {
  const podLevel = podSc(pod).runAsNonRoot;
  if (podLevel === false)
    return { reason: 'runAsNonRoot != true', detail: 'pod must not set securityContext.runAsNonRoot=false' };
  return perContainer(pod, 'runAsNonRoot != true', (sc) => {
    if (sc.runAsNonRoot === false) return 'must not set securityContext.runAsNonRoot=false';
    if (sc.runAsNonRoot !== true && podLevel !== true)
      return 'must set securityContext.runAsNonRoot=true (or the pod must)';
    return undefined;
  });
};

const runAsUser: Check = (pod) => {
  if (podSc(pod).runAsUser === 0) return { reason: 'runAsUser=0', detail: 'pod must not set runAsUser=0' };
  return perContainer(pod, 'runAsUser=0', (sc) => (sc.runAsUser === 0 ? 'must not set runAsUser=0' : undefined));
};

const seccompRestricted: Check = (pod) => {
  const ok = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
  const podType = rec(podSc(pod).seccompProfile).type;
  if (podType !== undefined && !ok(podType))
    return {
      reason: 'seccompProfile',
      detail: `pod must not set securityContext.seccompProfile.type to "${String(podType)}"`,
    };
  return perContainer(pod, 'seccompProfile', (sc) => {
    const t = rec(sc.seccompProfile).type;
    if (t !== undefined && !ok(t)) return `must not set securityContext.seccompProfile.type to "${String(t)}"`;
    if (t === undefined && podType === undefined)
      return 'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost" (or the pod must)';
    return undefined;
  });
};

const restrictedCapabilities: Check = (pod) =>
  perContainer(pod, 'unrestricted capabilities', (sc) => {
    const drop = rec(sc.capabilities).drop;
    const dropsAll = Array.isArray(drop) && drop.map(String).includes('ALL');
    const extra = added(sc).filter((c) => c !== 'NET_BIND_SERVICE');
    const problems: string[] = [];
    if (!dropsAll) problems.push('must set securityContext.capabilities.drop=["ALL"]');
    if (extra.length) problems.push(`must not include ${quoted(extra)} in securityContext.capabilities.add`);
    return problems.length ? problems.join(' and ') : undefined;
  });

export const BASELINE_CHECKS: readonly Check[] = [
  hostProcess,
  hostNamespaces,
  privileged,
  baselineCapabilities,
  hostPathVolumes,
  hostPorts,
  appArmor,
  seLinux,
  procMount,
  seccompBaseline,
  sysctls,
];

/** Restricted's seccomp check supersedes baseline's, as in Kubernetes (both would name the same field). */
export const RESTRICTED_CHECKS: readonly Check[] = [
  ...BASELINE_CHECKS.filter((c) => c !== seccompBaseline),
  volumeTypes,
  allowPrivilegeEscalation,
  runAsNonRoot,
  runAsUser,
  seccompRestricted,
  restrictedCapabilities,
];
