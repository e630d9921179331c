/**
 * The credentials a pool's machines carry: a short-lived bootstrap token in each machine's
 * user-data, and the node token it trades it for. The one place the node pool controller reaches
 * token issuing (`functions/tokens.ts`).
 */

import type { Deps } from '../../deps';
import type { Obj } from '../../store/types';
import { type ExpectedCapacity, issueToken, TOKEN_KIND } from '../../tokens';

/**
 * Issues the bootstrap token of machine `nodeName`; returns the plaintext for its user-data. With
 * `expectedCapacity` (what the cloud says the machine is), the node may not claim more.
 */
export async function issueBootstrap(
  deps: Deps,
  nodeName: string,
  pool: string,
  ttlSeconds: number,
  labels: Record<string, string>,
  expectedCapacity?: ExpectedCapacity,
): Promise<string> {
  const { token } = await issueToken(deps, {
    name: bootstrapName(nodeName),
    role: 'bootstrap',
    // Single-use and bound to this machine's name; the labels are the pool's, not the agent's say.
    nodeName,
    nodeLabels: labels,
    ...(expectedCapacity ? { expectedCapacity } : {}),
    ttlSeconds,
    description: `bootstrap of node ${nodeName} (pool ${pool})`,
  });
  return token;
}

/** Deletes a machine's bootstrap token (its create failed, or it is retired before registering). */
export async function deleteBootstrap(deps: Deps, nodeName: string): Promise<void> {
  await deps.store.delete({ kind: TOKEN_KIND, name: bootstrapName(nodeName) }).catch(() => undefined);
}

/** Deletes every credential issued to node `nodeName` (its node token and any bootstrap token left). */
export async function deleteNodeCredentials(deps: Deps, nodeName: string): Promise<void> {
  const tokens = (await deps.store.list<Obj & { spec: { nodeName?: string } }>(TOKEN_KIND)).items;
  for (const t of tokens.filter((t) => t.spec.nodeName === nodeName))
    await deps.store.delete({ kind: TOKEN_KIND, name: t.metadata.name }).catch(() => undefined);
  await deleteBootstrap(deps, nodeName);
}

function bootstrapName(nodeName: string): string {
  return `boot-${nodeName}`;
}
