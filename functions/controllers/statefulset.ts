/**
 * StatefulSet controller, after Kubernetes' stateful_set_control.go: pods `NAME-0..N-1` (from
 * `ordinals.start`), each with its claims (`TEMPLATE-POD`, made before the pod and kept after it).
 *
 * One pass per set: (1) keep a ControllerRevision per template (the update revision; the current
 * one is the revision the pods were at before the template changed); (2) remove failed pods, so they
 * come back; (3) create the missing ordinals in order — OrderedReady waits until each pod is Running,
 * Ready and available (minReadySeconds) before the next, Parallel does not; (4) remove ordinals
 * beyond the replica count, highest first (one at a time for OrderedReady), giving their claims to the
 * pod when `whenScaled: Delete` so the garbage collector removes them with it; (5) RollingUpdate:
 * delete the highest-ordinal pod at an old revision down to `partition`, one at a time, waiting for
 * the replacement to be ready; OnDelete leaves them for the user; (6) status.
 */
import type { ControllerRevision, PersistentVolumeClaim, Pod, StatefulSet, StatefulSetStatus } from '../../schemas';
import { admitControllerPod } from '../admission';
import type { Deps } from '../deps';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { compileSelectorObject } from '../store/selector';
import type { OwnerReference } from '../store/types';
import { type PassContext, reconcileEach, standaloneContext } from './controller';
import {
  claimName,
  newRevision,
  ordinalOf,
  podName,
  revisionName,
  revisionOf,
  statefulClaim,
  statefulPod,
  templateOf,
} from './statefulset-pods';
import { isAvailable, isReady, ownerReferenceTo, sameJson } from './util';

const SOURCE = { component: 'statefulset-controller' };

export async function reconcileStatefulSets(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const sets = (await ctx.snapshot.list<StatefulSet>('StatefulSet')).filter((s) => !s.metadata.deletionTimestamp);
  await reconcileEach(ctx, SOURCE.component, sets, (sts) => reconcileOne(ctx, sts));
}

interface SetState {
  sts: StatefulSet;
  updateRevision: string;
  currentRevision: string;
  revisions: ControllerRevision[];
}

