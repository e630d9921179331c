/**
 * The ConfigMaps and Secrets a node may see: those its pods refer to (env, envFrom, volumes), read
 * one by one, and no others (Kubernetes' NodeRestriction for config). Read only in a sync where the
 * node's pods or config moved.
 */
import type { ConfigSource } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import { configRefs } from '../../node-desired';
import type { Obj } from '../../store/types';

export async function podConfig(
  deps: Deps,
  pods: Obj[],
): Promise<{ configMaps: ConfigSource[]; secrets: ConfigSource[] }> {
  const refs = new Set(pods.filter((p) => !p.metadata.deletionTimestamp).flatMap(configRefs));
  const configMaps: ConfigSource[] = [];
  const secrets: ConfigSource[] = [];
  for (const ref of [...refs].sort()) {
    const [kind, namespace, name] = ref.split('/') as [string, string, string];
    // Consistent: the write that moved the node's config landed before its bump, and the answer
    // carries the moved version; an older copy here would stay on the node until the next change.
    const obj = await deps.store.get<Obj & { data?: Record<string, string>; binaryData?: Record<string, string> }>({
      kind,
      namespace,
      name,
    });
    if (!obj) continue;
    const source: ConfigSource = { namespace, name };
    if (obj.data) source.data = obj.data;
    if (obj.binaryData) source.binaryData = obj.binaryData;
    (kind === 'Secret' ? secrets : configMaps).push(source);
  }
  return { configMaps, secrets };
}
