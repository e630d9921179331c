/**
 * Releases node port claims no Service holds: left behind by an API function that claimed a port
 * and died before writing its Service (functions/node-ports.ts). Like Kubernetes' port allocator
 * repair loop. A claim younger than CLAIM_REPAIR_AGE_MS may belong to a write still in flight and
 * is left alone.
 */
import type { Deps } from '../deps';
import { isConflict, isNotFound } from '../errors';
import { CLAIM_REPAIR_AGE_MS, type ClaimRecord, NODE_PORT_CLAIM_KIND, nodePortsOf, ownerKey } from '../node-ports';
import { type PassContext, standaloneContext } from './controller';

export async function repairNodePorts(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const claims = await ctx.snapshot.list<ClaimRecord>(NODE_PORT_CLAIM_KIND);
  if (claims.length === 0) return;
  const held = new Set<string>();
  for (const svc of await ctx.snapshot.list('Service')) {
    for (const port of nodePortsOf(svc)) held.add(`${port}:${ownerKey(svc)}`);
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
        { kind: NODE_PORT_CLAIM_KIND, name: claim.metadata.name },
        { resourceVersion: claim.metadata.resourceVersion as string },
      );
      ctx.deps.log.info('released a node port no Service holds', {
        port: claim.metadata.name,
        owner: claim.spec.service,
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
