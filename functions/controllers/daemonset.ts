/**
 * DaemonSet controller: one pod per eligible node (daemonset-nodes.ts says which), kept as
 * Kubernetes' daemon controller keeps it, in the order of its syncDaemonSet:
 *
 * 1. manage: a node that should run the pod and has none gets one (a node that joined is covered
 *    in the same pass); a node that may no longer run it (its labels or taints changed) loses it;
 *    a node with several keeps one (extraPods); a failed pod is deleted so the next round makes a
 *    new one; pods for a node that is gone are removed at once (no agent will confirm them).
 *    While a node's old pod is still terminating no new one is made there (host ports, volumes).
 * 2. update: RollingUpdate replaces old-revision pods within maxUnavailable / maxSurge
 *    (daemonset-rollout.ts); OnDelete makes new-revision pods only where a pod was deleted.
 * 3. status: desired/current/ready/available/updated/misscheduled counts, observedGeneration.
 *
 * Creates go through the pass's create budget in slow-start batches (create-batches.ts), and each
 * DaemonSet is reconciled on its own (reconcileEach): one that fails gets a Warning Event.
 * The revision of a pod is its `controller-revision-hash` label, a hash of the template
 * (ferry keeps no ControllerRevision objects).
 */
import type { DaemonSet, DaemonSetStatus, Node, Pod } from '../../schemas';
import { findCondition } from '../../schemas/conditions';
import { admitControllerPod } from '../admission';
import { recordEvent } from '../events';
import { deletePod } from '../pod-deletion';
import { compileSelectorObject } from '../store/selector';
import { type PassContext, reconcileEach } from './controller';
import { slowStartBatch } from './create-batches';
import { daemonPod, nodeVerdict, REVISION_HASH_LABEL, targetNode } from './daemonset-nodes';
import { extraPods, maxSurgeOf, planRollingUpdate } from './daemonset-rollout';
import { isAvailable, isReady, sameJson, templateHash } from './util';

const SOURCE = { component: 'daemonset-controller' };

export async function reconcileDaemonSets(ctx: PassContext): Promise<void> {
  const sets = (await ctx.snapshot.list<DaemonSet>('DaemonSet')).filter((ds) => !ds.metadata.deletionTimestamp);
  if (sets.length === 0) return;
  const nodes = (await ctx.snapshot.list<Node>('Node')).filter((n) => !n.metadata.deletionTimestamp);
  await reconcileEach(ctx, SOURCE.component, sets, (ds) => reconcileOne(ctx, ds, nodes));
}

interface Work {
  create: string[];
  /** Pod name -> the pod and whether to remove it without waiting for a node (its node is gone). */
  remove: Map<string, { pod: Pod; force: boolean }>;
}

