/**
 * Retirement, cordon and drain: a retiring node is cordoned and its pods evicted through the same
 * path as the API's Eviction subresource (functions/eviction.ts), so PodDisruptionBudgets hold:
 * an eviction a budget refuses is tried again at every pass, for as long as the budget refuses
 * (a Warning `EvictionBlocked` event on the pool says which pod waits). DaemonSet pods are left,
 * as `kubectl drain --ignore-daemonsets` leaves them: they go with the node. Once the other pods
 * are gone the machine is deleted, then the Node and its credentials; pods that were evicted but
 * are still not gone `retireTimeoutMs` after (a node that cannot confirm) are removed with it.
 * A machine that never registered is deleted at once (nothing runs there). Retiring a machine the
 * pool launched at its current generation within `earlyRetirementMs` is churn (the loop of issue
 * 17 looked exactly like that).
 */
import type { Node, Pod } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { InternalError, isConflict, isNotFound, isTooManyRequests } from '../../errors';
import { recordEvent } from '../../events';
import { evictPod } from '../../eviction';
import { deletePod, isTerminating } from '../../pod-deletion';
import { ignoreNotFound } from '../../store/retry';
import {
  CLOUD_LABEL,
  DEFAULTS,
  generationOf,
  isNodeReady,
  type Machine,
  type PoolPass,
  RETIRING_ANNOTATION,
} from './context';
import { deleteBootstrap, deleteNodeCredentials } from './credentials';

export async function startRetiring(pass: PoolPass, m: Machine, reason: string): Promise<void> {
  const { deps, pool } = pass;
  noteEarlyRetirement(pass, m, reason);
  const node = m.node;
  if (!node) {
    await deleteMachine(pass, m);
    await deleteBootstrap(deps, m.instance.name);
    await recordEvent(deps, pool, 'Normal', reason, `deleted ${m.instance.name} (it had not registered)`);
    return;
  }
  const next: Node = {
    ...node,
    metadata: {
      ...node.metadata,
      annotations: { ...node.metadata.annotations, [RETIRING_ANNOTATION]: isoTime(pass.now) },
    },
    spec: { ...node.spec, unschedulable: true },
  };
  try {
    m.node = await deps.store.update(next);
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) return; // the next pass sees the fresh node
    throw err;
  }
  const drained = await drain(pass, node.metadata.name);
  await recordEvent(
    deps,
    pool,
    'Normal',
    reason,
    `retiring ${node.metadata.name}: cordoned, ${drained.evicting} pod(s) moving to other nodes`,
  );
  await noteBlocked(pass, node.metadata.name, drained);
}

interface DrainResult {
  /** Pods asked to stop (or already stopping). */
  evicting: number;
  /** Why evictions are refused for now (a budget allows no disruption), one line per pod. */
  blocked: string[];
}

/** Evicts the pods of a cordoned node that are not DaemonSet pods and not already terminating. */
async function drain(pass: PoolPass, nodeName: string): Promise<DrainResult> {
  const result: DrainResult = { evicting: 0, blocked: [] };
  for (const pod of await drainablePods(pass, nodeName)) {
    result.evicting++;
    if (isTerminating(pod)) continue;
    const ref = { namespace: pod.metadata.namespace as string, name: pod.metadata.name };
    try {
      await evictPod(pass.deps, ref);
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) continue;
      // 429 (the budget allows no disruption now) and 500 (two budgets select the pod): wait.
      if (!isTooManyRequests(err) && !(err instanceof InternalError)) throw err;
      result.blocked.push(`${ref.namespace}/${ref.name}: ${err.message}`);
    }
  }
  return result;
}

/** The pods retirement waits for: all but DaemonSet pods, which leave with the node. */
async function drainablePods(pass: PoolPass, nodeName: string): Promise<Pod[]> {
  const pods = (await pass.deps.store.list<Pod>('Pod', { nodeName })).items;
  return pods.filter((p) => p.metadata.ownerReferences?.find((o) => o.controller)?.kind !== 'DaemonSet');
}

