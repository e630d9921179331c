/**
 * Kubernetes' ServiceAccounts controller: every namespace has a `default` ServiceAccount, made
 * when the namespace appears and made again when it is deleted (a pod that names none runs as
 * it). A terminating namespace gets none.
 */
import { defaultServiceAccount } from '../../schemas/service-account';
import type { Deps } from '../deps';
import { isAlreadyExists } from '../errors';
import { type PassContext, standaloneContext } from './controller';

export async function ensureDefaultServiceAccounts(
  deps: Deps,
  ctx: PassContext = standaloneContext(deps),
): Promise<void> {
  const have = new Set(
    (await ctx.snapshot.list('ServiceAccount'))
      .filter((sa) => sa.metadata.name === 'default')
      .map((sa) => sa.metadata.namespace),
  );
  for (const ns of await ctx.snapshot.list('Namespace')) {
    if (have.has(ns.metadata.name) || ns.metadata.deletionTimestamp) continue;
    if ((ns.status as { phase?: string } | undefined)?.phase === 'Terminating') continue;
    try {
      await ctx.deps.store.create(defaultServiceAccount(ns.metadata.name));
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
}
