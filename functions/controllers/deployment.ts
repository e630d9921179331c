/**
 * Deployment controller: owns one ReplicaSet per pod template (named `<deployment>-<template hash>`)
 * and moves replicas from the old ones to the new one, by RollingUpdate (within maxSurge and
 * maxUnavailable) or Recreate. Availability is counted from the pods themselves, never from a
 * ReplicaSet status that may lag a scale-down, so a rolling update can never dip below
 * `replicas - maxUnavailable` available pods.
 * https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
 */
import {
  CHANGE_CAUSE_ANNOTATION,
  type Deployment,
  POD_TEMPLATE_HASH_LABEL as HASH_LABEL,
  type Pod,
  REVISION_ANNOTATION,
  type ReplicaSet,
} from '../../schemas';
import type { Deps } from '../deps';
import { isAlreadyExists, isNotFound } from '../errors';
import { recordEvent } from '../events';
import { type PassContext, reconcileEach, standaloneContext } from './controller';
import { deploymentStatus } from './deployment-status';
import { isActive, isAvailable, isOwnedBy, ownerReferenceTo, resolveIntOrPercent, templateHash } from './util';

export interface RolloutState {
  deployment: Deployment;
  newRS: ReplicaSet;
  oldRSes: ReplicaSet[];
  /** Available, active pods per ReplicaSet uid. */
  available: Map<string, number>;
  /** Active (not terminating) pods per ReplicaSet uid. */
  active: Map<string, number>;
  /** Pods still terminating per ReplicaSet uid. */
  terminating: Map<string, number>;
}

/** Reconciles every Deployment; one that fails gets a Warning Event and the others go on. */
export async function reconcileDeployments(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const deployments = await ctx.snapshot.list<Deployment>('Deployment');
  const live = deployments.filter((d) => !d.metadata.deletionTimestamp);
  await reconcileEach(ctx, 'deployment-controller', live, async (d) => {
    const owned = await ctx.snapshot.ownedBy<ReplicaSet>('ReplicaSet', d.metadata.uid as string);
    const pods: Pod[] = [];
    for (const rs of owned) pods.push(...(await ctx.snapshot.ownedBy<Pod>('Pod', rs.metadata.uid as string)));
    await reconcileOne(ctx.deps, d, owned, pods);
    if (d.status?.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'ReplicaSetUpdated')) {
      // A rollout in progress: its deadline and minReadySeconds are time-driven.
      ctx.wakeAt(ctx.deps.clock() + 10_000);
    }
  });
}

/** `owned`: the Deployment's ReplicaSets; `allPods`: their pods. */
async function reconcileOne(deps: Deps, d: Deployment, owned: ReplicaSet[], allPods: Pod[]): Promise<void> {
  const ns = d.metadata.namespace as string;
  const hash = templateHash(d.spec.template);
  let newRS = owned.find((rs) => rs.metadata.labels?.[HASH_LABEL] === hash);
  const oldRSes = owned.filter((rs) => rs !== newRS).sort(byRevision);
  const maxRevision = Math.max(0, ...owned.map(revisionOf));

  if (!newRS) {
    if (d.spec.paused) return writeStatus(deps, d, owned, allPods, undefined);
    newRS = await createReplicaSet(deps, d, hash, maxRevision + 1);
  } else if (revisionOf(newRS) < maxRevision) {
    // A rollback to an older template: that ReplicaSet becomes the newest revision again.
    newRS = await saveReplicaSet(deps, {
      ...newRS,
      metadata: {
        ...newRS.metadata,
        annotations: {
          ...newRS.metadata.annotations,
          ...changeCauseOf(d),
          [REVISION_ANNOTATION]: String(maxRevision + 1),
        },
      },
    });
  }

  const podsOf = (rs: ReplicaSet) => allPods.filter((p) => p.metadata.namespace === ns && isOwnedBy(p, rs));
  const minReady = d.spec.minReadySeconds ?? 0;
  const now = deps.clock();
  const state: RolloutState = {
    deployment: d,
    newRS,
    oldRSes,
    available: new Map(),
    active: new Map(),
    terminating: new Map(),
  };
  for (const rs of [newRS, ...oldRSes]) {
    const pods = podsOf(rs);
    const uid = rs.metadata.uid as string;
    state.active.set(uid, pods.filter(isActive).length);
    state.available.set(uid, pods.filter((p) => isActive(p) && isAvailable(p, minReady, now)).length);
    state.terminating.set(uid, pods.filter((p) => p.metadata.deletionTimestamp).length);
  }

  if (!d.spec.paused) {
    if (d.spec.strategy?.type === 'Recreate') await recreate(deps, state);
    else await rollingUpdate(deps, state);
    await cleanupHistory(deps, d, state);
  }
  await writeStatus(deps, d, [state.newRS, ...state.oldRSes], allPods, state.newRS);
}

