/**
 * `ferry logs POD | deployment/NAME [-c CONTAINER] [--tail N] [-p] [--limit-bytes N]`: a container's
 * output, fetched from its node through the API (`GET .../pods/{name}/log`, as `kubectl logs`).
 * For a Deployment or ReplicaSet, one of its pods is picked (a running one, newest first) and named
 * on stderr, so `ferry logs deployment/web` works in a CI step after a failed `apply --wait`.
 */
import type { Command } from 'commander';
import { selectorString } from '../../schemas/printers/fields';
import { connect } from '../client';
import { type CliContext, err } from '../context';
import { CliError, UsageError } from '../errors';
import { collectionPath, DEFAULT_NAMESPACE, objectPath, parseTarget, resolveKind } from '../resources';

interface LogsOptions {
  container?: string;
  tail?: string;
  previous?: boolean;
  limitBytes?: string;
  namespace?: string;
}

interface PodSummary {
  metadata: { name: string; creationTimestamp?: string; deletionTimestamp?: string };
  status?: { phase?: string };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("print a container's output (the tail of it) from its node")
    .argument('<target...>', 'POD, pod/NAME, or deployment/NAME or job/NAME (one of its pods)')
    .option('-c, --container <name>', 'the container (required when the pod has several)')
    .option('--tail <lines>', 'only the last N lines (default: up to 10,000)')
    .option('-p, --previous', 'the previous instance of the container (after a restart)')
    .option('--limit-bytes <n>', 'at most N bytes from the end (the server caps this at 128 KiB)')
    .option('-n, --namespace <ns>', 'namespace')
    .action(async (target: string[], opts: LogsOptions) => {
      const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
      const client = await connect(ctx.io.env);
      const pod = await podOf(ctx, client, target, namespace);
      const text = await client.request<string>('GET', `${objectPath(resolveKind('Pod'), namespace, pod)}/log`, {
        query: {
          container: opts.container,
          tailLines: opts.tail === undefined ? undefined : whole(opts.tail, '--tail'),
          previous: opts.previous ? 'true' : undefined,
          limitBytes: opts.limitBytes === undefined ? undefined : whole(opts.limitBytes, '--limit-bytes'),
        },
      });
      ctx.io.stdout.write(typeof text === 'string' ? text : JSON.stringify(text));
    });
}

async function podOf(
  ctx: CliContext,
  client: Awaited<ReturnType<typeof connect>>,
  target: string[],
  namespace: string,
): Promise<string> {
  if (target.length === 1 && !target[0]?.includes('/')) return target[0] as string;
  const { info, name } = parseTarget(target, ['Pod', 'Deployment', 'ReplicaSet', 'Job']);
  if (info.kind === 'Pod') return name;
  const owner = await client.request<{ spec: { selector?: unknown } }>('GET', objectPath(info, namespace, name));
  // A Job's pods carry job-name (ferry does not generate a selector for Jobs).
  const selector = info.kind === 'Job' ? `job-name=${name}` : selectorString(owner.spec.selector);
  if (selector === '<none>') throw new CliError(`${info.singular}/${name} has no selector to find its pods by`);
  const list = await client.request<{ items: PodSummary[] }>('GET', collectionPath(resolveKind('Pod'), namespace), {
    query: { labelSelector: selector },
  });
  const pods = list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort(
      (a, b) =>
        Number(b.status?.phase === 'Running') - Number(a.status?.phase === 'Running') ||
        (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
    );
  const chosen = pods[0];
  if (!chosen) throw new CliError(`${info.singular}/${name} has no pods`);
  if (pods.length > 1) err(ctx, `Found ${pods.length} pods, using pod/${chosen.metadata.name}`);
  return chosen.metadata.name;
}

function whole(text: string, flag: string): string {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} must be a whole number >= 0 (got "${text}")`);
  return text;
}
