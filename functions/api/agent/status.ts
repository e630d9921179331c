/**
 * What a sync reports, written: the node's status, its pods' statuses, and the removal of pods the
 * agent has finished terminating. Pod status goes through the untracked store (functions/
 * node-desired.ts): an agent's own status report changes nothing its node must run, so it does not
 * make the node read its pods again.
 */

import type { PodRef } from '../../../schemas/agent-protocol';
import { keepTransitionTimes } from '../../../schemas/conditions';
import type { Deps } from '../../deps';
import { untracked } from '../../node-desired';
import { ignoreNotFound, retryOnConflict } from '../../store/retry';
import type { Obj } from '../../store/types';

export async function writeNodeStatus(
  deps: Deps,
  nodeName: string,
  node: Obj | undefined,
  status: Record<string, unknown>,
): Promise<void> {
  await retryOnConflict(async (current) => {
    const stored = current ?? node ?? (await deps.store.get({ kind: 'Node', name: nodeName }));
    if (!stored) return;
    await deps.store.update({ ...stored, status: keepTransitionTimes(stored.status, status) });
  });
}

/** `pod` is the object the sync checked the report against (the retry's first base). */
export async function writePodStatus(
  deps: Deps,
  pod: Obj,
  ref: PodRef,
  status: Record<string, unknown>,
): Promise<void> {
  const store = untracked(deps.store);
  await retryOnConflict(async (current) => {
    const stored = current ?? pod;
    if (stored.metadata.uid !== ref.uid) return;
    // The scheduler owns PodScheduled; the agent owns the rest of the status.
    const scheduled = ((stored.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).filter(
      (c) => c.type === 'PodScheduled',
    );
    const agentConditions = ((status.conditions as { type: string }[] | undefined) ?? []).filter(
      (c) => c.type !== 'PodScheduled',
    );
    const next = keepTransitionTimes(stored.status, { ...status, conditions: [...scheduled, ...agentConditions] });
    await store.update({ ...stored, status: next });
  });
}

/** Through the tracked store: the pod's removal moves the node's pods, so the agent drops it. */
export async function removePod(deps: Deps, ref: PodRef): Promise<void> {
  await ignoreNotFound(deps.store.delete({ kind: 'Pod', namespace: ref.namespace, name: ref.name }));
}