async function rollingUpdate(deps: Deps, s: RolloutState): Promise<void> {
  const desired = s.deployment.spec.replicas ?? 1;
  const ru = s.deployment.spec.strategy?.rollingUpdate;
  const maxSurge = resolveIntOrPercent(ru?.maxSurge ?? '25%', desired, true);
  let maxUnavailable = resolveIntOrPercent(ru?.maxUnavailable ?? '25%', desired, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  const total = [s.newRS, ...s.oldRSes].reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);

  // Scale the new ReplicaSet up as far as the surge allows.
  const newReplicas = s.newRS.spec.replicas ?? 0;
  if (newReplicas > desired) {
    await scale(deps, s, s.newRS, desired);
  } else if (newReplicas < desired) {
    const room = Math.min(desired + maxSurge - total, desired - newReplicas);
    if (room > 0) await scale(deps, s, s.newRS, newReplicas + room);
  }

  // Scale old ReplicaSets down while at least desired - maxUnavailable pods stay available
  // (Kubernetes' reconcileOldReplicaSets): first the old pods that are not available anyway,
  // then available ones within the budget, oldest revision first.
  const minAvailable = desired - maxUnavailable;
  const availableOf = (rs: ReplicaSet) =>
    Math.min(rs.spec.replicas ?? 0, s.available.get(rs.metadata.uid as string) ?? 0);
  const newUnavailable = Math.max(0, (s.newRS.spec.replicas ?? 0) - availableOf(s.newRS));
  const replicasNow = () => [s.newRS, ...s.oldRSes].reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);
  let cleanup = replicasNow() - minAvailable - newUnavailable;
  for (const rs of [...s.oldRSes]) {
    if (cleanup <= 0) break;
    const replicas = rs.spec.replicas ?? 0;
    const unhealthy = replicas - availableOf(rs);
    if (unhealthy <= 0) continue;
    const cut = Math.min(cleanup, unhealthy);
    cleanup -= cut;
    await scale(deps, s, rs, replicas - cut);
  }
  const availableTotal = [s.newRS, ...s.oldRSes].reduce((n, rs) => n + availableOf(rs), 0);
  let budget = availableTotal - minAvailable;
  for (const rs of [...s.oldRSes]) {
    if (budget <= 0) break;
    const replicas = rs.spec.replicas ?? 0;
    if (replicas === 0) continue;
    const cut = Math.min(replicas, budget);
    budget -= cut;
    await scale(deps, s, rs, replicas - cut);
  }
}

async function recreate(deps: Deps, s: RolloutState): Promise<void> {
  const desired = s.deployment.spec.replicas ?? 1;
  let oldRunning = false;
  for (const rs of s.oldRSes) {
    const uid = rs.metadata.uid as string;
    if ((rs.spec.replicas ?? 0) > 0) await scale(deps, s, rs, 0);
    if ((s.active.get(uid) ?? 0) > 0 || (s.terminating.get(uid) ?? 0) > 0) oldRunning = true;
  }
  // Only when every old pod is gone does the new ReplicaSet start.
  if (!oldRunning && (s.newRS.spec.replicas ?? 0) !== desired) await scale(deps, s, s.newRS, desired);
}

