/**
 * Table columns per kind, after kubectl's printers (k8s.io/kubernetes/pkg/printers/internalversion).
 * A kind not listed here prints NAME and AGE. `wide` adds the extra columns of `-o wide`.
 */
import { age, humanDuration } from './age';
import { ACCESS_COLUMNS } from './columns-access';
import { AUTOSCALING_COLUMNS } from './columns-autoscaling';
import { FERRY_COLUMNS } from './columns-ferry';
import { NETWORKING_COLUMNS } from './columns-networking';
import { STORAGE_COLUMNS } from './columns-storage';
import { arr, at, type Loose, labelsString, num, record, selectorString, str } from './fields';
import { containerImages, created, type KindColumns, name } from './kind-columns';

export type { KindColumns } from './kind-columns';

/**
 * kubectl's STATUS column (printPod): while the pod initializes, the first unfinished init
 * container speaks (`Init:0/2`, `Init:CrashLoopBackOff`, `Init:Error`; a native sidecar only
 * needs to run); then a waiting/terminated container's reason wins over the phase.
 */
export function podStatus(pod: Loose): string {
  if (at(pod, 'metadata.deletionTimestamp')) return 'Terminating';
  let reason = str(pod, 'status.reason') || str(pod, 'status.phase', 'Pending');
  const inits = arr(pod, 'spec.initContainers');
  const sidecars = new Set(inits.filter((c) => str(c, 'restartPolicy') === 'Always').map((c) => str(c, 'name')));
  let initializing = false;
  for (const [i, cs] of arr(pod, 'status.initContainerStatuses').entries()) {
    if (sidecars.has(str(cs, 'name'))) {
      if (at(cs, 'started') === true) continue;
    } else if (at(cs, 'state.terminated') !== undefined && num(cs, 'state.terminated.exitCode') === 0) continue;
    const terminated = at(cs, 'state.terminated');
    const waiting = str(cs, 'state.waiting.reason');
    if (terminated !== undefined && !sidecars.has(str(cs, 'name'))) {
      const why = str(cs, 'state.terminated.reason');
      reason = why ? `Init:${why}` : `Init:ExitCode:${num(cs, 'state.terminated.exitCode')}`;
    } else if (waiting && waiting !== 'PodInitializing') reason = `Init:${waiting}`;
    else reason = `Init:${i}/${inits.length}`;
    initializing = true;
    break;
  }
  const initialized = arr(pod, 'status.conditions').some((c) => c.type === 'Initialized' && c.status === 'True');
  if (initializing && !initialized) return reason;
  for (const cs of arr(pod, 'status.containerStatuses')) {
    const waiting = str(cs, 'state.waiting.reason');
    const terminated = str(cs, 'state.terminated.reason');
    if (waiting) reason = waiting;
    else if (terminated && reason !== 'Completed') reason = terminated;
  }
  return reason;
}

/** READY: app containers and native sidecars (kubectl counts a started sidecar as a container). */
function podReady(pod: Loose): string {
  const statuses = arr(pod, 'status.containerStatuses');
  const sidecars = new Set(
    arr(pod, 'spec.initContainers')
      .filter((c) => str(c, 'restartPolicy') === 'Always')
      .map((c) => str(c, 'name')),
  );
  const sidecarStatuses = arr(pod, 'status.initContainerStatuses').filter((s) => sidecars.has(str(s, 'name')));
  const total = Math.max(arr(pod, 'spec.containers').length, statuses.length) + sidecars.size;
  return `${[...statuses, ...sidecarStatuses].filter((s) => s.ready === true).length}/${total}`;
}

/** kubectl's Job STATUS column: Complete, Failed, Suspended or Running. */
export function jobStatus(job: Loose): string {
  const conditions = arr(job, 'status.conditions');
  for (const type of ['Complete', 'Failed', 'Suspended'])
    if (conditions.some((c) => str(c, 'type') === type && str(c, 'status') === 'True')) return type;
  return 'Running';
}

function jobDuration(job: Loose, now: number): string {
  const start = Date.parse(str(job, 'status.startTime'));
  if (Number.isNaN(start)) return '';
  const end = Date.parse(str(job, 'status.completionTime'));
  return humanDuration((Number.isNaN(end) ? now : end) - start);
}

/** kubectl's quota columns: `pods: 1/10, requests.cpu: 500m/2` (LIMIT: the limits.* resources). */
function quotaUsage(quota: Loose, limits: boolean): string {
  const hard = record(quota, 'spec.hard');
  const used = record(quota, 'status.used');
  return Object.keys(hard)
    .filter((r) => r.startsWith('limits.') === limits)
    .sort()
    .map((r) => `${r}: ${used[r] ?? '0'}/${hard[r]}`)
    .join(', ');
}