async function reconcileOne(ctx: PassContext, ds: DaemonSet, nodes: Node[]): Promise<void> {
  compileSelectorObject(ds.spec.selector); // a selector the controller cannot read fails before any write
  const hash = templateHash(ds.spec.template);
  const pods = await ownedPods(ctx, ds);
  const work: Work = { create: [], remove: new Map() };
  const remove = (pod: Pod, force = false) => work.remove.set(pod.metadata.name, { pod, force });
  const surge = ds.spec.updateStrategy?.type !== 'OnDelete' && maxSurgeOf(ds, nodes.length) > 0;
  const running = new Map<string, Pod[]>();
  let desired = 0;

  const byNode = groupByNode(pods);
  const known = new Set(nodes.map((n) => n.metadata.name));
  for (const [name, list] of byNode)
    if (!known.has(name)) for (const p of list) if (!p.metadata.deletionTimestamp) remove(p, true);
  for (const p of byNode.get('') ?? []) remove(p, true);

  for (const node of nodes) {
    const name = node.metadata.name;
    const verdict = nodeVerdict(ds, node);
    if (verdict.shouldRun) desired++;
    const here = byNode.get(name) ?? [];
    const live = here.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed');
    for (const p of here) if (!p.metadata.deletionTimestamp && p.status?.phase === 'Failed') remove(p);
    if (!verdict.shouldContinueRunning) {
      for (const p of live) remove(p);
      continue;
    }
    if (verdict.shouldRun && here.length === 0) work.create.push(name);
    if (live.length > 1) for (const p of extraPods(live, hash, surge, isReady)) remove(p);
    // The rollout counts a node whose pod is still terminating as one without an available pod.
    if (here.length > 0) running.set(name, here);
  }

  // As Kubernetes' expectations: the rollout plans only from a state the manage step left alone,
  // so a pod it is about to create counts as the unavailable pod it will be.
  const settled = work.create.length === 0 && work.remove.size === 0;
  if (settled && (ds.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const plan = planRollingUpdate(ds, running, desired, hash, ctx.deps.clock());
    for (const p of plan.deletions) remove(p);
    work.create.push(...plan.surges);
  }
  await execute(ctx, ds, hash, work);
  await updateStatus(ctx, ds, nodes, hash);
}

async function ownedPods(ctx: PassContext, ds: DaemonSet): Promise<Pod[]> {
  return ctx.snapshot.ownedBy<Pod>('Pod', ds.metadata.uid as string);
}

/** Pods by the node they are for ('' for a pod that names none: not one this controller made). */
function groupByNode(pods: Pod[]): Map<string, Pod[]> {
  const out = new Map<string, Pod[]>();
  for (const p of pods) {
    const node = targetNode(p) ?? '';
    const list = out.get(node);
    if (list) list.push(p);
    else out.set(node, [p]);
  }
  return out;
}

async function execute(ctx: PassContext, ds: DaemonSet, hash: string, work: Work): Promise<void> {
  const deps = ctx.deps;
  const ns = ds.metadata.namespace as string;
  for (const { pod, force } of work.remove.values())
    await deletePod(deps, { kind: 'Pod', namespace: ns, name: pod.metadata.name }, force ? { force } : {});
  if (work.remove.size > 0)
    await recordEvent(deps, ds, 'Normal', 'SuccessfulDelete', `Deleted ${work.remove.size} pod(s)`, SOURCE);
  const nodes = [...new Set(work.create)];
  if (nodes.length === 0) return;
  const allowed = ctx.takeCreates(SOURCE.component, nodes.length);
  const queue = nodes.slice(0, allowed);
  const { created, error } = await slowStartBatch(queue.length, async () => {
    const pod = daemonPod(ds, queue.shift() as string, hash);
    await admitControllerPod(deps, pod);
    return deps.store.create(pod);
  });
  if (created > 0) await recordEvent(deps, ds, 'Normal', 'SuccessfulCreate', `Created ${created} pod(s)`, SOURCE);
  if (error) {
    const message = error instanceof Error ? error.message : String(error);
    await recordEvent(deps, ds, 'Warning', 'FailedCreate', `Error creating pod: ${message}`, SOURCE);
  }
  if (created < nodes.length) ctx.wakeAt(deps.clock() + 1_000);
}

/** Kubernetes' updateDaemonSetStatus: the oldest live daemon pod of each node speaks for it. */
async function updateStatus(ctx: PassContext, ds: DaemonSet, nodes: Node[], hash: string): Promise<void> {
  const now = ctx.deps.clock();
  const minReady = ds.spec.minReadySeconds ?? 0;
  const byNode = groupByNode((await ownedPods(ctx, ds)).filter((p) => !p.metadata.deletionTimestamp));
  const status: DaemonSetStatus = {
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    desiredNumberScheduled: 0,
    numberReady: 0,
    updatedNumberScheduled: 0,
    numberAvailable: 0,
    numberUnavailable: 0,
    observedGeneration: ds.metadata.generation ?? 1,
  };
  const count = (key: keyof DaemonSetStatus) => {
    (status[key] as number)++;
  };
  for (const node of nodes) {
    const pods = byNode.get(node.metadata.name) ?? [];
    if (!nodeVerdict(ds, node).shouldRun) {
      if (pods.length > 0) count('numberMisscheduled');
      continue;
    }
    count('desiredNumberScheduled');
    const pod = [...pods].sort((a, b) =>
      String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)),
    )[0];
    if (!pod) continue;
    count('currentNumberScheduled');
    if (isReady(pod)) {
      count('numberReady');
      if (isAvailable(pod, minReady, now)) count('numberAvailable');
      else wakeWhenAvailable(ctx, pod, minReady);
    }
    if (pod.metadata.labels?.[REVISION_HASH_LABEL] === hash) count('updatedNumberScheduled');
  }
  status.numberUnavailable = status.desiredNumberScheduled - (status.numberAvailable ?? 0);
  if (ds.status?.collisionCount !== undefined) status.collisionCount = ds.status.collisionCount;
  if (sameJson(status, ds.status)) return;
  await ctx.deps.store.update({ ...ds, status });
}

/** A ready pod becomes available minReadySeconds later, with no write to trigger a pass. */
function wakeWhenAvailable(ctx: PassContext, pod: Pod, minReady: number): void {
  const since = Date.parse(findCondition(pod, 'Ready')?.lastTransitionTime ?? '');
  if (!Number.isNaN(since)) ctx.wakeAt(since + minReady * 1000);
}
