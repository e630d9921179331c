/**
 * `ferry rollout status daemonset/NAME`: kubectl's DaemonSetStatusViewer verdict
 * (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), polled until done or `--timeout`.
 */
import type { DaemonSet } from '../schemas';
import type { ApiClient } from './client';
import { type CliContext, out, pause } from './context';
import { formatDuration } from './duration';
import { CliError } from './errors';
import type { Verdict } from './rollout';

export function daemonSetVerdict(ds: DaemonSet): Verdict {
  const name = ds.metadata.name;
  if ((ds.spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate')
    return {
      state: 'failed',
      reason: 'OnDelete',
      message: 'rollout status is only available for RollingUpdate strategy type',
    };
  const s = ds.status;
  if (!s || (s.observedGeneration ?? 0) < (ds.metadata.generation ?? 1))
    return { state: 'progressing', message: 'Waiting for daemon set spec update to be observed...' };
  const waiting = `Waiting for daemon set "${name}" rollout to finish`;
  const updated = s.updatedNumberScheduled ?? 0;
  if (updated < s.desiredNumberScheduled)
    return {
      state: 'progressing',
      message: `${waiting}: ${updated} out of ${s.desiredNumberScheduled} new pods have been updated...`,
    };
  const available = s.numberAvailable ?? 0;
  if (available < s.desiredNumberScheduled)
    return {
      state: 'progressing',
      message: `${waiting}: ${available} of ${s.desiredNumberScheduled} updated pods are available...`,
    };
  return { state: 'done', message: `daemon set "${name}" successfully rolled out` };
}

export async function waitForDaemonSet(
  ctx: CliContext,
  client: ApiClient,
  path: string,
  options: { timeoutMs?: number; once?: boolean },
): Promise<void> {
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const verdict = daemonSetVerdict(await client.request<DaemonSet>('GET', path));
    if (verdict.state === 'failed') throw new CliError(verdict.message);
    if (verdict.message !== last) out(ctx, verdict.message);
    last = verdict.message;
    if (verdict.state === 'done' || options.once) return;
    if (Date.now() >= deadline)
      throw new CliError(`timed out after ${formatDuration(options.timeoutMs ?? 0)}: ${verdict.message}`);
    await pause(ctx, 1000);
  }
}
