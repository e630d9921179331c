/**
 * `ferry rollout status|history|undo|pause|resume|restart deployment/NAME`, as kubectl's:
 * - status: follows the rollout (kubectl's messages) until done; exit 1 on ProgressDeadlineExceeded,
 *   a paused Deployment or `--timeout`, with the pods' problems.
 * - history: the revisions (owned ReplicaSets) with their change-cause; `--revision N` shows one template.
 * - undo: one call to the Deployment's `rollback` subresource (`--to-revision N`, `--dry-run`).
 * - pause / resume: `spec.paused`; restart: stamps the template, so every pod is replaced.
 */
import type { Command } from 'commander';
import { CHANGE_CAUSE_ANNOTATION, type Deployment, REVISION_ANNOTATION, type ReplicaSet } from '../../schemas';
import { isoTime } from '../../schemas/time';
import { type ApiClient, connect } from '../client';
import { type CliContext, out } from '../context';
import { parseTimeoutMs } from '../duration';
import { CliError, UsageError } from '../errors';
import { toYaml } from '../output/print';
import { renderTable } from '../output/table';
import { collectionPath, DEFAULT_NAMESPACE, objectPath, parseTarget, resolveKind } from '../resources';
import { waitForRollouts } from '../rollout';
import { waitForDaemonSet } from '../rollout-daemonset';
import { waitForStatefulSet } from '../rollout-statefulset';

