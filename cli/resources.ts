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

/**
 * kubectl's two ways to name one object: `deployment/web` or `deployment web`. `kinds` limits
 * which kinds the command accepts (e.g. those with a scale subresource).
 */
export function parseTarget(args: string[], kinds: readonly string[]): { info: KindInfo; name: string } {
  const [first, second, ...rest] = args;
  if (first === undefined) throw new UsageError(`name a ${kinds.join(' or ')}: TYPE/NAME or TYPE NAME`);
  let kindName: string;
  let name: string | undefined;
  if (first.includes('/')) {
    if (second !== undefined) throw new UsageError(`give TYPE/NAME or TYPE NAME, not both ("${first}" "${second}")`);
    [kindName, name] = first.split('/', 2) as [string, string];
  } else {
    kindName = first;
    name = second;
  }
  if (rest.length > 0) throw new UsageError(`one object at a time (unexpected "${rest.join(' ')}")`);
  const info = resolveKind(kindName);
  if (!kinds.includes(info.kind)) {
    throw new UsageError(
      `${resourceName(info)} is not supported here: use ${kinds.map((k) => k.toLowerCase()).join(' or ')}`,
    );
  }
  if (!name) throw new UsageError(`name the ${info.singular}: ${info.singular}/NAME`);
  return { info, name };
}
