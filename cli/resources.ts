/**
 * Kind names to API paths, the Kubernetes way: `/api/v1/...` for the core group,
 * `/apis/{group}/{version}/...` otherwise, `namespaces/{ns}/` for namespaced kinds.
 * Kind names, plurals and short names (po, deploy, svc, ...) come from `schemas/` so the CLI and
 * the API never disagree about them.
 */
import { type KindInfo, kindByName } from '../schemas';
import { UsageError } from './errors';

export type { KindInfo };

export const DEFAULT_NAMESPACE = 'default';

export function resolveKind(name: string): KindInfo {
  const info = kindByName(name);
  if (!info) throw new UsageError(`the server doesn't have a resource type "${name}"`);
  return info;
}

function groupVersionBase(info: KindInfo): string {
  return info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
}

/** The collection path; `namespace` undefined on a namespaced kind means all namespaces. */
export function collectionPath(info: KindInfo, namespace: string | undefined): string {
  const base = groupVersionBase(info);
  if (info.namespaced && namespace !== undefined) {
    return `${base}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
  }
  return `${base}/${info.plural}`;
}

export function objectPath(info: KindInfo, namespace: string | undefined, name: string): string {
  return `${collectionPath(info, info.namespaced ? (namespace ?? DEFAULT_NAMESPACE) : undefined)}/${encodeURIComponent(name)}`;
}

/** kubectl's resource name: `deployment.apps`, `service`, `nodepool.ferry.dev`. */
export function resourceName(info: KindInfo): string {
  return info.group ? `${info.singular}.${info.group}` : info.singular;
}

/** For kinds the CLI does not know (e.g. a server newer than the CLI): `Kind` + `group/version`. */
export function resourceNameFromApiVersion(kind: string, apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash >= 0 ? apiVersion.slice(0, slash) : '';
  return group ? `${kind.toLowerCase()}.${group}` : kind.toLowerCase();
}
