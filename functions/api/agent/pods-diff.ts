/**
 * The pods section of a sync answer as a per-pod diff (schemas/agent-protocol.ts `heldPods`,
 * `podVersions`, `podsDiff`). Each pod has a version: a hash of what its node runs from it, the
 * object without its status and the metadata a status write moves (resourceVersion,
 * managedFields). So the agent's own status reports, which move a pod's resourceVersion, never
 * make the pod new to its node (no echo), while anything else a writer changes does: spec
 * (ephemeral containers, a resize), labels and annotations (downward API), a deletionTimestamp, a
 * new uid under the same name. The hash covers the uid and the node name, so a version names one
 * pod of one node: versions the agent sends for pods it does not hold, of another node or made
 * up, match nothing and come back as removed, which drops nothing it runs.
 *
 * A version is a pure function of the pod's uid and resourceVersion, so it is computed once per
 * pod write (a bounded cache), not once per sync.
 */
import { createHash } from 'node:crypto';
import type { PodsDiff, SyncResponse } from '../../../schemas/agent-protocol';
import type { Obj } from '../../store/types';

/** Pod versions remembered: five thousand nodes of ten pods, twice over. */
const CACHE_ENTRIES = 100_000;
const cache = new Map<string, string>();

/** The pod's version: what its node runs from it, hashed (status and its write's metadata left out). */
export function podVersion(pod: Obj): string {
  const { uid, resourceVersion } = pod.metadata;
  const key = uid && resourceVersion ? `${uid}/${resourceVersion}` : undefined;
  const known = key === undefined ? undefined : cache.get(key);
  if (known !== undefined) return known;
  const desired = {
    ...pod,
    metadata: { ...pod.metadata, resourceVersion: undefined, managedFields: undefined },
    status: undefined,
  };
  const version = createHash('sha256').update(JSON.stringify(desired)).digest('base64url').slice(0, 22);
  if (key !== undefined) {
    // Oldest first out: a Map iterates in insertion order.
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(key, version);
  }
  return version;
}

/**
 * The pods part of an answer: a diff against the versions the agent holds, or, when it named none
 * (an older agent, a first sync, a restarted agent, its periodic full resync), every pod with its
 * version, which also tells a newer agent that this server diffs.
 */
export function podsSection(
  pods: Obj[],
  held: readonly string[] | undefined,
): Pick<SyncResponse, 'pods' | 'podVersions' | 'podsDiff'> {
  const versions = pods.map(podVersion);
  if (held === undefined) return { pods: pods.map(forNode), podVersions: versions };
  const holds = new Set(held);
  const diff: PodsDiff = { pods: [], versions: [], removed: [] };
  const current = new Set<string>();
  pods.forEach((pod, i) => {
    const version = versions[i] as string;
    current.add(version);
    if (holds.has(version)) return;
    diff.pods.push(forNode(pod));
    diff.versions.push(version);
  });
  for (const version of holds) if (!current.has(version)) diff.removed.push(version);
  return { podsDiff: diff };
}

/**
 * A pod as its node is sent it: without managedFields, which no agent reads and which are over a
 * third of a pod's JSON (every field a writer set, named again).
 */
function forNode(pod: Obj): Obj {
  const { managedFields, ...metadata } = pod.metadata as Obj['metadata'] & { managedFields?: unknown };
  return managedFields === undefined ? pod : { ...pod, metadata };
}