/** Finishes what retiring started: deletes machines whose pods are gone (or that waited long enough). */
export async function finishRetirements(pass: PoolPass): Promise<void> {
  const timeout = DEFAULTS.retireTimeoutMs;
  for (const m of pass.machines) {
    const node = m.node;
    const since = Date.parse(node?.metadata.annotations?.[RETIRING_ANNOTATION] ?? '');
    if (!node || Number.isNaN(since)) continue;
    const waiting = await drainablePods(pass, node.metadata.name);
    if (waiting.length > 0) {
      const drained = await drain(pass, node.metadata.name);
      await noteBlocked(pass, node.metadata.name, drained);
      // A budget that refuses is waited for however long; an evicted pod that never goes, not.
      const evicted = await drainablePods(pass, node.metadata.name);
      if (drained.blocked.length > 0 || pass.now - lastStart(since, evicted) < timeout) continue;
    }
    await deleteMachine(pass, m);
    // Whatever is left (DaemonSet pods, pods the node never confirmed) goes with the machine.
    for (const pod of (await pass.deps.store.list<Pod>('Pod', { nodeName: node.metadata.name })).items)
      await deletePod(
        pass.deps,
        { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name },
        { force: true },
      );
    await removeNode(pass, node.metadata.name);
  }
  // A NotReady node whose machine is gone (terminated outside ferry, or retired) goes too, as the
  // cloud node lifecycle controller of Kubernetes does it.
  const listed = new Set(pass.machines.map((m) => m.instance.name));
  for (const n of pass.nodes.values()) {
    const ready = isNodeReady(n);
    const cloud = n.metadata.labels?.[CLOUD_LABEL] ?? '';
    if (listed.has(n.metadata.name) || ready || !pass.cloudNames.has(cloud)) continue;
    await removeNode(pass, n.metadata.name);
  }
}

/** The later of the retirement's start and the last eviction of a pod still there. */
function lastStart(since: number, pods: Pod[]): number {
  const evicted = pods.map((p) => Date.parse(p.metadata.deletionTimestamp ?? '')).filter((t) => !Number.isNaN(t));
  return Math.max(since, ...evicted);
}

async function noteBlocked(pass: PoolPass, nodeName: string, drained: DrainResult): Promise<void> {
  if (drained.blocked.length === 0) return;
  await recordEvent(
    pass.deps,
    pass.pool,
    'Warning',
    'EvictionBlocked',
    `retiring ${nodeName} waits for a PodDisruptionBudget: ${drained.blocked.join('; ')}`,
  );
}

/** Machines launched but not registered within the deadline are deleted, as one turn of churn. */
export async function expireUnregistered(pass: PoolPass): Promise<void> {
  const deadline = pass.options.registrationTimeoutMs ?? DEFAULTS.registrationTimeoutMs;
  const late = pass.launches.filter((l) => !pass.nodes.has(l.name) && pass.now - Date.parse(l.launchedAt) >= deadline);
  if (late.length === 0) return;
  const names = new Set(late.map((l) => l.name));
  for (const m of pass.machines.filter((m) => names.has(m.instance.name) && !m.node)) {
    await deleteMachine(pass, m);
    await deleteBootstrap(pass.deps, m.instance.name);
  }
  pass.launches = pass.launches.filter((l) => !names.has(l.name));
  const message = `${[...names].join(', ')} did not register within ${Math.round(deadline / 1000)} s of launch: deleted`;
  pass.churn.push({ reason: 'RegistrationTimeout', message });
  await recordEvent(pass.deps, pass.pool, 'Warning', 'RegistrationTimeout', message);
}

async function deleteMachine(pass: PoolPass, m: Machine): Promise<void> {
  await m.provider.deleteInstance(m.instance.id);
  pass.gone.add(m.instance.id);
  pass.launches = pass.launches.filter((l) => l.name !== m.instance.name);
}

/** Deletes a Node and the credentials issued to it. */
async function removeNode(pass: PoolPass, name: string): Promise<void> {
  await ignoreNotFound(pass.deps.store.delete({ kind: 'Node', name }));
  await deleteNodeCredentials(pass.deps, name);
  pass.nodes.delete(name);
}

function noteEarlyRetirement(pass: PoolPass, m: Machine, reason: string): void {
  const launch = pass.launches.find((l) => l.name === m.instance.name);
  if (!launch || launch.generation !== generationOf(pass.pool)) return;
  const age = pass.now - Date.parse(launch.launchedAt);
  if (age >= DEFAULTS.earlyRetirementMs) return;
  pass.churn.push({
    reason: 'EarlyRetirement',
    message: `${m.instance.name} retired (${reason}) ${Math.round(age / 1000)} s after its launch, with the spec unchanged`,
  });
}
