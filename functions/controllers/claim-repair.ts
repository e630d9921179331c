/**
 * The repair loop both Service allocators share (node ports, cluster IPs): releases claim records
 * no Service holds, left behind by an API function that claimed a value and died before writing
 * its Service. Like Kubernetes' allocator repair loops. A claim younger than CLAIM_REPAIR_AGE_MS
 * may belong to a write still in flight and is left alone (the pass wakes again when it is not).
 */
import type { Deps } from '../deps';
import { isLostRace } from '../errors';
import { CLAIM_REPAIR_AGE_MS, ownerKey } from '../node-ports';
import type { Obj } from '../store/types';
import type { PassContext } from './controller';

export interface ClaimKind {
  /** The claim records' kind; each record is named by the value it claims. */
  kind: string;
  /** The values a Service holds (its node ports, its cluster IP). */
  heldBy(svc: Obj): (string | number)[];
  /** What the log line calls a released value, and its field there. */
  what: string;
  field: string;
}

type Claim = Obj & { spec: { service: string; claimedAt: number } };

export async function repairClaims(deps: Deps, ctx: PassContext, claimKind: ClaimKind): Promise<void> {
  const claims = await ctx.snapshot.list<Claim>(claimKind.kind);
  if (claims.length === 0) return;
  const held = new Set<string>();
  for (const svc of await ctx.snapshot.list('Service')) {
    for (const value of claimKind.heldBy(svc)) held.add(`${value}:${ownerKey(svc)}`);
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
        { kind: claimKind.kind, name: claim.metadata.name },
        { resourceVersion: claim.metadata.resourceVersion as string },
      );
      ctx.deps.log.info(`released a ${claimKind.what} no Service holds`, {
        [claimKind.field]: claim.metadata.name,
        owner: claim.spec.service,
      });
    } catch (err) {
      if (!isLostRace(err)) throw err;
    }
  }
}
