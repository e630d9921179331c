/**
 * The sync's `ingress` section: the built-in ingress' table (functions/ingress-table.ts), sent
 * whole when the hash the agent holds differs from its node's record. An agent that holds none
 * (its first sync, a restart) reads the table itself, so a node whose record was made after the
 * controller's fan-out is not left without it; the record is then brought to the hash, so the
 * next quiet sync stays one read.
 */
import type { IngressTable } from '../../../schemas/agent-protocol';
import type { Deps } from '../../deps';
import { readIngressTable } from '../../ingress-table';
import { type NodeDesired, nodeDesiredRef, untracked } from '../../node-desired';
import { retryOnConflict } from '../../store/retry';

/** Whether the agent's copy of the table may be stale: it holds none, or not the record's hash. */
export function ingressMoved(desired: NodeDesired, held: string | undefined): boolean {
  return held === undefined || (desired.spec.ingress ?? '') !== held;
}

export async function readIngress(
  deps: Deps,
  desired: NodeDesired,
  held: string | undefined,
): Promise<{ hash: string; table?: IngressTable }> {
  const { hash, table } = await readIngressTable(deps);
  if ((desired.spec.ingress ?? '') !== hash) {
    const store = untracked(deps.store);
    await retryOnConflict(async (current) => {
      const fresh =
        (current as NodeDesired | undefined) ?? (await store.get<NodeDesired>(nodeDesiredRef(desired.metadata.name)));
      if (!fresh || (fresh.spec.ingress ?? '') === hash) return;
      await store.update<NodeDesired>({ ...fresh, spec: { ...fresh.spec, ingress: hash } });
    }, 3).catch(() => {
      // The controller's fan-out brings it later; this node reads the table once more meanwhile.
    });
  }
  return held === hash ? { hash } : { hash, table };
}
