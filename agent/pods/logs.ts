/**
 * Container output for `GET .../pods/{name}/log`: the running instance's from the runtime, else
 * the last exited one's, kept here because exited containers are removed; `previous` is the
 * instance before, as the kubelet keeps it (two instances per container, bounded).
 */
import type { LogRequestRef } from '../../schemas/agent-protocol';
import { tailOf } from '../runtime/log-tail';
import type { ContainerRuntime } from '../runtime/types';
import type { ContainerRecord } from './record';

const EXITED_LOG_BYTES = 64 * 1024;
const EXITED_LOG_LINES = 10_000;

export async function answerLogs(
  runtime: ContainerRuntime,
  c: ContainerRecord | undefined,
  req: LogRequestRef,
): Promise<{ content: string } | { error: string }> {
  const who = `container "${req.container}" in pod "${req.pod.name}"`;
  if (!c) return { error: `${who} is waiting to start` };
  const options = { tailLines: req.tailLines, limitBytes: req.limitBytes };
  const running = c.id !== undefined;
  if (req.previous) {
    const text = c.exitedLogs?.[running ? 0 : 1];
    return text === undefined ? { error: `previous terminated ${who} not found` } : { content: tailOf(text, options) };
  }
  if (c.id) {
    try {
      return { content: await runtime.logTail(c.id, options) };
    } catch (err) {
      return { error: `reading the output of ${who}: ${(err as Error).message}` };
    }
  }
  const last = c.exitedLogs?.[0];
  if (last !== undefined) return { content: tailOf(last, options) };
  const reason = 'waiting' in c.state ? c.state.waiting.reason : 'ContainerCreating';
  return { error: `${who} is waiting to start: ${reason}` };
}

/** Keeps the tail of an exiting container's output before the container is removed. */
export async function keepExitedLog(runtime: ContainerRuntime, c: ContainerRecord): Promise<void> {
  if (!c.id) return;
  try {
    const text = await runtime.logTail(c.id, { tailLines: EXITED_LOG_LINES, limitBytes: EXITED_LOG_BYTES });
    c.exitedLogs = [text, ...(c.exitedLogs ?? [])].slice(0, 2);
  } catch {
    // Gone already (removed by hand): nothing to keep.
  }
}