async function scale(deps: Deps, s: RolloutState, rs: ReplicaSet, replicas: number): Promise<void> {
  const from = rs.spec.replicas ?? 0;
  if (from === replicas) return;
  const saved = await saveReplicaSet(deps, { ...rs, spec: { ...rs.spec, replicas } });
  if (rs === s.newRS) s.newRS = saved;
  else s.oldRSes = s.oldRSes.map((o) => (o === rs ? saved : o));
  const verb = replicas > from ? 'up' : 'down';
  await recordEvent(
    deps,
    s.deployment,
    'Normal',
    'ScalingReplicaSet',
    `Scaled ${verb} replica set ${rs.metadata.name} from ${from} to ${replicas}`,
    {
      component: 'deployment-controller',
    },
  );
}

async function createReplicaSet(deps: Deps, d: Deployment, hash: string, revision: number): Promise<ReplicaSet> {
  const labels = { ...d.spec.template.metadata?.labels, [HASH_LABEL]: hash };
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace as string,
      labels,
      annotations: { ...changeCauseOf(d), [REVISION_ANNOTATION]: String(revision) },
      ownerReferences: [ownerReferenceTo(d)],
    },
    spec: {
      replicas: 0,
      minReadySeconds: d.spec.minReadySeconds ?? 0,
      selector: {
        ...d.spec.selector,
        matchLabels: { ...d.spec.selector.matchLabels, [HASH_LABEL]: hash },
      },
      template: { ...d.spec.template, metadata: { ...d.spec.template.metadata, labels } },
    },
  };
  try {
    return await deps.store.create(rs);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    return (await deps.store.get<ReplicaSet>({
      kind: 'ReplicaSet',
      namespace: rs.metadata.namespace,
      name: rs.metadata.name,
    })) as ReplicaSet;
  }
}

async function saveReplicaSet(deps: Deps, rs: ReplicaSet): Promise<ReplicaSet> {
  return deps.store.update(rs);
}

/** Old ReplicaSets at zero replicas beyond revisionHistoryLimit are deleted, oldest first. */
async function cleanupHistory(deps: Deps, d: Deployment, s: RolloutState): Promise<void> {
  const limit = d.spec.revisionHistoryLimit ?? 10;
  const idle = s.oldRSes.filter(
    (rs) =>
      (rs.spec.replicas ?? 0) === 0 &&
      (s.active.get(rs.metadata.uid as string) ?? 0) === 0 &&
      (s.terminating.get(rs.metadata.uid as string) ?? 0) === 0,
  );
  const excess = idle.length - limit;
  for (const rs of idle.slice(0, Math.max(0, excess))) {
    await deps.store
      .delete({ kind: 'ReplicaSet', namespace: rs.metadata.namespace as string, name: rs.metadata.name })
      .catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    s.oldRSes = s.oldRSes.filter((o) => o !== rs);
  }
}

function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0);
}

/** Oldest revision first: the oldest are scaled down first. */
function byRevision(a: ReplicaSet, b: ReplicaSet): number {
  return revisionOf(a) - revisionOf(b);
}

async function writeStatus(
  deps: Deps,
  d: Deployment,
  sets: ReplicaSet[],
  pods: Pod[],
  newRS: ReplicaSet | undefined,
): Promise<void> {
  const status = deploymentStatus(d, sets, pods, newRS, deps.clock());
  if (!status) return;
  await deps.store.update({ ...d, status });
}

/** `kubernetes.io/change-cause` travels from the Deployment to the ReplicaSet of its template (`rollout history`). */
function changeCauseOf(d: Deployment): Record<string, string> {
  const cause = d.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return cause === undefined ? {} : { [CHANGE_CAUSE_ANNOTATION]: cause };
}