async function reconcileOne(ctx: PassContext, sts: StatefulSet): Promise<void> {
  // A selector that cannot be read fails this set before any write.
  compileSelectorObject(sts.spec.selector);
  const state = await syncRevisions(ctx, sts);
  const owned = await ctx.snapshot.ownedBy<Pod>('Pod', sts.metadata.uid as string);
  const start = sts.spec.ordinals?.start ?? 0;
  const replicas = sts.spec.replicas ?? 1;
  const inRange = (o: number | undefined) => o !== undefined && o >= start && o < start + replicas;
  const byOrdinal = new Map<number, Pod>();
  for (const p of owned) {
    const o = ordinalOf(sts, p);
    if (o !== undefined) byOrdinal.set(o, p);
  }
  const ordered = (sts.spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
  const now = ctx.deps.clock();
  const minReady = sts.spec.minReadySeconds ?? 0;
  const healthy = (p: Pod) =>
    !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && isAvailable(p, minReady, now);
  noteMinReady(ctx, [...byOrdinal.values()], minReady, now);

  // (2) a failed pod is removed; its ordinal is made again below, on a later pass.
  for (const p of byOrdinal.values())
    if ((p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded') && !p.metadata.deletionTimestamp)
      await removePod(ctx, sts, p, true);

  // (3) create or wait, ordinal by ordinal.
  let blocked = false;
  for (let o = start; o < start + replicas; o++) {
    const pod = byOrdinal.get(o);
    if (!pod) {
      if (!(await ensureClaims(ctx, sts, podName(sts, o)))) {
        blocked = true;
        if (ordered) break;
        continue;
      }
      await createPod(ctx, state, o, start);
      if (ordered) {
        blocked = true;
        break;
      }
      continue;
    }
    if (ordered && !healthy(pod)) {
      blocked = true;
      break;
    }
  }

  // (4) scale down, highest ordinal first.
  const condemned = [...byOrdinal.entries()].filter(([o]) => !inRange(o)).sort(([a], [b]) => b - a);
  if (condemned.length > 0 && !(ordered && blocked)) {
    const terminating = condemned.some(([, p]) => p.metadata.deletionTimestamp);
    for (const [, p] of condemned) {
      if (p.metadata.deletionTimestamp) continue;
      if (ordered && terminating) break;
      await giveClaimsToPod(ctx, sts, p);
      await removePod(ctx, sts, p, false);
      if (ordered) break;
    }
  }

  // (5) rolling update from the highest ordinal down to the partition.
  const strategy = sts.spec.updateStrategy ?? {};
  if (!blocked && condemned.length === 0 && (strategy.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const partition = strategy.rollingUpdate?.partition ?? 0;
    for (let o = start + replicas - 1; o >= start + partition; o--) {
      const pod = byOrdinal.get(o);
      if (!pod || pod.metadata.deletionTimestamp) break;
      if (revisionOf(pod) !== state.updateRevision) {
        await removePod(ctx, sts, pod, false);
        break;
      }
      if (!healthy(pod)) break;
    }
  }
  await updateStatus(
    ctx,
    state,
    (await ctx.snapshot.ownedBy<Pod>('Pod', sts.metadata.uid as string)).filter((p) => inRange(ordinalOf(sts, p))),
    healthy,
  );
}

/** The update revision's ControllerRevision exists; history beyond revisionHistoryLimit is trimmed. */
async function syncRevisions(ctx: PassContext, sts: StatefulSet): Promise<SetState> {
  const deps = ctx.deps;
  let revisions = await ctx.snapshot.ownedBy<ControllerRevision>('ControllerRevision', sts.metadata.uid as string);
  const updateRevision = revisionName(sts, sts.spec.template);
  if (!revisions.some((r) => r.metadata.name === updateRevision)) {
    const next = Math.max(0, ...revisions.map((r) => r.revision)) + 1;
    await deps.store.create(newRevision(sts, next));
    revisions = await ctx.snapshot.ownedBy<ControllerRevision>('ControllerRevision', sts.metadata.uid as string);
  }
  const currentRevision =
    sts.status?.currentRevision && revisions.some((r) => r.metadata.name === sts.status?.currentRevision)
      ? sts.status.currentRevision
      : updateRevision;
  const limit = sts.spec.revisionHistoryLimit ?? 10;
  const old = revisions
    .filter((r) => r.metadata.name !== updateRevision && r.metadata.name !== currentRevision)
    .sort((a, b) => a.revision - b.revision);
  for (const r of old.slice(0, Math.max(0, old.length - limit)))
    await deps.store.delete({
      kind: 'ControllerRevision',
      namespace: r.metadata.namespace as string,
      name: r.metadata.name,
    });
  return { sts, updateRevision, currentRevision, revisions };
}

/** Ordinals below the partition are made at the current revision, the others at the update one. */
async function createPod(ctx: PassContext, state: SetState, ordinal: number, start: number): Promise<void> {
  const { sts } = state;
  if (ctx.takeCreates(SOURCE.component, 1) === 0) {
    ctx.wakeAt(ctx.deps.clock() + 1_000);
    return;
  }
  const partition = sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  const rollingUpdate = (sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
  let revision = state.updateRevision;
  let template = sts.spec.template;
  const current = state.revisions.find((r) => r.metadata.name === state.currentRevision);
  const currentTemplate = current ? templateOf(current) : undefined;
  if ((!rollingUpdate || ordinal < start + partition) && currentTemplate) {
    revision = state.currentRevision;
    template = currentTemplate;
  }
  const pod = statefulPod(sts, ordinal, template, revision);
  try {
    await admitControllerPod(ctx.deps, pod);
    await ctx.deps.store.create(pod);
  } catch (err) {
    await recordEvent(
      ctx.deps,
      sts,
      'Warning',
      'FailedCreate',
      `create Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} failed error: ${(err as Error).message}`,
      SOURCE,
    );
    throw err;
  }
  await recordEvent(
    ctx.deps,
    sts,
    'Normal',
    'SuccessfulCreate',
    `create Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`,
    SOURCE,
  );
}

/** Makes the pod's missing claims; false while one of them is being deleted (the pod must wait for it to go). */
async function ensureClaims(ctx: PassContext, sts: StatefulSet, pod: string): Promise<boolean> {
  const ns = sts.metadata.namespace as string;
  for (const t of sts.spec.volumeClaimTemplates ?? []) {
    const name = claimName(t.metadata.name as string, pod);
    const have = await ctx.deps.store.get<PersistentVolumeClaim>({
      kind: 'PersistentVolumeClaim',
      namespace: ns,
      name,
    });
    if (have?.metadata.deletionTimestamp) return false;
    if (have) {
      await reclaimForOrdinal(ctx, sts, have);
      continue;
    }
    await ctx.deps.store.create(statefulClaim(sts, t, pod));
    await recordEvent(
      ctx.deps,
      sts,
      'Normal',
      'SuccessfulCreate',
      `create Claim ${name} Pod ${pod} in StatefulSet ${sts.metadata.name} success`,
      SOURCE,
    );
  }
  return true;
}

/**
 * The ordinal is wanted again (a scale up) before the collector removed the claim a condemned pod
 * was given: the claim goes back to the set's retention policy, as Kubernetes' claim owner update does.
 */
async function reclaimForOrdinal(ctx: PassContext, sts: StatefulSet, claim: PersistentVolumeClaim): Promise<void> {
  const refs = claim.metadata.ownerReferences ?? [];
  const kept = refs.filter((r) => r.kind !== 'Pod');
  if (kept.length === refs.length) return;
  if (
    sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete' &&
    !kept.some((r) => r.uid === sts.metadata.uid)
  )
    kept.push({ ...ownerReferenceTo(sts), controller: false });
  const { ownerReferences: _, ...rest } = claim.metadata;
  await ctx.deps.store.update({ ...claim, metadata: kept.length > 0 ? { ...rest, ownerReferences: kept } : rest });
}

/** `whenScaled: Delete`: the condemned pod owns its claims, so they go with it (Kubernetes does the same). */
async function giveClaimsToPod(ctx: PassContext, sts: StatefulSet, pod: Pod): Promise<void> {
  if (sts.spec.persistentVolumeClaimRetentionPolicy?.whenScaled !== 'Delete') return;
  const ns = sts.metadata.namespace as string;
  for (const t of sts.spec.volumeClaimTemplates ?? []) {
    const ref = {
      kind: 'PersistentVolumeClaim',
      namespace: ns,
      name: claimName(t.metadata.name as string, pod.metadata.name),
    };
    const claim = await ctx.deps.store.get<PersistentVolumeClaim>(ref);
    if (!claim || claim.metadata.ownerReferences?.some((r) => r.uid === pod.metadata.uid)) continue;
    const owner: OwnerReference = {
      apiVersion: 'v1',
      kind: 'Pod',
      name: pod.metadata.name,
      uid: pod.metadata.uid as string,
      controller: false,
    };
    // The set's reference gives way to the pod's: the collector removes an object only when all its owners are gone.
    const others = (claim.metadata.ownerReferences ?? []).filter((r) => r.uid !== sts.metadata.uid);
    await ctx.deps.store.update({ ...claim, metadata: { ...claim.metadata, ownerReferences: [...others, owner] } });
  }
}

async function removePod(ctx: PassContext, sts: StatefulSet, pod: Pod, force: boolean): Promise<void> {
  const ref = { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name };
  await deletePod(ctx.deps, ref, force ? { force: true } : {});
  await recordEvent(
    ctx.deps,
    sts,
    'Normal',
    'SuccessfulDelete',
    `delete Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`,
    SOURCE,
  );
}

/** A ready pod becomes available minReadySeconds later, with no write to say so. */
function noteMinReady(ctx: PassContext, pods: Pod[], minReady: number, now: number): void {
  if (minReady <= 0) return;
  for (const p of pods) {
    const since = Date.parse(p.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '');
    if (isReady(p) && now - since < minReady * 1000) ctx.wakeAt(since + minReady * 1000);
  }
}

async function updateStatus(
  ctx: PassContext,
  state: SetState,
  pods: Pod[],
  healthy: (p: Pod) => boolean,
): Promise<void> {
  const { sts, updateRevision } = state;
  const live = pods.filter((p) => !p.metadata.deletionTimestamp);
  const updated = live.filter((p) => revisionOf(p) === updateRevision).length;
  const replicas = sts.spec.replicas ?? 1;
  const readyUpdated = live.filter((p) => revisionOf(p) === updateRevision && isReady(p)).length;
  // The rollout is done when every replica runs the update revision and is ready: it becomes current.
  const currentRevision =
    updated === replicas && readyUpdated === replicas && live.length === replicas
      ? updateRevision
      : state.currentRevision;
  const status: StatefulSetStatus = {
    observedGeneration: sts.metadata.generation ?? 1,
    replicas: live.length,
    readyReplicas: live.filter(isReady).length,
    currentReplicas: live.filter((p) => revisionOf(p) === currentRevision).length,
    updatedReplicas: updated,
    availableReplicas: live.filter(healthy).length,
    currentRevision,
    updateRevision,
    collisionCount: sts.status?.collisionCount ?? 0,
  };
  if (sameJson(status, sts.status)) return;
  await ctx.deps.store.update({ ...sts, status });
}
