/**
 * ResourceQuota admission: a write that would take a namespace past a quota's `spec.hard` is
 * refused with Kubernetes' 403 (`exceeded quota: <name>, requested: ..., used: ..., limited: ...`).
 * Every path that creates or changes counted objects calls `checkQuota` just before its store
 * write: the API's create, update, patch and apply, and the controllers' pod creates.
 *
 * Concurrency, as Kubernetes' quota admission does it with the quota's status: usage is recounted
 * from the store, and the check is committed with a conditional write of a per-namespace
 * `QuotaLedger` record (an internal kind the API never serves) that holds the writes admitted but
 * perhaps not yet stored. Two writes racing for the last unit both read the ledger; only one
 * conditional write wins, and the other re-reads it, sees the winner's pending entry and is
 * refused. An entry leaves the ledger once its object is stored (it is then counted by the
 * recount) or after PENDING_TTL_MS (its write failed). Deletes need no bookkeeping, as the recount
 * no longer sees the object, except within PENDING_TTL_MS of the create: an entry whose object
 * is gone looks like a write still in flight, so the API's delete releases it (`releaseQuota`);
 * a controller's delete that soon over-counts until the entry lapses (conservative, as
 * Kubernetes' quota is until its controller recalculates).
 */
import { kindInfo } from '../../../schemas/kinds';
import type { ResourceQuota } from '../../../schemas/policy';
import type { Deps } from '../../deps';
import { ForbiddenError, isConflict } from '../../errors';
import { isConflictOrExists, isObjectAt, retryOnConflict } from '../../store/retry';
import type { Obj } from '../../store/types';
import { addUsage, formatAmount, kindsFor, quantity, type Usage, usageOf } from './usage';

export const QUOTA_LEDGER_KIND = 'QuotaLedger';
/** How long an admitted write may take to reach the store before its reservation lapses. */
export const PENDING_TTL_MS = 10_000;
const ATTEMPTS = 20;

export interface QuotaChange {
  /** The object as it will be stored. */
  obj: Obj;
  /** The object as stored now (updates); undefined for a create. */
  stored?: Obj | undefined;
}

interface Pending {
  key: string;
  /** resourceVersion of the object the write replaces ('' for a create). */
  baseRv: string;
  usage: Usage;
  expires: number;
}

interface Ledger extends Obj {
  pending: Pending[];
}

/**
 * Throws ForbiddenError when the changes would exceed a quota of their namespace; otherwise
 * records them as pending (unless `dryRun`) so a concurrent check counts them. A single object is
 * a create; updates pass `{ obj, stored }`. Changes may span namespaces (an apply bundle); each
 * namespace is checked on its own.
 */
export async function checkQuota(
  deps: Deps,
  change: Obj | QuotaChange[],
  options: { dryRun?: boolean } = {},
): Promise<void> {
  const changes = Array.isArray(change) ? change : [{ obj: change }];
  const byNamespace = new Map<string, QuotaChange[]>();
  for (const c of changes) {
    const ns = c.obj.metadata.namespace;
    if (ns === undefined) continue;
    byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), c]);
  }
  for (const [ns, list] of byNamespace) await checkNamespace(deps, ns, list, options.dryRun === true);
}

async function checkNamespace(deps: Deps, namespace: string, changes: QuotaChange[], dryRun: boolean): Promise<void> {
  const { items: quotas } = await deps.store.list<ResourceQuota>('ResourceQuota', { namespace });
  const bounded = new Set(quotas.flatMap((q) => Object.keys(q.spec?.hard ?? {})));
  if (bounded.size === 0) return;
  const delta: Usage = {};
  for (const c of changes) addUsage(addUsage(delta, usageOf(c.obj)), usageOf(c.stored), -1);
  // Only increases are checked, as in Kubernetes: shrinking usage is always allowed.
  if (![...bounded].some((r) => (delta[r] ?? 0) > 0)) return;

  const ref = { kind: QUOTA_LEDGER_KIND, namespace, name: 'quota' };
  const own = new Set(changes.map((c) => keyOf(c.obj)));
  // Retried from the ledger a conflict carries (another check wrote it first): recounted each time.
  const used = await retryOnConflict(
    async (current) => {
      const ledger = isObjectAt(current, ref) ? (current as Ledger) : await deps.store.get<Ledger>(ref);
      const now = deps.clock();
      const { used, live } = await recount(deps, namespace, bounded, ledger?.pending ?? [], now, own);
      for (const quota of quotas) refuseIfExceeded(quota, used, delta);
      if (dryRun) return undefined;
      const mine: Pending[] = changes.map((c) => ({
        key: keyOf(c.obj),
        baseRv: c.stored?.metadata.resourceVersion ?? '',
        usage: usageOf(c.obj),
        expires: now + PENDING_TTL_MS,
      }));
      const pending = [...live, ...mine];
      if (ledger) await deps.store.update<Ledger>({ ...ledger, pending });
      else
        await deps.store.create<Ledger>({
          apiVersion: 'ferry.dev/v1',
          kind: QUOTA_LEDGER_KIND,
          metadata: { name: 'quota', namespace },
          pending,
        });
      return used;
    },
    {
      attempts: ATTEMPTS,
      retryIf: isConflictOrExists,
      exhausted: () =>
        new ForbiddenError(`exceeded quota retries in namespace "${namespace}": too many concurrent writes, try again`),
    },
  );
  if (used) await publishUsage(deps, quotas, addUsage({ ...used }, delta));
}

