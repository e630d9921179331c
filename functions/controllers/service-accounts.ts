/**
 * Kubernetes' ServiceAccounts controller: every namespace has a `default` ServiceAccount, made
 * when the namespace appears and made again when it is deleted (a pod that names none runs as
 * it). A terminating namespace gets none. Also sweeps the token records of pods that are gone.
 */
import { defaultServiceAccount } from '../../schemas/service-account';
import type { Deps } from '../deps';
import { isAlreadyExists } from '../errors';
import { ignoreNotFound } from '../store/retry';
import { TOKEN_KIND, type TokenRecord } from '../tokens';
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

/**
 * Deletes pod token records that can no longer authenticate: expired, or bound to a pod that is
 * gone or replaced (Kubernetes' tokens are stateless and simply fail; ferry's are records, so
 * they are removed rather than left to pile up). Authentication checks the same on every request
 * (functions/pod-tokens.ts), so this is housekeeping, never what revokes a token.
 */
export async function sweepPodTokens(deps: Deps, ctx: PassContext = standaloneContext(deps)): Promise<void> {
  const tokens = (await ctx.snapshot.list<TokenRecord>(TOKEN_KIND)).filter((t) => t.spec.role === 'serviceaccount');
  if (tokens.length === 0) return;
  const pods = new Map((await ctx.snapshot.list('Pod')).map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
  const now = deps.clock();
  for (const token of tokens) {
    const bound = token.spec.boundPod;
    const expires = token.status?.expirationTimestamp;
    const pod = bound ? pods.get(`${bound.namespace}/${bound.name}`) : undefined;
    const expired = expires !== undefined && Date.parse(expires) <= now;
    // A TokenRequest token bound to no pod: authentication checks its ServiceAccount and Secret.
    if (!bound && token.spec.boundServiceAccount && !expired) continue;
    if (!expired && pod && pod.metadata.uid === bound?.uid) continue;
    await ignoreNotFound(ctx.deps.store.delete({ kind: TOKEN_KIND, name: token.metadata.name }));
  }
}

/**
 * The sweep at most once a minute (the controller manager's passes run at every write): a stale
 * record costs nothing but its row, since authentication refuses it already, while listing every
 * token on each pass would cost a read of them all (a scan on DynamoDB).
 */
export function podTokenSweeper(everyMs = 60_000): (ctx: PassContext) => Promise<void> {
  let last = Number.NEGATIVE_INFINITY;
  return async (ctx) => {
    const now = ctx.deps.clock();
    if (now - last < everyMs) return;
    last = now;
    await sweepPodTokens(ctx.deps, ctx);
  };
}