export function nodeStatus(node: Loose): string {
  const ready = arr(node, 'status.conditions').find((c) => c.type === 'Ready');
  const status = ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown';
  return at(node, 'spec.unschedulable') === true ? `${status},SchedulingDisabled` : status;
}

function nodeRoles(node: Loose): string {
  const roles = Object.keys(record(node, 'metadata.labels'))
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length));
  return roles.join(',') || '<none>';
}

function nodeAddress(node: Loose, type: string): string {
  return str(
    arr(node, 'status.addresses').find((a) => a.type === type),
    'address',
    '<none>',
  );
}

export function servicePorts(svc: Loose): string {
  const ports = arr(svc, 'spec.ports').map((p) => {
    const nodePort = num(p, 'nodePort', 0);
    return `${num(p, 'port')}${nodePort ? `:${nodePort}` : ''}/${str(p, 'protocol', 'TCP')}`;
  });
  return ports.join(',') || '<none>';
}

function externalIp(svc: Loose): string {
  // kubectl prints an ExternalName Service's name there (its CLUSTER-IP is <none>).
  if (str(svc, 'spec.type') === 'ExternalName') return str(svc, 'spec.externalName', '<none>');
  const specPorts = new Set(arr(svc, 'spec.ports').map((p) => num(p, 'port')));
  const ips = [
    ...arr(svc, 'status.loadBalancer.ingress').flatMap((i) => {
      const host = str(i, 'ip') || str(i, 'hostname');
      // A load balancer that could not take the Service's own port (e.g. 80 without root) says where it is.
      const moved = arr(i, 'ports').filter((p) => !specPorts.has(num(p, 'port')));
      return moved.length > 0 ? moved.map((p) => `${host}:${num(p, 'port')}`) : [host];
    }),
    ...((at(svc, 'spec.externalIPs') as string[] | undefined) ?? []),
  ].filter(Boolean);
  if (ips.length > 0) return ips.join(',');
  return str(svc, 'spec.type') === 'LoadBalancer' ? '<pending>' : '<none>';
}

function endpointsString(ep: Loose): string {
  const addrs: string[] = [];
  for (const subset of arr(ep, 'subsets')) {
    const ports = arr(subset, 'ports').map((p) => num(p, 'port'));
    for (const a of arr(subset, 'addresses')) {
      for (const port of ports.length ? ports : [undefined]) {
        addrs.push(port === undefined ? str(a, 'ip') : `${str(a, 'ip')}:${port}`);
      }
    }
  }
  if (addrs.length === 0) return '<none>';
  return addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
}

/** kubectl's PDB columns: the IntOrString as given, `N/A` when unset. */
function intOrNA(v: unknown): string {
  return typeof v === 'number' || typeof v === 'string' ? String(v) : 'N/A';
}

