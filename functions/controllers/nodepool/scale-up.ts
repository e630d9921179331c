/**
 * Brings the pool's Cloud up to the desired count, within the churn guard:
 * - never more machines, in every Cloud together (retiring ones and launches not listed yet
 *   included), than `desiredNodes + maxSurge`;
 * - nothing while the pool backs off or is Degraded (churn.ts);
 * - at most MAX_NEW_NODES_PER_PASS (../autoscaler/settings.ts) a controller pass, over every pool
 *   together, autoscaled or not: the rest of a large gap is made by the passes after;
 * - launches are recorded in the pool's status *before* the cloud is called, in a write that
 *   carries the resourceVersion read: of two passes racing (Lambda runs them), one records and
 *   creates, the other gets a conflict and creates nothing. A create retried under the same name
 *   is idempotent in every adapter, so a pass that dies between the record and the call is safe.
 * Each machine goes to the zone of `spec.zones` with the fewest (or the one the autoscaler chose
 * for it: a pending pod needs that zone); a zone without capacity is skipped for the next one. Before the cloud is called, the provider is asked what a machine of the
 * pool's type is, and its bootstrap token records that: the node may not claim to be bigger.
 */
import { randomBytes } from 'node:crypto';
import {
  type CloudProvider,
  type Instance,
  InsufficientCapacityError,
  type MachineCapacity,
} from '../../../providers/types';
import type { NodePool, NodePoolLaunch } from '../../../schemas';
import { isoTime } from '../../../schemas/time';
import { isConflict } from '../../errors';
import { recordEvent, recordEventOnce } from '../../events';
import { churnOf, creationHold } from './churn';
import { cloudRef } from './cloud-config';
import { currentMachines, generationOf, machineLabels, type PoolPass, present, unlistedLaunches } from './context';
import { deleteBootstrap, issueBootstrap } from './credentials';

export async function scaleUp(pass: PoolPass): Promise<void> {
  // Churn seen earlier in this pass backs off from now (the status write records it).
  if (pass.ambiguous || pass.churn.length > 0) return;
  const { deps, pool, cloud } = pass;
  const cloudName = cloud.metadata.name;
  const current = currentMachines(pass);
  const unlisted = unlistedLaunches(pass);
  const missing = pass.desired - current.length - unlisted.filter((l) => l.cloud === cloudName).length;
  if (missing <= 0) return;
  const hold = creationHold(churnOf(pool.status?.churn, generationOf(pool)), pass.now);
  if (hold) {
    await recordEventOnce(deps, pool, 'Warning', 'CreationHeld', `not creating ${missing} node(s): ${hold}`);
    return;
  }
  const ceiling = pass.desired + (pool.spec.maxSurge ?? 1);
  const room = ceiling - present(pass).length - unlisted.length;
  if (room <= 0) return; // the surge is used up: retirements make room
  const count = Math.min(missing, room, pass.budget.creates);
  if (count <= 0) return; // this pass made its share of machines: the next makes more
  const zones = pool.spec.zones ?? [];
  if (zones.length === 0) {
    await recordEventOnce(deps, pool, 'Warning', 'NoZones', 'spec.zones: name at least one zone to create nodes in');
    return;
  }

  const names = Array.from({ length: count }, () => `${pool.metadata.name}-${randomBytes(3).toString('hex')}`);
  const records: NodePoolLaunch[] = names.map((name) => ({
    name,
    cloud: cloudName,
    generation: generationOf(pool),
    launchedAt: isoTime(pass.now),
  }));
  if (!(await reserve(pass, records))) return;
  pass.budget.creates -= count; // spent when reserved: a create that fails is churn, not a refund

  const perZone = new Map(zones.map((z) => [z, current.filter((m) => m.instance.zone === z).length]));
  const full = new Set<string>();
  for (const [i, name] of names.entries()) {
    const instance = await createOne(pass, name, zones, perZone, full, pass.zoneHints?.[i]);
    if (!instance) {
      // Not made: its record goes, and so do the rest when a create failed or no zone is left.
      const failed = pass.churn.some((c) => c.reason === 'CreateFailed');
      const dropped = new Set(failed || full.size === zones.length ? names.slice(i) : [name]);
      pass.launches = pass.launches.filter((l) => !dropped.has(l.name));
      if (failed) break;
      if (full.size === zones.length) {
        pass.churn.push({ reason: 'NoCapacity', message: `no zone of ${zones.join(', ')} has capacity` });
        break;
      }
      continue;
    }
    perZone.set(instance.zone, (perZone.get(instance.zone) ?? 0) + 1);
    pass.launches = pass.launches.map((l) => (l.name === name ? { ...l, zone: instance.zone } : l));
    pass.machines.push({ instance, node: undefined, cloud: cloudName, provider: pass.provider });
    await recordEvent(
      deps,
      pass.pool,
      'Normal',
      'CreatedNode',
      `created ${instance.name} (${pool.spec.instanceType} in ${instance.zone}, Cloud "${cloudName}")`,
    );
  }
}

