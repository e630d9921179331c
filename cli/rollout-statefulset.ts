/**
 * `ferry rollout status statefulset/NAME`: kubectl's StatefulSetStatusViewer verdict and messages
 * (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), polled until done or `--timeout`.
 */
import type { StatefulSet } from '../schemas';
import type { ApiClient } from './client';
import { type CliContext, out, pause } from './context';
import { formatDuration } from './duration';
import { CliError } from './errors';
import { objectPath, resolveKind } from './resources';
import type { Verdict, WaitOptions } from './rollout';

export function statefulSetVerdict(s: StatefulSet): Verdict {
  const status = s.status ?? {};
  if ((s.spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate')
    return {
      state: 'failed',
      reason: 'OnDelete',
      message: 'rollout status is only available for RollingUpdate strategy type',
    };
  if ((status.observedGeneration ?? 0) === 0 || (s.metadata.generation ?? 0) > (status.observedGeneration ?? 0))
    return { state: 'progressing', message: 'Waiting for statefulset spec update to be observed...' };
  const replicas = s.spec.replicas ?? 1;
  const ready = status.readyReplicas ?? 0;
  if (ready < replicas) return { state: 'progressing', message: `Waiting for ${replicas - ready} pods to be ready...` };
  const partition = s.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  const updated = status.updatedReplicas ?? 0;
  if (partition > 0) {
    if (updated < replicas - partition)
      return {
        state: 'progressing',
        message: `Waiting for partitioned roll out to finish: ${updated} out of ${replicas - partition} new pods have been updated...`,
      };
    return { state: 'done', message: `partitioned roll out complete: ${updated} new pods have been updated...` };
  }
  if (status.updateRevision !== status.currentRevision)
    return {
      state: 'progressing',
      message: `waiting for statefulset rolling update to complete ${updated} pods at revision ${status.updateRevision}...`,
    };
  return {
    state: 'done',
    message: `statefulset rolling update complete ${status.currentReplicas ?? 0} pods at revision ${status.currentRevision}...`,
  };
}

export async function waitForStatefulSet(
  ctx: CliContext,
  client: ApiClient,
  ref: { namespace: string; name: string },
  options: Pick<WaitOptions, 'timeoutMs' | 'pollMs' | 'once'>,
): Promise<void> {
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const s = await client.request<StatefulSet>('GET', objectPath(resolveKind('StatefulSet'), ref.namespace, ref.name));
    const verdict = statefulSetVerdict(s);
    if (verdict.state === 'failed') throw new CliError(verdict.message, 1);
    if (verdict.message !== last || verdict.state === 'done') out(ctx, verdict.message);
    last = verdict.message;
    if (verdict.state === 'done' || options.once) return;
    if (Date.now() >= deadline)
      throw new CliError(
        `timed out after ${formatDuration(options.timeoutMs ?? 0)} waiting for statefulset "${ref.name}": ${verdict.message}`,
        1,
      );
    await pause(ctx, options.pollMs ?? 1000);
  }
}