export const COLUMNS: Record<string, KindColumns> = {
  ...NETWORKING_COLUMNS,
  ...ACCESS_COLUMNS,
  ...STORAGE_COLUMNS,
  ...FERRY_COLUMNS,
  ...AUTOSCALING_COLUMNS,
  Pod: {
    headers: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'],
    row: (o, now) => [
      name(o),
      podReady(o),
      podStatus(o),
      String(arr(o, 'status.containerStatuses').reduce((n, c) => n + num(c, 'restartCount'), 0)),
      created(o, now),
    ],
    wideHeaders: ['IP', 'NODE'],
    wideRow: (o) => [str(o, 'status.podIP', '<none>'), str(o, 'spec.nodeName', '<none>')],
  },
  Deployment: {
    headers: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
    row: (o, now) => [
      name(o),
      `${num(o, 'status.readyReplicas')}/${num(o, 'spec.replicas', 1)}`,
      String(num(o, 'status.updatedReplicas')),
      String(num(o, 'status.availableReplicas')),
      created(o, now),
    ],
    wideHeaders: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    wideRow: (o) => [...containerImages(o, 'spec.template.spec.containers'), selectorString(at(o, 'spec.selector'))],
  },
  ReplicaSet: {
    headers: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'],
    row: (o, now) => [
      name(o),
      String(num(o, 'spec.replicas', 1)),
      String(num(o, 'status.replicas')),
      String(num(o, 'status.readyReplicas')),
      created(o, now),
    ],
    wideHeaders: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    wideRow: (o) => [...containerImages(o, 'spec.template.spec.containers'), selectorString(at(o, 'spec.selector'))],
  },
  DaemonSet: {
    headers: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE'],
    row: (o, now) => [
      name(o),
      String(num(o, 'status.desiredNumberScheduled')),
      String(num(o, 'status.currentNumberScheduled')),
      String(num(o, 'status.numberReady')),
      String(num(o, 'status.updatedNumberScheduled')),
      String(num(o, 'status.numberAvailable')),
      labelsString(record(o, 'spec.template.spec.nodeSelector')),
      created(o, now),
    ],
    wideHeaders: ['CONTAINERS', 'IMAGES', 'SELECTOR'],
    wideRow: (o) => [...containerImages(o, 'spec.template.spec.containers'), selectorString(at(o, 'spec.selector'))],
  },
  PodDisruptionBudget: {
    headers: ['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE'],
    row: (o, now) => [
      name(o),
      intOrNA(at(o, 'spec.minAvailable')),
      intOrNA(at(o, 'spec.maxUnavailable')),
      String(num(o, 'status.disruptionsAllowed')),
      created(o, now),
    ],
  },
  Job: {
    headers: ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE'],
    row: (o, now) => [
      name(o),
      jobStatus(o),
      `${num(o, 'status.succeeded')}/${at(o, 'spec.completions') === undefined ? `1 of ${num(o, 'spec.parallelism', 1)}` : num(o, 'spec.completions')}`,
      jobDuration(o, now),
      created(o, now),
    ],
    wideHeaders: ['CONTAINERS', 'IMAGES'],
    wideRow: (o) => containerImages(o, 'spec.template.spec.containers'),
  },
  CronJob: {
    headers: ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE'],
    row: (o, now) => [
      name(o),
      str(o, 'spec.schedule'),
      str(o, 'spec.timeZone', '<none>'),
      String(at(o, 'spec.suspend') === true ? 'True' : 'False'),
      String(arr(o, 'status.active').length),
      at(o, 'status.lastScheduleTime') === undefined ? '<none>' : age(at(o, 'status.lastScheduleTime'), now),
      created(o, now),
    ],
  },
  Service: {
    headers: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
    row: (o, now) => [
      name(o),
      str(o, 'spec.type', 'ClusterIP'),
      str(o, 'spec.clusterIP', '<none>'),
      externalIp(o),
      servicePorts(o),
      created(o, now),
    ],
    wideHeaders: ['SELECTOR'],
    wideRow: (o) => [labelsString(record(o, 'spec.selector'))],
  },

  Node: {
    headers: ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'],
    row: (o, now) => [
      name(o),
      nodeStatus(o),
      nodeRoles(o),
      created(o, now),
      str(o, 'status.nodeInfo.kubeletVersion', '<none>'),
    ],
    wideHeaders: ['INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'CONTAINER-RUNTIME'],
    wideRow: (o) => [
      nodeAddress(o, 'InternalIP'),
      nodeAddress(o, 'ExternalIP'),
      str(o, 'status.nodeInfo.osImage', '<unknown>'),
      str(o, 'status.nodeInfo.containerRuntimeVersion', '<unknown>'),
    ],
  },
  Namespace: {
    headers: ['NAME', 'STATUS', 'AGE'],
    row: (o, now) => [name(o), str(o, 'status.phase', 'Active'), created(o, now)],
  },
  Endpoints: {
    headers: ['NAME', 'ENDPOINTS', 'AGE'],
    row: (o, now) => [name(o), endpointsString(o), created(o, now)],
  },
  ConfigMap: {
    headers: ['NAME', 'DATA', 'AGE'],
    row: (o, now) => [
      name(o),
      String(Object.keys(record(o, 'data')).length + Object.keys(record(o, 'binaryData')).length),
      created(o, now),
    ],
  },
  Secret: {
    headers: ['NAME', 'TYPE', 'DATA', 'AGE'],
    row: (o, now) => [
      name(o),
      str(o, 'type', 'Opaque'),
      String(Object.keys(record(o, 'data')).length + Object.keys(record(o, 'stringData')).length),
      created(o, now),
    ],
  },
  ResourceQuota: {
    headers: ['NAME', 'AGE', 'REQUEST', 'LIMIT'],
    row: (o, now) => [name(o), created(o, now), quotaUsage(o, false), quotaUsage(o, true)],
  },
  PriorityClass: {
    headers: ['NAME', 'VALUE', 'GLOBAL-DEFAULT', 'AGE', 'PREEMPTIONPOLICY'],
    row: (o, now) => [
      name(o),
      str(o, 'value'),
      str(o, 'globalDefault', 'false'),
      created(o, now),
      str(o, 'preemptionPolicy', 'PreemptLowerPriority'),
    ],
  },
  LimitRange: {
    headers: ['NAME', 'CREATED AT'],
    row: (o) => [name(o), str(o, 'metadata.creationTimestamp')],
  },

  Event: {
    headers: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
    row: (o, now) => [
      age(at(o, 'lastTimestamp') ?? at(o, 'eventTime') ?? at(o, 'metadata.creationTimestamp'), now),
      str(o, 'type'),
      str(o, 'reason'),
      `${str(o, 'involvedObject.kind').toLowerCase()}/${str(o, 'involvedObject.name')}`,
      str(o, 'message'),
    ],
  },
};

export const GENERIC_COLUMNS: KindColumns = {
  headers: ['NAME', 'AGE'],
  row: (o, now) => [name(o), created(o, now)],
};
