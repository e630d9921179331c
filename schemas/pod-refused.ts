/**
 * The one table of Pod fields ferry accepts in the schema (they are valid Kubernetes) but cannot
 * honour yet: each is refused with a 422 naming the field and saying "ferry does not support X
 * yet", so nothing is stored and ignored. Remove a row when the agent implements the field (and
 * test it there). A row matches a path under the PodSpec: `[]` walks every element of a list;
 * `when` narrows it to the values ferry cannot honour (absent means any value but empty/false).
 */
import type { StatusCause } from './status';

interface Refused {
  path: string;
  what: string;
  /** `parent` is the object holding the field (e.g. the emptyDir of a sizeLimit). */
  when?: (value: unknown, parent: Record<string, unknown>) => boolean;
}

const C = ['containers[]', 'initContainers[]'];
const forContainers = (rest: string, what: string, when?: Refused['when']): Refused[] =>
  C.map((c) => ({ path: `${c}.${rest}`, what, ...(when ? { when } : {}) }));
const not =
  (...allowed: unknown[]) =>
  (v: unknown) =>
    !allowed.includes(v);
/** What the agent's downward API resolves (agent/pods/env.ts). */
const FIELD_PATHS =
  /^(metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]|spec\.(nodeName|serviceAccountName)|status\.(hostIP|podIP|podIPs|hostIPs))$/;

