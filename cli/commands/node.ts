/**
 * `ferry cordon|uncordon NODE` and `ferry drain NODE`, as kubectl's:
 * - cordon / uncordon set `spec.unschedulable`; the scheduler places nothing new on a cordoned node.
 * - drain cordons, then deletes the node's pods (each with its grace period, or `--grace-period`)
 *   and waits until they are gone; their ReplicaSets recreate them elsewhere. Like kubectl it
 *   refuses, before deleting anything, pods nothing would recreate (no controller: `--force`) and
 *   pods whose emptyDir data would be lost (`--delete-emptydir-data`). ferry has no
 *   PodDisruptionBudgets or DaemonSets yet, so `--ignore-daemonsets` is accepted and changes nothing.
 */
import type { Command } from 'commander';
import type { Node, Pod } from '../../schemas';
import { type ApiClient, connect } from '../client';
import { type CliContext, out, pause } from '../context';
import { formatDuration, parseTimeoutMs } from '../duration';
import { ApiError, CliError, UsageError } from '../errors';
import { collectionPath, objectPath, resolveKind } from '../resources';

const MERGE_PATCH = 'application/merge-patch+json';

interface DrainOptions {
  force?: boolean;
  deleteEmptydirData?: boolean;
  ignoreDaemonsets?: boolean;
  gracePeriod?: string;
  timeout?: string;
}

export function register(program: Command, ctx: CliContext): void {
  for (const [verb, unschedulable] of [
    ['cordon', true],
    ['uncordon', false],
  ] as const) {
    program
      .command(verb)
      .description(unschedulable ? 'mark a node unschedulable' : 'mark a node schedulable again')
      .argument('<node>', 'node name')
      .action(async (name: string) => {
        const client = await connect(ctx.io.env);
        out(ctx, await setUnschedulable(client, name, unschedulable));
      });
  }

  program
    .command('drain')
    .description('cordon a node and move its pods elsewhere (delete them; their owners recreate them)')
    .argument('<node>', 'node name')
    .option('--force', 'also delete pods that no controller will recreate')
    .option('--delete-emptydir-data', 'also delete pods with emptyDir volumes (their data is lost)')
    .option('--ignore-daemonsets', 'accepted for kubectl compatibility (ferry has no DaemonSets)')
    .option('--grace-period <seconds>', "seconds each pod gets to stop (default: the pod's own)")
    .option('--timeout <duration>', 'give up waiting after this long (0 = never)', '5m')
    .action(async (name: string, opts: DrainOptions) => {
      const timeoutMs = parseTimeoutMs(opts.timeout);
      const grace = opts.gracePeriod === undefined ? undefined : seconds(opts.gracePeriod);
      const client = await connect(ctx.io.env);
      await drain(ctx, client, name, { ...opts, grace, timeoutMs });
    });
}

async function setUnschedulable(client: ApiClient, name: string, unschedulable: boolean): Promise<string> {
  const path = objectPath(resolveKind('Node'), undefined, name);
  const node = await client.request<Node>('GET', path);
  const verb = unschedulable ? 'cordoned' : 'uncordoned';
  if ((node.spec?.unschedulable ?? false) === unschedulable) return `node/${name} already ${verb}`;
  await client.request('PATCH', path, { body: { spec: { unschedulable } }, contentType: MERGE_PATCH });
  return `node/${name} ${verb}`;
}

async function drain(
  ctx: CliContext,
  client: ApiClient,
  name: string,
  opts: DrainOptions & { grace: number | undefined; timeoutMs: number | undefined },
): Promise<void> {
  out(ctx, await setUnschedulable(client, name, true));
  const list = await client.request<{ items: Pod[] }>('GET', collectionPath(resolveKind('Pod'), undefined), {
    query: { fieldSelector: `spec.nodeName=${name}` },
  });
  const pods = list.items;
  const refusals: string[] = [];
  const unmanaged = pods.filter((p) => !p.metadata.ownerReferences?.some((o) => o.controller));
  if (unmanaged.length > 0 && !opts.force) {
    refusals.push(`cannot delete Pods that declare no controller (use --force to override): ${keys(unmanaged)}`);
  }
  const local = pods.filter((p) => p.spec.volumes?.some((v) => v.emptyDir !== undefined));
  if (local.length > 0 && !opts.deleteEmptydirData) {
    refusals.push(`cannot delete Pods with local storage (use --delete-emptydir-data to override): ${keys(local)}`);
  }
  if (refusals.length > 0) {
    throw new CliError(
      `cannot drain node "${name}": no pod was deleted; the node stays cordoned`,
      1,
      refusals.map((r) => `  ${r}`),
    );
  }

  const podPath = (p: Pod) => objectPath(resolveKind('Pod'), p.metadata.namespace, p.metadata.name);
  for (const pod of pods) {
    out(ctx, `evicting pod ${pod.metadata.namespace}/${pod.metadata.name}`);
    await client
      .request('DELETE', podPath(pod), {
        query: { gracePeriodSeconds: opts.grace === undefined ? undefined : String(opts.grace) },
      })
      .catch(ignoreNotFound);
  }

  const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
  let left = pods;
  while (left.length > 0) {
    const still: Pod[] = [];
    for (const pod of left) {
      const now = await client.request<Pod>('GET', podPath(pod)).catch(ignoreNotFound);
      if (now && now.metadata.uid === pod.metadata.uid) still.push(pod);
      else out(ctx, `pod/${pod.metadata.name} evicted`);
    }
    left = still;
    if (left.length === 0) break;
    if (Date.now() >= deadline) {
      throw new CliError(
        `drain of node "${name}" timed out after ${formatDuration(opts.timeoutMs ?? 0)}: ${left.length} pod(s) still stopping: ${keys(left)}`,
      );
    }
    await pause(ctx, 1000);
  }
  out(ctx, `node/${name} drained`);
}

function keys(pods: Pod[]): string {
  return pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ');
}

function ignoreNotFound(e: unknown): undefined {
  if (e instanceof ApiError && e.httpStatus === 404) return undefined;
  throw e;
}

function seconds(text: string): number {
  if (!/^\d+$/.test(text))
    throw new UsageError(`--grace-period must be a whole number of seconds >= 0 (got "${text}")`);
  return Number(text);
}
