/**
 * A Deployment's status: replica counts from its ReplicaSets' pods, and the Available and
 * Progressing conditions, including ProgressDeadlineExceeded when a rollout makes no progress for
 * progressDeadlineSeconds. Returns undefined when nothing changed (no write).
 */
import type { Condition, Deployment, Pod, ReplicaSet } from '../../schemas';
import { isActive, isAvailable, isOwnedBy, isoTime, isReady, resolveIntOrPercent, sameJson } from './util';

export function deploymentStatus(
  d: Deployment,
  sets: ReplicaSet[],
  pods: Pod[],
  newRS: ReplicaSet | undefined,
  now: number,
): NonNullable<Deployment['status']> | undefined {
  const desired = d.spec.replicas ?? 1;
  const minReady = d.spec.minReadySeconds ?? 0;
  const podsOf = (rs: ReplicaSet) =>
    pods.filter((p) => p.metadata.namespace === d.metadata.namespace && isOwnedBy(p, rs) && isActive(p));
  const all = sets.flatMap(podsOf);
  const updated = newRS ? podsOf(newRS) : [];
  const available = all.filter((p) => isAvailable(p, minReady, now)).length;
  const replicas = all.length;
  const updatedReplicas = updated.length;
  const updatedAvailable = updated.filter((p) => isAvailable(p, minReady, now)).length;
  const maxUnavailable =
    d.spec.strategy?.type === 'Recreate'
      ? 0
      : resolveIntOrPercent(d.spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
  const time = isoTime(now);
  const prev = d.status ?? {};
  const prevConds = prev.conditions ?? [];

  const availableOk = available >= desired - maxUnavailable;
  const availableCond = condition(
    prevConds,
    'Available',
    availableOk ? 'True' : 'False',
    availableOk ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
    availableOk ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.',
    time,
  );

  const complete =
    updatedReplicas === desired &&
    replicas === desired &&
    updatedAvailable === desired &&
    (prev.observedGeneration ?? 0) >= 0;
  const progressed =
    prev.observedGeneration !== d.metadata.generation ||
    prev.updatedReplicas !== updatedReplicas ||
    prev.availableReplicas !== available ||
    prev.readyReplicas !== all.filter(isReady).length;
  const oldProgressing = prevConds.find((c) => c.type === 'Progressing');
  let progressing: Condition;
  const rsName = newRS?.metadata.name ?? d.metadata.name;
  if (d.spec.paused) {
    progressing = condition(prevConds, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', time);
  } else if (complete) {
    progressing = condition(
      prevConds,
      'Progressing',
      'True',
      'NewReplicaSetAvailable',
      `ReplicaSet "${rsName}" has successfully progressed.`,
      time,
    );
  } else if (
    progressed ||
    !oldProgressing ||
    oldProgressing.reason === 'NewReplicaSetAvailable' ||
    oldProgressing.reason === 'DeploymentPaused'
  ) {
    progressing = {
      ...condition(
        prevConds,
        'Progressing',
        'True',
        'ReplicaSetUpdated',
        `ReplicaSet "${rsName}" is progressing.`,
        time,
      ),
      lastUpdateTime: time,
    };
  } else {
    const since = Date.parse(oldProgressing.lastUpdateTime ?? oldProgressing.lastTransitionTime ?? time);
    const deadline = (d.spec.progressDeadlineSeconds ?? 600) * 1000;
    progressing =
      oldProgressing.reason === 'ProgressDeadlineExceeded' || now - since > deadline
        ? condition(
            prevConds,
            'Progressing',
            'False',
            'ProgressDeadlineExceeded',
            `ReplicaSet "${rsName}" has timed out progressing.`,
            time,
          )
        : oldProgressing;
  }

  const status: NonNullable<Deployment['status']> = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas,
    updatedReplicas,
    readyReplicas: all.filter(isReady).length,
    availableReplicas: available,
    unavailableReplicas: Math.max(0, desired - available),
    conditions: [availableCond, progressing],
  };
  return sameJson(status, prev) ? undefined : status;
}

/** A condition that keeps its transition time (and update time) while its status and reason hold. */
function condition(
  prev: Condition[],
  type: string,
  status: string,
  reason: string,
  message: string,
  time: string,
): Condition {
  const old = prev.find((c) => c.type === type);
  if (old && old.status === status && old.reason === reason) return old;
  return { type, status, reason, message, lastTransitionTime: time, lastUpdateTime: time };
}
