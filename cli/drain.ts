/**
 * `ferry drain NODE`, as kubectl drain does it (k8s.io/kubectl/pkg/drain):
 * 1. cordon the node;
 * 2. sort its pods: refuse, before evicting anything, pods nothing would recreate (no controller:
 *    `--force`), pods whose emptyDir data would be lost (`--delete-emptydir-data`) and
 *    DaemonSet-managed pods (`--ignore-daemonsets` skips them instead: their controller would put
 *    them straight back, and they tolerate the cordon);
 * 3. evict every other pod through the Eviction subresource, all at once, each retried while a
 *    PodDisruptionBudget answers 429 (after the server's Retry-After, at most 5 s, as kubectl);
 *    `--disable-eviction` deletes instead, bypassing budgets;
 * 4. wait until each evicted pod is gone; `--timeout` bounds steps 3 and 4 together.
 */
import type { Pod } from '../schemas';
import type { ApiClient } from './client';
import { type CliContext, out, pause } from './context';
import { formatDuration } from './duration';
import { ApiError, CliError } from './errors';
import { collectionPath, objectPath, resolveKind } from './resources';

export interface DrainOptions {
  force?: boolean;
  deleteEmptydirData?: boolean;
  ignoreDaemonsets?: boolean;
  disableEviction?: boolean;
  grace: number | undefined;
  timeoutMs: number | undefined;
}

const MAX_RETRY_MS = 5_000;

/** Cordons (already done by the caller), evicts and waits; throws a CliError on refusal or timeout. */
export async function drainNode(ctx: CliContext, client: ApiClient, name: string, opts: DrainOptions): Promise<void> {
  const list = await client.request<{ items: Pod[] }>('GET', collectionPath(resolveKind('Pod'), undefined), {
    query: { fieldSelector: `spec.nodeName=${name}` },
  });
  const daemons = list.items.filter((p) => controllerKind(p) === 'DaemonSet');
  const pods = list.items.filter((p) => controllerKind(p) !== 'DaemonSet');
  const refusals = refusalsFor(pods, opts);
  if (daemons.length > 0 && !opts.ignoreDaemonsets)
    refusals.push(`cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${keys(daemons)}`);
  if (refusals.length > 0) {
    throw new CliError(
      `cannot drain node "${name}": no pod was deleted; the node stays cordoned`,
      1,
      refusals.map((r) => `  ${r}`),
    );
  }
  if (daemons.length > 0) out(ctx, `Warning: ignoring DaemonSet-managed Pods: ${keys(daemons)}`);

  const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
  const results = await Promise.all(pods.map((pod) => evictAndWait(ctx, client, pod, opts, deadline)));
  const left = pods.filter((_, i) => !results[i]);
  if (left.length > 0) {
    throw new CliError(
      `drain of node "${name}" timed out after ${formatDuration(opts.timeoutMs ?? 0)}: ${left.length} pod(s) not evicted or still stopping: ${keys(left)}`,
    );
  }
  out(ctx, `node/${name} drained`);
}

function refusalsFor(pods: Pod[], opts: DrainOptions): string[] {
  const refusals: string[] = [];
  const unmanaged = pods.filter((p) => controllerKind(p) === undefined && !finished(p));
  if (unmanaged.length > 0 && !opts.force)
    refusals.push(`cannot delete Pods that declare no controller (use --force to override): ${keys(unmanaged)}`);
  const local = pods.filter((p) => p.spec.volumes?.some((v) => v.emptyDir !== undefined) && !finished(p));
  if (local.length > 0 && !opts.deleteEmptydirData)
    refusals.push(`cannot delete Pods with local storage (use --delete-emptydir-data to override): ${keys(local)}`);
  return refusals;
}

/** Evicts one pod (retrying 429s) and waits for it to be gone; false when the deadline came first. */
async function evictAndWait(
  ctx: CliContext,
  client: ApiClient,
  pod: Pod,
  opts: DrainOptions,
  deadline: number,
): Promise<boolean> {
  const ns = pod.metadata.namespace as string;
  const podName = pod.metadata.name;
  const path = objectPath(resolveKind('Pod'), ns, podName);
  const grace = opts.grace === undefined ? {} : { gracePeriodSeconds: opts.grace };
  out(ctx, `evicting pod ${ns}/${podName}`);
  for (;;) {
    try {
      if (opts.disableEviction)
        await client.request('DELETE', path, {
          query: { gracePeriodSeconds: opts.grace === undefined ? undefined : String(opts.grace) },
        });
      else
        await client.request('POST', `${path}/eviction`, {
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name: podName, namespace: ns },
            // The pod we looked at, not one of the same name made since.
            deleteOptions: { ...grace, preconditions: { uid: pod.metadata.uid } },
          },
        });
      break;
    } catch (err) {
      if (err instanceof ApiError && (err.httpStatus === 404 || err.httpStatus === 409)) break; // gone or replaced
      if (!(err instanceof ApiError) || err.httpStatus !== 429) throw err;
      const retryMs = Math.min(MAX_RETRY_MS, Math.max(1, err.status?.details?.retryAfterSeconds ?? 5) * 1000);
      out(
        ctx,
        `error when evicting pods/"${podName}" -n "${ns}" (will retry after ${retryMs / 1000}s): ${err.message}`,
      );
      if (Date.now() + retryMs > deadline) return false;
      await pause(ctx, retryMs);
    }
  }
  for (;;) {
    const now = await client.request<Pod>('GET', path).catch((e: unknown) => {
      if (e instanceof ApiError && e.httpStatus === 404) return undefined;
      throw e;
    });
    if (!now || now.metadata.uid !== pod.metadata.uid) {
      out(ctx, `pod/${podName} evicted`);
      return true;
    }
    if (Date.now() >= deadline) return false;
    await pause(ctx, 1000);
  }
}

function controllerKind(pod: Pod): string | undefined {
  return pod.metadata.ownerReferences?.find((o) => o.controller)?.kind;
}

/** kubectl deletes finished pods whatever owns them: nothing of theirs is lost. */
function finished(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function keys(pods: Pod[]): string {
  return pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ');
}
