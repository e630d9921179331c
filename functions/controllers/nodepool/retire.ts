/**
 * Retirement, cordon and drain: a retiring node is cordoned and its pods deleted gracefully (their
 * ReplicaSets recreate them on other nodes); once its pods are gone, or `retireTimeoutMs` passed,
 * the machine is deleted, then the Node and its credentials. A machine that never registered is
 * deleted at once (nothing runs there). Retiring a machine the pool launched at its current
 * generation within `earlyRetirementMs` is churn (the loop of issue 17 looked exactly like that).
 *
 * PodDisruptionBudgets do not exist in ferry yet (issue 16): draining deletes pods within the
 * pool's `maxUnavailable` budget, not through the Eviction API. Once PDBs exist, `drain` is where
 * evictions that respect them go.
 */
import type { Node, Pod } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { isConflict, isNotFound } from '../../errors';
import { recordEvent } from '../../events';
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
  const pods = await drain(pass, node.metadata.name);
  await recordEvent(
    deps,
    pool,
    'Normal',
    reason,
    `retiring ${node.metadata.name}: cordoned, ${pods} pod(s) moving to other nodes`,
  );
}

/** Deletes the pods of a cordoned node gracefully; returns how many were asked to stop. */
async function drain(pass: PoolPass, nodeName: string): Promise<number> {
  const pods = (await pass.deps.store.list<Pod>('Pod', { nodeName })).items;
  for (const pod of pods) {
    if (isTerminating(pod)) continue;
    await deletePod(pass.deps, { kind: 'Pod', namespace: pod.metadata.namespace as string, name: pod.metadata.name });
  }
  return pods.length;
}

/** Finishes what retiring started: deletes machines whose pods are gone (or that waited long enough). */
export async function finishRetirements(pass: PoolPass): Promise<void> {
  const timeout = DEFAULTS.retireTimeoutMs;
  for (const m of pass.machines) {
    const node = m.node;
    const since = Date.parse(node?.metadata.annotations?.[RETIRING_ANNOTATION] ?? '');
    if (!node || Number.isNaN(since)) continue;
    const pods = (await pass.deps.store.list<Pod>('Pod', { nodeName: node.metadata.name })).items;
    if (pods.length > 0 && pass.now - since < timeout) continue;
    await deleteMachine(pass, m);
    for (const pod of pods)
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
