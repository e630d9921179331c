/**
 * `ferry cordon|uncordon NODE` and `ferry drain NODE`, as kubectl's:
 * - cordon / uncordon set `spec.unschedulable`; the scheduler places nothing new on a cordoned node.
 * - drain cordons, then evicts the node's pods through the Eviction API, waiting for their
 *   PodDisruptionBudgets, and waits until they are gone (cli/drain.ts: kubectl's rules for pods
 *   without a controller, emptyDir data and DaemonSet pods).
 */
import type { Command } from 'commander';
import type { Node } from '../../schemas';
import { type ApiClient, connect } from '../client';
import { type CliContext, out } from '../context';
import { drainNode } from '../drain';
import { parseTimeoutMs } from '../duration';
import { UsageError } from '../errors';
import { objectPath, resolveKind } from '../resources';

const MERGE_PATCH = 'application/merge-patch+json';

interface DrainFlags {
  force?: boolean;
  deleteEmptydirData?: boolean;
  ignoreDaemonsets?: boolean;
  disableEviction?: boolean;
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
    .description('cordon a node and evict its pods (within their PodDisruptionBudgets; their owners recreate them)')
    .argument('<node>', 'node name')
    .option('--force', 'also delete pods that no controller will recreate')
    .option('--delete-emptydir-data', 'also delete pods with emptyDir volumes (their data is lost)')
    .option('--ignore-daemonsets', 'leave DaemonSet-managed pods on the node (without it drain refuses them)')
    .option('--disable-eviction', 'delete pods instead of evicting them: PodDisruptionBudgets are not consulted')
    .option('--grace-period <seconds>', "seconds each pod gets to stop (default: the pod's own)")
    .option('--timeout <duration>', 'give up waiting after this long (0 = never)', '5m')
    .action(async (name: string, opts: DrainFlags) => {
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
  opts: DrainFlags & { grace: number | undefined; timeoutMs: number | undefined },
): Promise<void> {
  out(ctx, await setUnschedulable(client, name, true));
  await drainNode(ctx, client, name, opts);
}

function seconds(text: string): number {
  if (!/^\d+$/.test(text))
    throw new UsageError(`--grace-period must be a whole number of seconds >= 0 (got "${text}")`);
  return Number(text);
}