/** Records the launches in the pool's status; false when another writer got there first. */
async function reserve(pass: PoolPass, records: NodePoolLaunch[]): Promise<boolean> {
  const launches = [...pass.launches, ...records];
  const next: NodePool = { ...pass.pool, status: { ...pass.pool.status, launches } };
  try {
    pass.pool = await pass.deps.store.update(next);
  } catch (err) {
    if (isConflict(err)) return false; // another pass is acting on this pool: it decides
    throw err;
  }
  pass.launches = launches;
  for (const r of records) pass.launchesRead.add(r.name);
  return true;
}

/** One machine, trying zones by how few machines they have; undefined if none could take it. */
async function createOne(
  pass: PoolPass,
  name: string,
  zones: string[],
  perZone: Map<string, number>,
  full: Set<string>,
  hint?: string,
): Promise<Instance | undefined> {
  const { deps, pool, cloud, options } = pass;
  // The autoscaler's zone first (the pod it is for needs that zone), then the fewest-first order.
  const candidates = zones
    .filter((z) => !full.has(z))
    .sort((a, b) => Number(b === hint) - Number(a === hint) || (perZone.get(a) ?? 0) - (perZone.get(b) ?? 0));
  for (const zone of candidates) {
    const labels = machineLabels(pool, cloud.metadata.name, zone);
    const expected = await machineCapacity(pass.provider, pool.spec.instanceType, zone);
    const token = await issueBootstrap(
      deps,
      name,
      pool.metadata.name,
      options.bootstrapTtlSeconds ?? 3600,
      labels,
      expected,
    );
    try {
      return await pass.provider.createInstance({
        name,
        cluster: options.cluster,
        cloud: cloudRef(cloud),
        pool: pool.metadata.name,
        instanceType: pool.spec.instanceType,
        zone,
        ...(pool.spec.image ? { image: pool.spec.image } : {}),
        tags: {},
        bootstrap: {
          apiUrl: options.apiUrl,
          token,
          labels,
          ...(options.clusterDomain ? { clusterDomain: options.clusterDomain } : {}),
        },
      });
    } catch (err) {
      await deleteBootstrap(deps, name);
      if (err instanceof InsufficientCapacityError) {
        full.add(zone);
        await recordEvent(deps, pool, 'Warning', 'InsufficientCapacity', err.message);
        continue;
      }
      const message = `creating ${name} in ${zone}: ${(err as Error).message ?? String(err)}`;
      pass.churn.push({ reason: 'CreateFailed', message });
      await recordEvent(deps, pool, 'Warning', 'CreateFailed', message);
      return undefined; // not again this pass: the back-off decides when
    }
  }
  return undefined;
}

/** What the provider says the machine is; undefined (unknown: registration's bounds apply) if it cannot say. */
export async function machineCapacity(
  provider: CloudProvider,
  instanceType: string,
  zone: string,
): Promise<MachineCapacity | undefined> {
  try {
    return await provider.machineCapacity?.(instanceType, zone);
  } catch {
    return undefined; // the seam promises no throw; an adapter that breaks it must not stop the pool
  }
}
