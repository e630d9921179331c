/**
 * The ConfigMaps and Secrets a pod refers to (env, envFrom, volumes, projected volumes, image pull
 * Secrets), as `ConfigMap/namespace/name` and `Secret/namespace/name`: what a node must be sent
 * for its pods (functions/api/agent/config.ts), whose writes move that node's config version
 * (functions/node-desired.ts), and what SQLite indexes so that such a write finds the pods that
 * refer to it without scanning every pod (functions/store/sqlite.ts).
 */
import type { Obj } from './object';

type PodSpecRefs = {
  containers?: ContainerRefs[];
  initContainers?: ContainerRefs[];
  volumes?: {
    configMap?: { name?: string };
    secret?: { secretName?: string };
    projected?: { sources?: { configMap?: { name?: string }; secret?: { name?: string } }[] };
  }[];
  imagePullSecrets?: { name?: string }[];
};
type ContainerRefs = {
  env?: { valueFrom?: { configMapKeyRef?: { name?: string }; secretKeyRef?: { name?: string } } }[];
  envFrom?: { configMapRef?: { name?: string }; secretRef?: { name?: string } }[];
};

/** `ConfigMap/ns/name` and `Secret/ns/name` for every ConfigMap and Secret a pod refers to. */
export function configRefs(pod: Obj): string[] {
  const ns = pod.metadata.namespace as string;
  const spec = (pod.spec ?? {}) as PodSpecRefs;
  const out = new Set<string>();
  const add = (kind: string, name: string | undefined) => {
    if (name) out.add(`${kind}/${ns}/${name}`);
  };
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const e of c.env ?? []) {
      add('ConfigMap', e.valueFrom?.configMapKeyRef?.name);
      add('Secret', e.valueFrom?.secretKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      add('ConfigMap', e.configMapRef?.name);
      add('Secret', e.secretRef?.name);
    }
  }
  for (const v of spec.volumes ?? []) {
    add('ConfigMap', v.configMap?.name);
    add('Secret', v.secret?.secretName);
    for (const src of v.projected?.sources ?? []) {
      add('ConfigMap', src.configMap?.name);
      add('Secret', src.secret?.name);
    }
  }
  // The node's pull of the pod's images needs them (agent/pods/pull-secrets.ts).
  for (const s of spec.imagePullSecrets ?? []) add('Secret', s.name);
  return [...out];
}
