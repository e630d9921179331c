/**
 * `ferry logs POD | deployment/NAME [-c CONTAINER] [--tail N] [-p] [--limit-bytes N] [-f]
 * [--since 5m] [--timestamps]`: a container's output, fetched from its node through the API
 * (`GET .../pods/{name}/log`, as `kubectl logs`); with `-f` printed as it comes until the container
 * stops (or Ctrl-C).
 * For a Deployment or ReplicaSet, one of its pods is picked (a running one, newest first) and named
 * on stderr, so `ferry logs deployment/web` works in a CI step after a failed `apply --wait`.
 */
import type { Command } from 'commander';
import { selectorString } from '../../schemas/printers/fields';
import { connect, streamBody } from '../client';
import { type CliContext, err } from '../context';
import { CliError, UsageError } from '../errors';
import { collectionPath, DEFAULT_NAMESPACE, objectPath, parseTarget, resolveKind } from '../resources';

interface LogsOptions {
  container?: string;
  tail?: string;
  previous?: boolean;
  limitBytes?: string;
  namespace?: string;
  follow?: boolean;
  since?: string;
  timestamps?: boolean;
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
    .option(
      '--limit-bytes <n>',
      'at most N bytes from the end (a snapshot is capped at 128 KiB; with -f, --since or --timestamps N is kept as given)',
    )
    .option('-n, --namespace <ns>', 'namespace')
    .option('-f, --follow', 'keep printing the output as it comes, until the container stops')
    .option('--since <duration>', 'only output newer than this (5s, 2m, 3h)')
    .option('--timestamps', 'prefix each line with its time (RFC 3339)')
    .action(async (target: string[], opts: LogsOptions) => {
      const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
      const client = await connect(ctx.io.env);
      const pod = await podOf(ctx, client, target, namespace);
      const path = `${objectPath(resolveKind('Pod'), namespace, pod)}/log`;
      const query = {
        container: opts.container,
        tailLines: opts.tail === undefined ? undefined : whole(opts.tail, '--tail'),
        previous: opts.previous ? 'true' : undefined,
        limitBytes: opts.limitBytes === undefined ? undefined : whole(opts.limitBytes, '--limit-bytes'),
        follow: opts.follow ? 'true' : undefined,
        sinceSeconds: opts.since === undefined ? undefined : String(sinceSeconds(opts.since)),
        timestamps: opts.timestamps ? 'true' : undefined,
      };
      if (opts.follow || opts.since !== undefined || opts.timestamps) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
        const decoder = new TextDecoder();
        await streamBody(
          client,
          { path, query: params },
          (chunk) => ctx.io.stdout.write(decoder.decode(chunk, { stream: true })),
          ctx.io.signal,
        );
        return;
      }
      const text = await client.request<string>('GET', path, { query });
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

/** `--since` as kubectl reads it (a Go duration of s, m, h), in whole seconds (at least 1). */
function sinceSeconds(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const seconds = m && text !== '' ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : Number.NaN;
  if (!(seconds >= 1)) throw new UsageError(`--since must be a duration such as 30s, 5m or 1h30m (got "${text}")`);
  return seconds;
}