/** The annotation kubectl stamps on the pod template for `rollout restart`. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

interface Target {
  client: ApiClient;
  namespace: string;
  name: string;
  path: string;
}

async function target(
  ctx: CliContext,
  args: string[],
  namespace: string | undefined,
  kinds: readonly string[] = ['Deployment'],
): Promise<Target & { kind: string }> {
  const { info, name } = parseTarget(args, kinds);
  const ns = namespace ?? DEFAULT_NAMESPACE;
  return { client: await connect(ctx.io.env), namespace: ns, name, path: objectPath(info, ns, name), kind: info.kind };
}

const MERGE_PATCH = 'application/merge-patch+json';

export function register(program: Command, ctx: CliContext): void {
  const rollout = program.command('rollout').description('follow, list, undo, pause, resume or restart a rollout');

  rollout
    .command('status')
    .description('wait until a Deployment, DaemonSet or StatefulSet is rolled out (exit 1 if it fails or times out)')
    .argument('<target...>', 'deployment/NAME, daemonset/NAME or statefulset/NAME')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--timeout <duration>', 'give up after this long (e.g. 90s, 5m); default: never')
    .option('--no-watch', 'print the current state once instead of waiting')
    .action(async (args: string[], opts: { namespace?: string; timeout?: string; watch: boolean }) => {
      const timeoutMs = parseTimeoutMs(opts.timeout);
      const t = await target(ctx, args, opts.namespace, ['Deployment', 'DaemonSet', 'StatefulSet']);
      if (t.kind === 'DaemonSet') {
        await waitForDaemonSet(ctx, t.client, t.path, {
          once: !opts.watch,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        });
        return;
      }
      if (t.kind === 'StatefulSet') {
        await waitForStatefulSet(ctx, t.client, t, {
          once: !opts.watch,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        });
        return;
      }
      await waitForRollouts(ctx, t.client, [{ namespace: t.namespace, name: t.name }], {
        style: 'kubectl',
        once: !opts.watch,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
    });

  rollout
    .command('history')
    .description("list a Deployment's revisions, or show one with --revision")
    .argument('<target...>', 'deployment/NAME')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--revision <n>', 'show the pod template of this revision')
    .action(async (args: string[], opts: { namespace?: string; revision?: string }) => {
      const t = await target(ctx, args, opts.namespace);
      const d = await t.client.request<Deployment>('GET', t.path);
      const sets = await revisions(t.client, d);
      if (opts.revision !== undefined) {
        const wanted = revisionNumber(opts.revision);
        const rs = sets.find((s) => revisionOf(s) === wanted);
        if (!rs)
          throw new CliError(
            `deployment "${t.name}" has no revision ${wanted} (revisions: ${sets.map(revisionOf).join(', ') || 'none'})`,
          );
        out(ctx, `deployment.apps/${t.name} with revision #${wanted}`);
        ctx.io.stdout.write(toYaml({ template: rs.spec.template }));
        return;
      }
      out(ctx, `deployment.apps/${t.name}`);
      const rows = sets.map((rs) => [
        String(revisionOf(rs)),
        rs.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION] ?? '<none>',
      ]);
      ctx.io.stdout.write(renderTable(['REVISION', 'CHANGE-CAUSE'], rows));
    });

  rollout
    .command('undo')
    .description('roll a Deployment back to the previous revision, or to --to-revision')
    .argument('<target...>', 'deployment/NAME')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--to-revision <n>', 'the revision to go back to (default: the previous one)')
    .option('--dry-run', 'say what would happen, change nothing')
    .action(async (args: string[], opts: { namespace?: string; toRevision?: string; dryRun?: boolean }) => {
      const revision = opts.toRevision === undefined ? 0 : revisionNumber(opts.toRevision);
      const t = await target(ctx, args, opts.namespace);
      const status = await t.client.request<{ reason?: string; message?: string }>('POST', `${t.path}/rollback`, {
        body: { apiVersion: 'apps/v1', kind: 'DeploymentRollback', name: t.name, rollbackTo: { revision } },
        query: { dryRun: opts.dryRun ? 'All' : undefined },
      });
      const suffix = opts.dryRun ? ' (dry run)' : '';
      out(
        ctx,
        status.reason === 'Unchanged'
          ? `deployment.apps/${t.name} ${status.message}`
          : `deployment.apps/${t.name} rolled back${suffix}`,
      );
    });

  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    rollout
      .command(verb)
      .description(paused ? 'stop rolling out template changes until resumed' : 'roll out template changes again')
      .argument('<target...>', 'deployment/NAME')
      .option('-n, --namespace <ns>', 'namespace')
      .action(async (args: string[], opts: { namespace?: string }) => {
        const t = await target(ctx, args, opts.namespace);
        const d = await t.client.request<Deployment>('GET', t.path);
        if ((d.spec.paused ?? false) === paused) {
          throw new CliError(`deployments.apps "${t.name}" is ${paused ? 'already paused' : 'not paused'}`);
        }
        await t.client.request('PATCH', t.path, { body: { spec: { paused } }, contentType: MERGE_PATCH });
        out(ctx, `deployment.apps/${t.name} ${paused ? 'paused' : 'resumed'}`);
      });
  }

  rollout
    .command('restart')
    .description('replace every pod of a Deployment, following its strategy')
    .argument('<target...>', 'deployment/NAME')
    .option('-n, --namespace <ns>', 'namespace')
    .action(async (args: string[], opts: { namespace?: string }) => {
      const t = await target(ctx, args, opts.namespace);
      const stamp = { [RESTARTED_AT_ANNOTATION]: isoTime(Date.now()) };
      await t.client.request('PATCH', t.path, {
        body: { spec: { template: { metadata: { annotations: stamp } } } },
        contentType: MERGE_PATCH,
      });
      out(ctx, `deployment.apps/${t.name} restarted`);
    });
}

async function revisions(client: ApiClient, d: Deployment): Promise<ReplicaSet[]> {
  const list = await client.request<{ items: ReplicaSet[] }>(
    'GET',
    collectionPath(resolveKind('ReplicaSet'), d.metadata.namespace ?? DEFAULT_NAMESPACE),
  );
  return list.items
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === d.metadata.uid))
    .sort((a, b) => revisionOf(a) - revisionOf(b));
}

function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0);
}

function revisionNumber(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`a revision is a whole number >= 1 (got "${text}")`);
  return Number(text);
}
