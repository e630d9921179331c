/** A Cloud object as a provider takes it: its spec, its uid, and its credentials Secret decoded. */
import type { CloudConfig, CloudRef } from '../../../providers/types';
import type { Cloud } from '../../../schemas';
import type { Deps } from '../../deps';
import type { Obj } from '../../store/types';

export async function cloudConfig(deps: Deps, cloud: Cloud): Promise<CloudConfig> {
  const s = cloud.spec;
  const config: CloudConfig = { name: cloud.metadata.name, uid: cloudRef(cloud).uid, type: s.type };
  if (s.region) config.region = s.region;
  if (s.project) config.project = s.project;
  if (s.subscriptionId) config.subscriptionId = s.subscriptionId;
  if (s.resourceGroup) config.resourceGroup = s.resourceGroup;
  if (s.options) config.options = s.options as Record<string, unknown>;
  if (s.credentialsSecretRef) {
    const ref = s.credentialsSecretRef;
    const secret = await deps.store.get<Obj & { data?: Record<string, string> }>({
      kind: 'Secret',
      namespace: ref.namespace,
      name: ref.name,
    });
    if (!secret) throw new Error(`Cloud "${cloud.metadata.name}": Secret ${ref.namespace}/${ref.name} does not exist`);
    config.credentials = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }
  return config;
}

/** What a Cloud's machines are tagged with. The store gives every object a uid. */
export function cloudRef(cloud: Cloud): CloudRef {
  return { name: cloud.metadata.name, uid: cloud.metadata.uid as string };
}
