/**
 * `ferry apply -f FILE|DIR|- [-R] [--dry-run] [-n NS]`: one bundle, one request
 * (POST /apis/ferry.dev/v1/apply), so a bundle with any invalid object writes nothing.
 * Prints kubectl's lines (`deployment.apps/web created`); with --dry-run, `(dry run)` and the diff.
 * `--wait [--timeout 5m]` then follows every applied Deployment until it is rolled out at the
 * generation just written (exit 0) or fails (exit 1 with the reason and the pods' problems): the
 * one call a CI pipeline makes.
 */
import type { Command } from 'commander';
import { kindByName } from '../../schemas';
import { connect } from '../client';
import { type CliContext, err, out } from '../context';
import { parseTimeoutMs } from '../duration';
import { ApiError, CliError, UsageError } from '../errors';
import { type JobRef, waitForJobs } from '../jobs';
import { readManifests, type SourcedManifest } from '../manifests';
import { DEFAULT_NAMESPACE, resourceName, resourceNameFromApiVersion } from '../resources';
import { type DeploymentRef, waitForRollouts } from '../rollout';

export interface ApplyResultItem {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  action: 'created' | 'configured' | 'unchanged';
  diff?: string;
  object?: Record<string, unknown>;
}

export interface ApplyResult {
  kind: 'ApplyResult';
  dryRun: boolean;
  items: ApplyResultItem[];
}

export interface ApplyOptions {
  filename: string[];
  recursive?: boolean;
  dryRun?: boolean;
  namespace?: string;
  wait?: boolean;
  timeout?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command, ctx: CliContext): void {
  program
    .command('apply')
    .description('create or update objects from manifests (files, directories, or - for stdin)')
    .requiredOption('-f, --filename <path>', 'a file, a directory of *.yaml/*.yml/*.json, or - (repeatable)', collect)
    .option('-R, --recursive', 'also read subdirectories of a directory')
    .option('--dry-run', 'validate and show what would change, write nothing')
    .option('-n, --namespace <ns>', 'namespace for objects that name none')
    .option(
      '--wait',
      'then wait until every applied Job is complete and every Deployment rolled out; exit 1 with the reason if not',
    )
    .option('--timeout <duration>', 'with --wait: give up after this long (e.g. 90s, 5m; 0 = never)', '5m')
    .action(async (opts: ApplyOptions) => {
      const timeoutMs = parseTimeoutMs(opts.timeout);
      if (opts.wait && opts.dryRun)
        throw new UsageError('--wait and --dry-run do not go together: a dry run changes nothing');
      const result = await apply(ctx, opts);
      if (!opts.wait) return;
      const refs: DeploymentRef[] = result.items
        .filter((item) => item.kind === 'Deployment' && item.apiVersion === 'apps/v1')
        .map((item) => {
          const generation = (item.object?.metadata as { generation?: number } | undefined)?.generation;
          return {
            namespace: item.namespace ?? DEFAULT_NAMESPACE,
            name: item.name,
            ...(generation !== undefined ? { generation } : {}),
          };
        });
      const jobs: JobRef[] = result.items
        .filter((item) => item.kind === 'Job' && item.apiVersion === 'batch/v1')
        .map((item) => ({ namespace: item.namespace ?? DEFAULT_NAMESPACE, name: item.name }));
      const client = await connect(ctx.io.env);
      const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
      // Jobs first: a migration Job usually has to finish before the new version can serve.
      await waitForJobs(ctx, client, jobs, { deadline, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      await waitForRollouts(ctx, client, refs, {
        style: 'progress',
        ...(timeoutMs !== undefined ? { timeoutMs: Math.max(0, deadline - Date.now()) } : {}),
      });
    });
}

/** Applies the manifests and prints one line per object; returns the server's result for callers like `--wait`. */
export async function apply(ctx: CliContext, opts: ApplyOptions): Promise<ApplyResult> {
  const manifests = await readManifests(ctx.io, opts.filename, opts.recursive ?? false);
  const objects = manifests.map((m) => withNamespace(m, opts.namespace));
  const client = await connect(ctx.io.env);
  const result = await client
    .request<ApplyResult>('POST', '/apis/ferry.dev/v1/apply', {
      body: objects,
      query: { dryRun: opts.dryRun ? 'All' : undefined },
    })
    .catch((e: unknown) => {
      throw e instanceof ApiError ? withSources(e, manifests) : e;
    });
  // As kubectl: admission warnings go to stderr, before the result.
  for (const w of client.warnings) err(ctx, `Warning: ${w}`);
  for (const item of result.items) {
    const info = kindByName(item.kind);
    const resource = info ? resourceName(info) : resourceNameFromApiVersion(item.kind, item.apiVersion);
    out(ctx, `${resource}/${item.name} ${item.action}${opts.dryRun ? ' (dry run)' : ''}`);
    if (opts.dryRun && item.diff) ctx.io.stdout.write(item.diff.endsWith('\n') ? item.diff : `${item.diff}\n`);
  }
  return result;
}

/** kubectl's -n: fills in the namespace of namespaced objects that have none, refuses a mismatch. */
function withNamespace({ object, source }: SourcedManifest, namespace: string | undefined): SourcedManifest['object'] {
  if (namespace === undefined) return object;
  const info = kindByName(object.kind);
  if (info && !info.namespaced) return object;
  const own = object.metadata.namespace;
  if (own !== undefined && own !== namespace) {
    throw new CliError(
      `${source}: the namespace from the provided object "${own}" does not match the namespace "${namespace}"`,
    );
  }
  return { ...object, metadata: { ...object.metadata, namespace } };
}

/** The server names bundle documents by index (`[2] Deployment default/web: ...`); name the file instead. */
function withSources(e: ApiError, manifests: SourcedManifest[]): ApiError {
  const lines = e.detailLines.map((line) =>
    line.replace(/^(\s*)\[(\d+)\] /, (whole, indent: string, index: string) => {
      const source = manifests[Number(index)]?.source;
      return source ? `${indent}${source}: ` : whole;
    }),
  );
  return new ApiError(e.httpStatus, e.status, e.message, lines);
}