/**
 * Usage of the namespace now: every stored object of the kinds the quotas bound, plus the
 * pending writes not yet visible in the store. Returns the pending entries still in flight.
 */
async function recount(
  deps: Deps,
  namespace: string,
  bounded: Set<string>,
  pending: Pending[],
  now: number,
  own: Set<string> = new Set(),
): Promise<{ used: Usage; live: Pending[] }> {
  const kinds = new Set([...bounded].flatMap(kindsFor));
  const stored = new Map<string, Obj>();
  for (const kind of kinds) {
    for (const obj of (await deps.store.list(kind, { namespace })).items) stored.set(keyOf(obj), obj);
  }
  const used: Usage = {};
  for (const obj of stored.values()) addUsage(used, usageOf(obj));
  const live: Pending[] = [];
  for (const p of pending) {
    // Lapsed, or this very write checked again (a retry): not counted twice.
    if (p.expires <= now || own.has(p.key)) continue;
    const current = stored.get(p.key);
    const inFlight = p.baseRv === '' ? current === undefined : current?.metadata.resourceVersion === p.baseRv;
    if (!inFlight) continue; // stored (or overtaken): the recount has it
    live.push(p);
    addUsage(addUsage(used, p.usage), usageOf(current), -1);
  }
  return { used, live };
}

function refuseIfExceeded(quota: ResourceQuota, used: Usage, delta: Usage): void {
  const hard = quota.spec?.hard ?? {};
  const over = Object.keys(hard)
    .filter((r) => (delta[r] ?? 0) > 0 && (used[r] ?? 0) + (delta[r] ?? 0) > quantity(hard[r], r))
    .sort();
  if (over.length === 0) return;
  const show = (u: (r: string) => number) => over.map((r) => `${r}=${formatAmount(u(r), r)}`).join(',');
  throw new ForbiddenError(
    `exceeded quota: ${quota.metadata.name}, requested: ${show((r) => delta[r] ?? 0)}, used: ${show((r) => used[r] ?? 0)}, limited: ${show((r) => quantity(hard[r], r))}`,
  );
}

/** Drops a deleted object's pending entry (see the file comment); a no-op without one. */
export async function releaseQuota(deps: Deps, obj: Obj): Promise<void> {
  const namespace = obj.metadata.namespace;
  if (namespace === undefined) return;
  const key = keyOf(obj);
  const ref = { kind: QUOTA_LEDGER_KIND, namespace, name: 'quota' };
  try {
    await retryOnConflict(
      async (current) => {
        const ledger = isObjectAt(current, ref) ? (current as Ledger) : await deps.store.get<Ledger>(ref);
        if (!ledger?.pending.some((p) => p.key === key)) return;
        await deps.store.update<Ledger>({ ...ledger, pending: ledger.pending.filter((p) => p.key !== key) });
      },
      { attempts: ATTEMPTS },
    );
  } catch (err) {
    // Best effort: an entry left behind lapses after PENDING_TTL_MS and counts nothing once its object is gone.
    if (!isConflict(err)) throw err;
  }
}

/** status.hard and status.used on each quota, as the quota controller keeps them; best effort. */
export async function publishUsage(deps: Deps, quotas: ResourceQuota[], used: Usage): Promise<void> {
  for (const quota of quotas) {
    const hard = quota.spec?.hard ?? {};
    const status = {
      hard: { ...hard },
      used: Object.fromEntries(Object.keys(hard).map((r) => [r, formatAmount(Math.max(0, used[r] ?? 0), r)])),
    };
    if (JSON.stringify(status) === JSON.stringify(quota.status)) continue;
    try {
      await deps.store.update({ ...quota, status });
    } catch (err) {
      // A newer write (the user's, or another check's) will publish again.
      if (!isConflict(err)) throw err;
    }
  }
}

/** Recounts each namespace's quotas from the store: what the quota controller's resync does. */
export async function refreshQuotaStatus(deps: Deps): Promise<void> {
  const { items } = await deps.store.list<ResourceQuota>('ResourceQuota');
  const byNamespace = new Map<string, ResourceQuota[]>();
  for (const q of items)
    byNamespace.set(q.metadata.namespace as string, [...(byNamespace.get(q.metadata.namespace as string) ?? []), q]);
  for (const [namespace, quotas] of byNamespace) {
    const bounded = new Set(quotas.flatMap((q) => Object.keys(q.spec?.hard ?? {})));
    const ledger = await deps.store.get<Ledger>({ kind: QUOTA_LEDGER_KIND, namespace, name: 'quota' });
    const { used } = await recount(deps, namespace, bounded, ledger?.pending ?? [], deps.clock());
    await publishUsage(deps, quotas, used);
  }
}

function keyOf(obj: Obj): string {
  const info = kindInfo(obj.kind);
  return `${info?.kind ?? obj.kind}/${obj.metadata.name}`;
}
