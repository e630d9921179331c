/**
 * What one object counts against a ResourceQuota, after Kubernetes' quota evaluators
 * (pkg/quota/v1/evaluator/core): a pod that is not finished counts `pods`, its requests and
 * limits (`requests.cpu` = `cpu`, `requests.memory` = `memory`; the effective value of init
 * containers is their maximum, as the scheduler sees it); a Service counts `services`, its ports
 * as `services.nodeports` when it is a NodePort or LoadBalancer Service, and one
 * `services.loadbalancers`; ConfigMaps and Secrets count themselves; every object counts
 * `count/<plural>[.<group>]`. CPU is in millicores, everything else in base units.
 */
import { kindInfo } from '../../../schemas/kinds';
import { parseQuantity } from '../../../schemas/quantity';
import type { Obj } from '../../store/types';

export type Usage = Record<string, number>;

/** The resource names a quota's `spec.hard` may bound (besides `count/...`). */
export const QUOTA_RESOURCES = new Set([
  'pods',
  'cpu',
  'memory',
  'requests.cpu',
  'requests.memory',
  'limits.cpu',
  'limits.memory',
  'services',
  'services.nodeports',
  'services.loadbalancers',
  'configmaps',
  'secrets',
]);

/** Kinds whose usage a quota resource name depends on (what to list to recount it). */
export function kindsFor(resource: string): string[] {
  if (resource.startsWith('count/')) {
    const [plural, group = ''] = resource.slice('count/'.length).split(/\.(.*)/s) as [string, string?];
    const kind = kindOfPlural(plural, group);
    return kind ? [kind] : [];
  }
  if (resource.startsWith('services')) return ['Service'];
  if (resource === 'configmaps') return ['ConfigMap'];
  if (resource === 'secrets') return ['Secret'];
  return ['Pod'];
}

/** `count/deployments.apps` -> Deployment; undefined for a name ferry does not serve. */
export function kindOfPlural(plural: string, group: string): string | undefined {
  // kindInfo is by kind; a scan of the few registered kinds is cheap and keeps one registry.
  for (const kind of COUNTABLE) {
    const info = kindInfo(kind);
    if (info && info.plural === plural && info.group === group) return kind;
  }
  return undefined;
}

const COUNTABLE = [
  'Pod',
  'Service',
  'ConfigMap',
  'Secret',
  'Deployment',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Endpoints',
  'Event',
  'Lease',
  'ResourceQuota',
  'LimitRange',
];

export function usageOf(obj: Obj | undefined): Usage {
  if (!obj) return {};
  const info = kindInfo(obj.kind);
  const usage: Usage = {};
  switch (obj.kind) {
    case 'Pod':
      if (!countsAsPod(obj)) return {};
      Object.assign(usage, podUsage(obj));
      break;
    case 'Service':
      Object.assign(usage, serviceUsage(obj));
      break;
    case 'ConfigMap':
      usage.configmaps = 1;
      break;
    case 'Secret':
      usage.secrets = 1;
      break;
  }
  if (info) usage[`count/${info.group ? `${info.plural}.${info.group}` : info.plural}`] = 1;
  return usage;
}

/** Kubernetes' QuotaV1Pod: finished pods and pods past their deletion grace stop counting. */
function countsAsPod(pod: Obj): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  return pod.metadata.deletionTimestamp === undefined;
}

interface ContainerLike {
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}

function podUsage(pod: Obj): Usage {
  const spec = (pod.spec ?? {}) as { containers?: ContainerLike[]; initContainers?: ContainerLike[] };
  const total = (list: 'requests' | 'limits', resource: 'cpu' | 'memory') => {
    const value = (c: ContainerLike) => quantity(c.resources?.[list]?.[resource], resource);
    const sum = (spec.containers ?? []).reduce((acc, c) => acc + value(c), 0);
    const init = Math.max(0, ...(spec.initContainers ?? []).map(value));
    return Math.max(sum, init);
  };
  const requestsCpu = total('requests', 'cpu');
  const requestsMemory = total('requests', 'memory');
  return {
    pods: 1,
    cpu: requestsCpu,
    memory: requestsMemory,
    'requests.cpu': requestsCpu,
    'requests.memory': requestsMemory,
    'limits.cpu': total('limits', 'cpu'),
    'limits.memory': total('limits', 'memory'),
  };
}

function serviceUsage(svc: Obj): Usage {
  const spec = (svc.spec ?? {}) as { type?: string; ports?: unknown[] };
  const usage: Usage = { services: 1 };
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') usage['services.nodeports'] = (spec.ports ?? []).length;
  if (spec.type === 'LoadBalancer') usage['services.loadbalancers'] = 1;
  return usage;
}

/** A quantity in quota units: millicores for cpu, base units otherwise; 0 when absent or malformed. */
export function quantity(q: string | number | undefined, resource: string): number {
  if (q === undefined) return 0;
  try {
    const n = parseQuantity(q);
    if (!Number.isFinite(n) || n < 0) return 0;
    return isCpu(resource) ? Math.ceil(n * 1000) : Math.ceil(n);
  } catch {
    return 0;
  }
}

export function isCpu(resource: string): boolean {
  return resource === 'cpu' || resource.endsWith('.cpu');
}

/** A quota amount as Kubernetes prints it: `500m`, `2`, `128Mi`, `3`. */
export function formatAmount(n: number, resource: string): string {
  if (isCpu(resource)) return n % 1000 === 0 ? String(n / 1000) : `${n}m`;
  if (resource === 'memory' || resource.endsWith('.memory')) {
    for (const [suffix, size] of [
      ['Gi', 2 ** 30],
      ['Mi', 2 ** 20],
      ['Ki', 2 ** 10],
    ] as const) {
      if (n !== 0 && n % size === 0) return `${n / size}${suffix}`;
    }
  }
  return String(n);
}

export function addUsage(into: Usage, from: Usage, sign = 1): Usage {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + sign * v;
  return into;
}
