/**
 * First step of a pass: find the pool's machines. Each Cloud is listed through its own provider,
 * which returns only the machines tagged with that Cloud's uid; a machine that says it belongs to
 * another Cloud is dropped too, so no pass ever deletes a machine of a Cloud it was not built for.
 * Clouds looked in: the pool's, the ones its Nodes are labelled with, and the ones `status.clouds`
 * remembers (where a machine may never have registered).
 */
import type { CloudProvider } from '../../../providers/types';
import type { Cloud } from '../../../schemas';
import { cloudConfig, cloudRef } from './cloud-config';
import { CLOUD_LABEL, DEFAULTS, type Machine, type PoolPass } from './context';

export async function discoverMachines(pass: PoolPass, clouds: Map<string, Cloud>): Promise<void> {
  const { pool, options } = pass;
  for (const n of pass.nodes.values()) {
    const c = n.metadata.labels?.[CLOUD_LABEL];
    if (c) pass.cloudNames.add(c);
  }
  for (const c of pool.status?.clouds ?? []) pass.cloudNames.add(c);

  const machines: Machine[] = [];
  const seen = new Map<CloudProvider, Set<string>>();
  for (const name of pass.cloudNames) {
    const cloud = clouds.get(name);
    if (!cloud) continue; // a deleted Cloud: its machines are left to its console
    const ref = cloudRef(cloud);
    const provider =
      name === pass.cloud.metadata.name
        ? pass.provider
        : await options.providerFor(await cloudConfig(pass.deps, cloud));
    const listed = await provider.listInstances({ cluster: options.cluster, cloud: ref, pool: pool.metadata.name });
    for (const instance of listed) {
      if (instance.state === 'terminated') continue;
      if (instance.cloudUid !== undefined && instance.cloudUid !== ref.uid) continue;
      // One machine listed by two Clouds: the provider cannot tell its Clouds apart, so no pass
      // may act on what it lists (the machine would be both kept and retired).
      const ids = seen.get(provider) ?? new Set<string>();
      seen.set(provider, ids);
      if (ids.has(instance.id)) {
        pass.churn.push({
          reason: 'AmbiguousListing',
          message: `machine ${instance.name} is listed by more than one Cloud (${[...pass.cloudNames].join(', ')}): the provider does not keep their machines apart`,
        });
        pass.ambiguous = true;
        continue;
      }
      ids.add(instance.id);
      machines.push({ instance, node: pass.nodes.get(instance.name), cloud: name, provider });
    }
  }
  pass.machines = machines;

  // Launch records: dropped once the machine has registered and settled, or was not listed in time.
  const listed = new Set(machines.map((m) => m.instance.name));
  pass.launches = (pool.status?.launches ?? []).filter((l) => {
    const age = pass.now - Date.parse(l.launchedAt);
    if (!listed.has(l.name)) return age < DEFAULTS.launchGraceMs;
    return !pass.nodes.has(l.name) || age < DEFAULTS.earlyRetirementMs;
  });
}
