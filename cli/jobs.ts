/**
 * Following Jobs until they finish, for `ferry apply --wait`: a Job is done when Complete, and
 * fails the command when Failed (BackoffLimitExceeded, DeadlineExceeded), naming the newest failed
 * pod so the next command is obvious (`ferry logs POD`).
 */
import type { Job, Pod } from '../schemas';
import type { ApiClient } from './client';
import { type CliContext, out, pause } from './context';
import { formatDuration } from './duration';
import { CliError } from './errors';
import { collectionPath, objectPath, resolveKind } from './resources';

export interface JobRef {
  namespace: string;
  name: string;
}

function progressLine(j: Job): string {
  const s = j.status ?? {};
  const want = j.spec.completions ?? 1;
  return `job.batch/${j.metadata.name}: ${s.succeeded ?? 0}/${want} succeeded, ${s.active ?? 0} active, ${s.failed ?? 0} failed`;
}

export async function waitForJobs(
  ctx: CliContext,
  client: ApiClient,
  refs: JobRef[],
  options: { deadline: number; timeoutMs?: number; pollMs?: number },
): Promise<void> {
  const pending = new Map(refs.map((r) => [`${r.namespace}/${r.name}`, r]));
  const lastLine = new Map<string, string>();
  while (pending.size > 0) {
    for (const [key, ref] of pending) {
      const j = await client.request<Job>('GET', objectPath(resolveKind('Job'), ref.namespace, ref.name));
      const conditions = j.status?.conditions ?? [];
      const complete = conditions.find((c) => c.type === 'Complete' && c.status === 'True');
      const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
      const line = progressLine(j);
      if (complete) {
        pending.delete(key);
        out(ctx, `job.batch/${ref.name} complete: ${line.split(': ')[1]}`);
        continue;
      }
      if (lastLine.get(key) !== line) out(ctx, line);
      lastLine.set(key, line);
      if (failed) {
        throw new CliError(
          `job "${ref.name}" failed: ${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`.trim(),
          1,
          await failedPodHint(client, ref),
        );
      }
      if (Date.now() >= options.deadline) {
        throw new CliError(
          `timed out after ${formatDuration(options.timeoutMs ?? 0)} waiting for job "${ref.name}": ${line.split(': ')[1]}`,
          1,
          await failedPodHint(client, ref),
        );
      }
    }
    if (pending.size > 0) await pause(ctx, options.pollMs ?? 1000);
  }
}

async function failedPodHint(client: ApiClient, ref: JobRef): Promise<string[]> {
  const list = await client.request<{ items: Pod[] }>('GET', collectionPath(resolveKind('Pod'), ref.namespace), {
    query: { labelSelector: `job-name=${ref.name}` },
  });
  const failed = list.items
    .filter(
      (p) => p.status?.phase === 'Failed' || (p.status?.containerStatuses ?? []).some((c) => (c.restartCount ?? 0) > 0),
    )
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))[0];
  if (!failed) return [];
  const exit = failed.status?.containerStatuses?.[0];
  const code = exit?.state?.terminated?.exitCode ?? exit?.lastState?.terminated?.exitCode;
  return [
    `  pod ${failed.metadata.name}${code !== undefined ? `: exit code ${code}` : ''}; its output: ferry logs ${failed.metadata.name}${failed.status?.phase === 'Failed' ? '' : ' --previous'}${ref.namespace !== 'default' ? ` -n ${ref.namespace}` : ''}`,
  ];
}
