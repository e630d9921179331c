/**
 * A container's environment: the Service variables of its namespace, then `envFrom`, then its own
 * `env` (a later one wins on a clash, as in Kubernetes), with `valueFrom` resolved from the
 * downward API (`fieldRef`), ConfigMaps and Secrets. Throws ConfigNotReadyError saying what is missing.
 */
import type { Pod } from '../../schemas/pod';
import { ConfigNotReadyError, type ConfigSources, type EnvSpec } from './config-sources';

export interface PodFacts {
  pod: Pod;
  nodeIp: string;
  podIp?: string;
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
