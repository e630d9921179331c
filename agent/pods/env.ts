/**
 * A container's environment: the Service variables of its namespace (`serviceEnv`), then
 * `envFrom`, then its own `env` (a later one wins on a clash, as in Kubernetes), with `valueFrom`
 * resolved from the downward API (`fieldRef`, `resourceFieldRef`), ConfigMaps and Secrets. Throws
 * ConfigNotReadyError saying what is missing.
 */
import type { ServiceRoute } from '../../schemas/agent-protocol';
import type { Pod } from '../../schemas/pod';
import { ConfigNotReadyError, type ConfigSources, type EnvSpec } from './config-sources';
import { type Allocatable, type ResourceFieldRef, resourceFieldValue } from './resource-fields';

export interface PodFacts {
  pod: Pod;
  nodeIp: string;
  podIp?: string;
  /** The node's allocatable, the limit of a container that sets none (resource-fields.ts). */
  allocatable?: Allocatable;
}

export function containerEnv(
  config: ConfigSources,
  facts: PodFacts,
  spec: EnvSpec,
  serviceEnv: { name: string; value: string }[] = [],
): { name: string; value: string }[] {
  const out = new Map<string, string>();
  for (const e of serviceEnv) out.set(e.name, e.value);
  config.env(
    facts.pod.metadata.namespace as string,
    spec,
    (e) => {
      if (e.valueFrom === undefined) return e.value ?? '';
      const resourceRef = e.valueFrom.resourceFieldRef as ResourceFieldRef | undefined;
      if (resourceRef)
        return resourceFieldValue(facts.pod, resourceRef, (spec as { name?: string }).name, facts.allocatable ?? {});
      const path = (e.valueFrom.fieldRef as { fieldPath?: string } | undefined)?.fieldPath;
      const value = path === undefined ? undefined : fieldValue(facts, path);
      // The API refuses any other fieldPath; this guards a pod stored before it did.
      if (value === undefined)
        throw new ConfigNotReadyError(`env ${e.name}: ferry does not support this valueFrom yet`);
      return value;
    },
    out,
  );
  return [...out].map(([name, value]) => ({ name, value }));
}

/** Kubernetes' downward API fields (`fieldRef.fieldPath`, and downwardAPI volume items). */
export function fieldValue(facts: PodFacts, path: string): string | undefined {
  const { pod } = facts;
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (m) return pod.metadata[m[1] as 'labels' | 'annotations']?.[m[2] as string] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.nodeIp;
    case 'status.podIP':
    case 'status.podIPs':
      return facts.podIp ?? '';
    default:
      return undefined;
  }
}

/** How this node reaches Services: cluster IPs when it serves them, else `fallbackHost` and node ports. */
export interface ServiceEnvOptions {
  /** The node redirects cluster IPs to its proxy (agent/proxy/cluster-ip-rules.ts). */
  clusterIPs: boolean;
  /** An address of the pod's own node its containers reach (the pod network's gateway). */
  fallbackHost: string;
}

const envName = (s: string) => s.toUpperCase().replace(/-/g, '_');

/**
 * Kubernetes' service environment variables for a pod in `namespace` (kubelet's
 * getServiceEnvVarMap, pkg/kubelet/envvars): for each Service with a cluster IP,
 * `WEB_SERVICE_HOST` (the cluster IP), `WEB_SERVICE_PORT` (its first port), `WEB_SERVICE_PORT_<NAME>`
 * per named port, and the Docker link variables `WEB_PORT=tcp://IP:PORT`,
 * `WEB_PORT_<PORT>_<PROTO>[_PROTO|_PORT|_ADDR]`. Headless and ExternalName Services get none, as in
 * Kubernetes. A node that cannot serve cluster IPs (no iptables) points them at its own proxy's
 * node ports instead, which reach the same endpoints.
 */
export function serviceEnv(routes: readonly ServiceRoute[], namespace: string, options: ServiceEnvOptions) {
  const env: { name: string; value: string }[] = [];
  for (const route of routes) {
    if (route.namespace !== namespace || route.type === 'ExternalName') continue;
    const clusterIP = route.clusterIP;
    if (clusterIP === 'None' || route.ports.length === 0) continue;
    const viaClusterIP = options.clusterIPs && clusterIP !== undefined;
    const host = viaClusterIP ? clusterIP : options.fallbackHost;
    const ports = route.ports
      .map((p) => ({ ...p, at: viaClusterIP ? p.port : p.nodePort }))
      .filter((p): p is typeof p & { at: number } => p.at !== undefined);
    const first = ports[0];
    if (!first) continue;
    const service = `${envName(route.name)}_SERVICE`;
    const link = `${envName(route.name)}_PORT`;
    env.push({ name: `${service}_HOST`, value: host }, { name: `${service}_PORT`, value: String(first.at) });
    for (const p of ports) if (p.name) env.push({ name: `${service}_PORT_${envName(p.name)}`, value: String(p.at) });
    env.push({ name: link, value: `${first.protocol.toLowerCase()}://${host}:${first.at}` });
    for (const p of ports) {
      const proto = p.protocol.toLowerCase();
      const prefix = `${link}_${p.at}_${p.protocol.toUpperCase()}`;
      env.push(
        { name: prefix, value: `${proto}://${host}:${p.at}` },
        { name: `${prefix}_PROTO`, value: proto },
        { name: `${prefix}_PORT`, value: String(p.at) },
        { name: `${prefix}_ADDR`, value: host },
      );
    }
  }
  return env;
}
