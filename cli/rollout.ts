/**
 * Following Deployments until they are rolled out: what `ferry rollout status` and
 * `ferry apply --wait` share. The verdict per Deployment is kubectl's (rollout status): the
 * controller has observed the generation, every replica is updated, no old replica is left, and
 * every updated replica is available; the Progressing condition's ProgressDeadlineExceeded fails
 * it. On failure or timeout the reasons come from the Deployment's pods: a FailedScheduling
 * message, an image that cannot be pulled, a crash loop -- what a CI log needs to show.
 */
import type { Deployment, Pod } from '../schemas';
import type { ApiClient } from './client';
import { type CliContext, out, pause } from './context';
import { formatDuration } from './duration';
import { CliError } from './errors';
import { collectionPath, objectPath, resolveKind } from './resources';

export interface DeploymentRef {
  namespace: string;
  name: string;
  /** Wait for the controller to observe at least this generation (the one apply wrote). */
  generation?: number;
}

export type Verdict =
  | { state: 'progressing'; message: string }
  | { state: 'done'; message: string }
  | { state: 'failed'; reason: string; message: string };

/** kubectl's DeploymentStatusViewer, plus a paused Deployment failing at once (it would never finish). */
export function rolloutVerdict(d: Deployment, generation = d.metadata.generation ?? 0): Verdict {
  const name = d.metadata.name;
  const status = d.status ?? {};
  const want = d.spec.replicas ?? 1;
  if ((status.observedGeneration ?? 0) < Math.max(generation, d.metadata.generation ?? 0)) {
    return { state: 'progressing', message: `Waiting for deployment "${name}" spec update to be observed...` };
  }
  if (d.spec.paused) {
    return {
      state: 'failed',
      reason: 'Paused',
      message: `deployment "${name}" is paused; resume it with \`ferry rollout resume deployment/${name}\``,
    };
  }
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return {
      state: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message: `deployment "${name}" exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ''}`,
    };
  }
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const waiting = `Waiting for deployment "${name}" rollout to finish`;
  if (updated < want) {
    return { state: 'progressing', message: `${waiting}: ${updated} out of ${want} new replicas have been updated...` };
  }
  if (total > updated) {
    return { state: 'progressing', message: `${waiting}: ${total - updated} old replicas are pending termination...` };
  }
  if (available < updated) {
    return {
      state: 'progressing',
      message: `${waiting}: ${available} of ${updated} updated replicas are available...`,
    };
  }
  return { state: 'done', message: `deployment "${name}" successfully rolled out` };
}

/** One line of live progress: `deployment.apps/web: 2/3 updated, 1/3 ready, 1/3 available`. */
export function progressLine(d: Deployment): string {
  const want = d.spec.replicas ?? 1;
  const s = d.status ?? {};
  return `deployment.apps/${d.metadata.name}: ${s.updatedReplicas ?? 0}/${want} updated, ${s.readyReplicas ?? 0}/${want} ready, ${s.availableReplicas ?? 0}/${want} available`;
}

/**
 * Why the pods of a Deployment are not available, one line each (at most `limit`), newest first:
 * FailedScheduling messages, waiting reasons such as ErrImagePull or CrashLoopBackOff.
 */
export async function podProblems(client: ApiClient, d: Deployment, limit = 5): Promise<string[]> {
  const selector = Object.entries(d.spec.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const list = await client.request<{ items: Pod[] }>('GET', collectionPath(resolveKind('Pod'), d.metadata.namespace), {
    query: { labelSelector: selector || undefined },
  });
  const seen = new Set<string>();
  const lines: string[] = [];
  const pods = [...list.items].sort((a, b) =>
    (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
  );
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    for (const problem of problemsOf(pod)) {
      if (seen.has(problem)) continue;
      seen.add(problem);
      lines.push(`pod ${pod.metadata.name}: ${problem}`);
    }
  }
  return lines.length > limit ? [...lines.slice(0, limit), `... and ${lines.length - limit} more`] : lines;
}

function problemsOf(pod: Pod): string[] {
  const out: string[] = [];
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False')
    out.push(`${scheduled.reason ?? 'Unschedulable'}: ${scheduled.message ?? ''}`.trim());
  for (const c of pod.status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && waiting.reason !== 'ContainerCreating' && waiting.reason !== 'PodInitializing') {
      out.push(`container ${c.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
    }
  }
  return out;
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  /** Print `progressLine` whenever it changes (apply --wait) or kubectl's waiting messages (rollout status). */
  style: 'progress' | 'kubectl';
  /** Report the current state once and return (`rollout status --no-watch`). */
  once?: boolean;
}

/**
 * Polls until every Deployment is rolled out; throws a CliError naming the first one that
 * failed or was still not done at the timeout, with its pods' problems as detail lines.
 */
export async function waitForRollouts(
  ctx: CliContext,
  client: ApiClient,
  refs: DeploymentRef[],
  options: WaitOptions,
): Promise<void> {
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 1000;
  const lastLine = new Map<string, string>();
  const pending = new Map(refs.map((r) => [`${r.namespace}/${r.name}`, r]));
  while (pending.size > 0) {
    for (const [key, ref] of pending) {
      const d = await client.request<Deployment>('GET', objectPath(resolveKind('Deployment'), ref.namespace, ref.name));
      const verdict = rolloutVerdict(d, ref.generation);
      const line = options.style === 'progress' ? progressLine(d) : verdict.message;
      if (verdict.state !== 'done' && lastLine.get(key) !== line) out(ctx, line);
      lastLine.set(key, line);
      if (verdict.state === 'failed') {
        throw new CliError(`${verdict.message} (${verdict.reason})`, 1, await indented(podProblems(client, d)));
      }
      if (verdict.state === 'done') {
        pending.delete(key);
        out(
          ctx,
          options.style === 'progress'
            ? `deployment.apps/${ref.name} rolled out: ${progressLine(d).split(': ')[1]}`
            : verdict.message,
        );
      } else if (Date.now() >= deadline) {
        throw new CliError(
          `timed out after ${formatDuration(options.timeoutMs ?? 0)} waiting for deployment "${ref.name}": ${progressLine(d).split(': ')[1]}`,
          1,
          await indented(podProblems(client, d)),
        );
      }
    }
    if (options.once) return;
    if (pending.size > 0) await pause(ctx, pollMs);
  }
}

async function indented(lines: Promise<string[]>): Promise<string[]> {
  return (await lines).map((l) => `  ${l}`);
}