/** What a downwardAPI volume file can hold (agent/pods/volume-files.ts): pod metadata only, as in Kubernetes. */
const VOLUME_FIELD_PATHS = /^metadata\.(name|namespace|uid|labels|annotations|(labels|annotations)\['[^']+'\])$/;

export const REFUSED_POD_FIELDS: readonly Refused[] = [
  { path: 'volumes[].ephemeral', what: 'ephemeral volumes' },
  { path: 'volumes[].csi', what: 'CSI volumes' },
  { path: 'volumes[].nfs', what: 'NFS volumes' },
  { path: 'volumes[].iscsi', what: 'iSCSI volumes' },
  { path: 'volumes[].image', what: 'image volumes' },
  {
    path: 'volumes[].downwardAPI.items[].fieldRef.fieldPath',
    what: 'this downward API fieldPath in a volume',
    when: (v) => typeof v === 'string' && !VOLUME_FIELD_PATHS.test(v),
  },
  {
    path: 'volumes[].projected.sources[].downwardAPI.items[].fieldRef.fieldPath',
    what: 'this downward API fieldPath in a volume',
    when: (v) => typeof v === 'string' && !VOLUME_FIELD_PATHS.test(v),
  },
  { path: 'volumes[].projected.sources[].clusterTrustBundle', what: 'clusterTrustBundle projections' },
  { path: 'volumes[].projected.sources[].podCertificate', what: 'podCertificate projections' },
  { path: 'volumes[].emptyDir.medium', what: 'emptyDir medium other than Memory', when: not('', 'Memory') },
  {
    path: 'volumes[].hostPath.type',
    what: 'hostPath types other than DirectoryOrCreate',
    when: not('', 'DirectoryOrCreate'),
  },
  { path: 'ephemeralContainers', what: 'ephemeral containers' },
  { path: 'runtimeClassName', what: 'runtimeClassName' },
  { path: 'hostNetwork', what: 'hostNetwork', when: (v) => v === true },
  { path: 'hostPID', what: 'hostPID', when: (v) => v === true },
  { path: 'hostIPC', what: 'hostIPC', when: (v) => v === true },
  { path: 'hostUsers', what: 'hostUsers: false (user namespaces)', when: (v) => v === false },
  { path: 'setHostnameAsFQDN', what: 'setHostnameAsFQDN', when: (v) => v === true },
  { path: 'os.name', what: 'Pods for an OS other than linux', when: not('linux') },
  { path: 'overhead', what: 'pod overhead' },
  { path: 'resources', what: 'pod-level resources' },
  { path: 'readinessGates', what: 'readinessGates' },
  { path: 'resourceClaims', what: 'dynamic resource claims' },
  { path: 'schedulingGates', what: 'schedulingGates' },
  { path: 'securityContext.seLinuxOptions', what: 'SELinux options' },
  { path: 'securityContext.seLinuxChangePolicy', what: 'seLinuxChangePolicy' },
  { path: 'securityContext.windowsOptions', what: 'Windows options' },
  { path: 'securityContext.supplementalGroupsPolicy', what: 'supplementalGroupsPolicy', when: not('Merge') },
  { path: 'securityContext.seccompProfile.type', what: 'Localhost seccomp profiles', when: (v) => v === 'Localhost' },
  {
    path: 'securityContext.appArmorProfile.type',
    what: 'Localhost AppArmor profiles',
    when: (v) => v === 'Localhost',
  },
  ...forContainers('securityContext.seLinuxOptions', 'SELinux options'),
  ...forContainers('securityContext.windowsOptions', 'Windows options'),
  ...forContainers('securityContext.procMount', 'procMount other than Default', not('Default')),
  ...forContainers('securityContext.seccompProfile.type', 'Localhost seccomp profiles', (v) => v === 'Localhost'),
  ...forContainers('securityContext.appArmorProfile.type', 'Localhost AppArmor profiles', (v) => v === 'Localhost'),
  ...forContainers('volumeDevices', 'raw block volumeDevices'),
  ...forContainers('resizePolicy', 'in-place resize (resizePolicy)'),
  ...forContainers('stdinOnce', 'stdinOnce', (v) => v === true),
  ...forContainers('volumeMounts[].mountPropagation', 'mountPropagation other than None', not('None')),
  ...forContainers('volumeMounts[].recursiveReadOnly', 'recursiveReadOnly', not('Disabled')),
  ...forContainers(
    'env[].valueFrom.fieldRef.fieldPath',
    'this downward API fieldPath',
    (v) => typeof v === 'string' && !FIELD_PATHS.test(v),
  ),
];

/** subPath into a `medium: Memory` emptyDir: the engine's volume mounts have no sub-path (API 1.41). */
function memorySubPaths(spec: unknown, at: string): StatusCause[] {
  const s = spec as { volumes?: { name?: string; emptyDir?: { medium?: string } }[] } & Record<string, unknown>;
  const memory = new Set(
    (Array.isArray(s?.volumes) ? s.volumes : []).filter((v) => v?.emptyDir?.medium === 'Memory').map((v) => v.name),
  );
  const causes: StatusCause[] = [];
  for (const list of ['containers', 'initContainers']) {
    const cs = Array.isArray(s?.[list]) ? (s[list] as { volumeMounts?: Record<string, unknown>[] }[]) : [];
    for (const [i, c] of cs.entries()) {
      for (const [j, m] of (Array.isArray(c?.volumeMounts) ? c.volumeMounts : []).entries()) {
        for (const key of ['subPath', 'subPathExpr'])
          if (m?.[key] && memory.has(m.name as string))
            causes.push({
              field: `${at}.${list}[${i}].volumeMounts[${j}].${key}`,
              reason: 'FieldValueNotSupported',
              message: `ferry does not support ${key} into a medium: Memory emptyDir yet`,
            });
      }
    }
  }
  return causes;
}

/** One 422 cause per refused field set in `spec` (found at `at`, e.g. `spec.template.spec`). */
export function refusedPodFields(spec: unknown, at: string): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const rule of REFUSED_POD_FIELDS) {
    for (const [path, value, parent] of walk(spec, rule.path.split('.'), at, {})) {
      const set = value !== undefined && value !== null && value !== false && value !== '';
      if (rule.when ? rule.when(value, parent) : set)
        causes.push({
          field: path,
          reason: 'FieldValueNotSupported',
          message: `ferry does not support ${rule.what} yet`,
        });
    }
  }
  return [...causes, ...memorySubPaths(spec, at)];
}

function* walk(
  node: unknown,
  steps: string[],
  path: string,
  parent: Record<string, unknown>,
): Generator<[string, unknown, Record<string, unknown>]> {
  const [step, ...rest] = steps;
  if (step === undefined) {
    yield [path, node, parent];
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const list = step.endsWith('[]');
  const key = list ? step.slice(0, -2) : step;
  if (!Object.hasOwn(node, key)) return;
  const here = node as Record<string, unknown>;
  const value = here[key];
  if (!list) {
    if (rest.length === 0 || value !== undefined) yield* walk(value, rest, `${path}.${key}`, here);
    return;
  }
  if (!Array.isArray(value)) return;
  for (const [i, item] of value.entries()) yield* walk(item, rest, `${path}.${key}[${i}]`, here);
}
