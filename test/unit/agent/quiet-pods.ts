/** A pod manager with nothing to run or report and a healthy runtime: for tests of the agent's loop alone. */
import type { PodSink } from '../../../agent/agent';

export const quietPods: PodSink = {
  setDesired() {},
  async logs() {
    return { error: 'none' };
  },
  changedStatuses: () => [],
  terminated: () => [],
  markReported() {},
  markAllUnreported() {},
  async runtimeHealthy() {
    return { ok: true, message: 'ok', version: 'test' };
  },
  onStatusChange() {},
} as unknown as PodSink;
