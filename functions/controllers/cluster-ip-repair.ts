/**
 * Releases cluster IP claims no Service holds: left behind by an API function that claimed an
 * address and died before writing its Service (functions/cluster-ips.ts). Like Kubernetes'
 * ClusterIP repair loop (pkg/registry/core/service/ipallocator/controller/repair.go). A claim
 * younger than CLAIM_REPAIR_AGE_MS may belong to a write still in flight and is left alone.
 */
import { CLUSTER_IP_CLAIM_KIND, type ClusterIPClaim, clusterIPOf } from '../cluster-ips';
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { CLAIM_REPAIR_AGE_MS, ownerKey } from '../node-ports';
import { type PassContext, standaloneContext } from './controller';

export async function repairClusterIPs(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const claims = await ctx.snapshot.list<ClusterIPClaim>(CLUSTER_IP_CLAIM_KIND);
  if (claims.length === 0) return;
  const held = new Set<string>();
  for (const svc of await ctx.snapshot.list('Service')) {
    const ip = clusterIPOf(svc);
    if (ip !== undefined) held.add(`${ip}:${ownerKey(svc)}`);
  }
  const now = deps.clock();
  for (const claim of claims) {
    if (held.has(`${claim.metadata.name}:${claim.spec.service}`)) continue;
    if (now - claim.spec.claimedAt < CLAIM_REPAIR_AGE_MS) {
      ctx.wakeAt(claim.spec.claimedAt + CLAIM_REPAIR_AGE_MS);
      continue;
    }
    try {
      await ctx.deps.store.delete(
        { kind: CLUSTER_IP_CLAIM_KIND, name: claim.metadata.name },
        { resourceVersion: claim.metadata.resourceVersion as string },
      );
      ctx.deps.log.info('released a cluster IP no Service holds', {
        ip: claim.metadata.name,
        owner: claim.spec.service,
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
