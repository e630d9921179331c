/**
 * A container's termination message, as the kubelet gives it: a node file bind-mounted
 * read-write at `terminationMessagePath` (default /dev/termination-log; mode 0666 so any user the
 * container runs as may write it), emptied before each start, read when the instance exits (at
 * most 4 KiB) into `state.terminated.message`. With `terminationMessagePolicy:
 * FallbackToLogsOnError` an empty file of a failed container (exit code not 0) gives the tail of
 * its output instead: the last 80 lines, at most 2,048 bytes (the kubelet's
 * MaxContainerTerminationMessageLogLines and ...LogLength).
 */
import { chmodSync, closeSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tailOf } from '../runtime/log-tail';
import type { Mount } from '../runtime/types';
import { allContainers } from './pod-spec';
import type { AnyContainer, ContainerRecord, PodRecord } from './record';

const DEFAULT_PATH = '/dev/termination-log';
const MAX_FILE_BYTES = 4096;
const FALLBACK_LINES = 80;
const FALLBACK_BYTES = 2048;

/** The node file of one container's message under the pod's state dir. */
export function messageFile(podDir: string, container: string): string {
  return join(podDir, 'termination', container);
}

/**
 * Empties (or creates) the container's message file and returns its mount, or undefined when a
 * volume mount of the container takes the path (the container's own mount wins).
 */
export function terminationMount(podDir: string, spec: AnyContainer): Mount | undefined {
  const path = spec.terminationMessagePath || DEFAULT_PATH;
  if ((spec.volumeMounts ?? []).some((m) => m.mountPath.replace(/\/+$/, '') === path.replace(/\/+$/, ''))) return;
  const file = messageFile(podDir, spec.name);
  mkdirSync(join(podDir, 'termination'), { recursive: true, mode: 0o755 });
  writeFileSync(file, '');
  chmodSync(file, 0o666); // not subject to the umask: a non-root container writes it
  return { kind: 'bind', hostPath: file, mountPath: path, readOnly: false };
}

/**
 * The message of an exited instance: the file's first 4 KiB; if it is empty, the instance failed
 * and the policy says so, the tail of `log` (its output, read only then).
 */
export async function terminationMessage(
  podDir: string,
  spec: AnyContainer,
  exitCode: number,
  log: () => Promise<string>,
): Promise<string | undefined> {
  const text = readHead(messageFile(podDir, spec.name));
  if (text) return text;
  if (spec.terminationMessagePolicy !== 'FallbackToLogsOnError' || exitCode === 0) return undefined;
  const tail = tailOf(await log().catch(() => ''), { tailLines: FALLBACK_LINES, limitBytes: FALLBACK_BYTES });
  return tail || undefined;
}

function readHead(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const buf = Buffer.alloc(MAX_FILE_BYTES);
    const n = readSync(fd, buf, 0, MAX_FILE_BYTES, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The pod's state dir on the node (its volumes, token and message files live under it). */
export function podDir(stateDir: string, uid: string): string {
  return join(stateDir, 'pods', uid);
}

/** The message of `c`'s exited instance, as state.terminated's field (absent when none). */
export async function exitedMessage(
  stateDir: string,
  rec: PodRecord,
  c: ContainerRecord,
  exitCode: number,
): Promise<{ message?: string }> {
  const spec = rec.pod ? allContainers(rec.pod).find((s) => s.name === c.name) : undefined;
  if (!spec) return {};
  // keepExitedLog has kept the instance's output tail by now.
  const dir = podDir(stateDir, rec.identity.uid);
  const message = await terminationMessage(dir, spec, exitCode, async () => c.exitedLogs?.[0] ?? '');
  return message ? { message } : {};
}
