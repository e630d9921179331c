/**
 * The downward API's `resourceFieldRef` (env `valueFrom` and downwardAPI volume items), as the
 * kubelet resolves it (k8s.io/kubernetes/pkg/api/v1/resource ExtractContainerResourceValue): a
 * container's `limits.cpu|memory|ephemeral-storage` or `requests.*`, divided by `divisor` and
 * rounded up (cpu in millicores: `1` gives whole cores, `1m` millicores; memory and storage in
 * bytes: `1Mi` gives MiB). A limit that is not set is the node's allocatable (what the container
 * may use), as the kubelet's MergeContainerResourceLimits does; a request that is not set is its
 * limit when set (the API's default), else 0. Go programs set GOMAXPROCS and GOMEMLIMIT this way.
 */
import type { Pod } from '../../schemas/pod';
import { bytes, cpuMillis } from '../../schemas/quantity';
import { ConfigNotReadyError } from './config-sources';

export interface ResourceFieldRef {
  resource: string;
  containerName?: string | undefined;
  divisor?: string | number | undefined;
}

/** The node's allocatable resources, as it reports them (`cpu`, `memory`, `ephemeral-storage`). */
export type Allocatable = Record<string, string>;

const RESOURCE = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/;

/** The value as the kubelet writes it; ConfigNotReadyError for a ref the API would have refused. */
export function resourceFieldValue(
  pod: Pod,
  ref: ResourceFieldRef,
  container: string | undefined,
  allocatable: Allocatable,
): string {
  const name = ref.containerName || container;
  const spec = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name);
  const m = RESOURCE.exec(ref.resource);
  if (!spec || !m) throw new ConfigNotReadyError(`resourceFieldRef ${ref.resource} of container ${name}: unsupported`);
  const [, part, resource] = m as unknown as [string, 'limits' | 'requests', string];
  const limits = spec.resources?.limits ?? {};
  const requests = spec.resources?.requests ?? {};
  const limit = limits[resource] ?? allocatable[resource] ?? 0;
  const quantity = part === 'limits' ? limit : (requests[resource] ?? limits[resource] ?? 0);
  const divisor = ref.divisor === undefined || isZero(ref.divisor) ? 1 : ref.divisor;
  if (resource === 'cpu') return String(Math.ceil(cpuMillis(quantity) / cpuMillis(divisor)));
  return String(Math.ceil(bytes(quantity) / bytes(divisor)));
}

/** Exported pods carry `divisor: "0"`, which Kubernetes reads as 1. */
function isZero(q: string | number): boolean {
  return q === 0 || (typeof q === 'string' && /^[+]?0+(\.0*)?[a-zA-Z]*$/.test(q));
}
